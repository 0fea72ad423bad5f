"""vLLM's OpenAI-compatible server as a subprocess: start, wait until ready, stop by PID (for the
``openai`` backend's tests and benchmark, and for scoring against a local server).

The module entry point is used (``python -m vllm.entrypoints.openai.api_server``): the ``vllm
serve`` command of the CPU build looks up the distribution name ``vllm`` and fails. The server's
answers carry log-probabilities, or raw logits with ``logprobs_mode="raw_logits"``
(``--logprobs-mode``); nothing in a response says which (``system_fingerprint`` is the same), so
the client must be told (``--logprobs-are``, ``scoring.openai``). Standard library only.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path


class ServerStartError(RuntimeError):
    """The server exited or did not become ready in time (with the end of its log)."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def server_command(folder: str | Path, *, name: str, port: int, host: str = "127.0.0.1",
                   logprobs_mode: str | None = None, max_model_len: int = 1024,
                   dtype: str = "float32", python: str = sys.executable,
                   extra: Sequence[str] = ()) -> list[str]:
    """The command line that serves ``folder`` as model ``name`` on ``host:port``."""
    cmd = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(folder),
           "--dtype", dtype, "--max-model-len", str(max_model_len), "--enforce-eager",
           "--host", host, "--port", str(port), "--served-model-name", name]
    if logprobs_mode:
        cmd += ["--logprobs-mode", logprobs_mode]
    return cmd + list(extra)


class VllmServer:
    """One server process (and its engine process) serving ``folder`` as ``name``.

    ``start()`` launches it in a session of its own (its output to ``log_path``), polls
    ``GET /v1/models`` until it lists ``name`` and returns the seconds that took; ``stop()`` sends
    SIGTERM to the server's PID and waits (SIGKILL to its process group after ``timeout``);
    ``kill()`` is an abrupt SIGKILL of the group. Usable as a context manager.
    """

    def __init__(self, folder: str | Path, *, name: str = "model", port: int | None = None,
                 host: str = "127.0.0.1", logprobs_mode: str | None = None,
                 max_model_len: int = 1024, kv_cache_gib: int = 1, log_path: str | Path | None = None,
                 python: str = sys.executable, extra: Sequence[str] = ()):
        self.name, self.host = name, host
        self.port = port or free_port(host)
        self.logprobs_mode = logprobs_mode
        self.command = server_command(folder, name=name, port=self.port, host=host,
                                      logprobs_mode=logprobs_mode, max_model_len=max_model_len,
                                      python=python, extra=extra)
        self.env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE",
                                                                           str(kv_cache_gib))}
        self.log_path = Path(log_path) if log_path else None
        self.process: subprocess.Popen | None = None
        self.ready_seconds: float | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self, timeout: float = 900.0) -> float:
        if self.process is not None:
            raise RuntimeError("server already started")
        log = open(self.log_path, "w") if self.log_path else subprocess.DEVNULL
        t0 = time.monotonic()
        self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=self.env, start_new_session=True)
        if log is not subprocess.DEVNULL:
            log.close()
        while True:
            if self.process.poll() is not None:
                raise ServerStartError(f"server exited with code {self.process.returncode} before "
                                       f"becoming ready\n{self.log_tail()}")
            if self._lists_model():
                self.ready_seconds = time.monotonic() - t0
                return self.ready_seconds
            if time.monotonic() - t0 > timeout:
                self.stop()
                raise ServerStartError(f"server not ready after {timeout:.0f} s\n{self.log_tail()}")
            time.sleep(0.5)

    def _lists_model(self) -> bool:
        try:
            with urllib.request.urlopen(self.base_url + "/models", timeout=5) as resp:
                ids = [m.get("id") for m in json.loads(resp.read()).get("data", [])]
        except (urllib.error.URLError, OSError, ValueError):
            return False
        return self.name in ids

    def log_tail(self, n: int = 40) -> str:
        if not self.log_path or not self.log_path.is_file():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def stop(self, timeout: float = 30.0) -> float:
        """SIGTERM to the server's PID, wait up to ``timeout`` s, else SIGKILL its process group.
        Returns the seconds the server took to exit (0 if it was not running)."""
        if self.process is None or self.process.poll() is not None:
            self._reap_group()
            return 0.0
        t0 = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        took = time.monotonic() - t0
        self._reap_group()
        return took

    def kill(self) -> None:
        """SIGKILL to the server's process group (the server and the engine process it started)."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()

    def _reap_group(self) -> None:
        """Kill what is left of the server's process group (an engine process orphaned by a crash)."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def group_rss_bytes(self) -> int:
        """Resident memory of every live process in the server's process group, summed."""
        if self.process is None:
            return 0
        total = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                fields = stat[stat.rindex(")") + 2:].split()
                if int(fields[2]) != self.process.pid:  # process group id
                    continue
                total += int(fields[21]) * os.sysconf("SC_PAGE_SIZE")  # rss in pages
            except (OSError, ValueError, IndexError):
                continue
        return total

    def __enter__(self) -> VllmServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

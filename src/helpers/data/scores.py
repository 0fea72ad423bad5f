"""The cache of our own scored answers: per-answer parquet under ``data/scores/`` (DESIGN "Caches").

One folder per *key* = model (id + revision or file hash), dataset, phrasing, shots and a hash of the
prompt templates and scoring settings. The folder has a readable name
(``SmolLM2-135M-Instruct__arc__first__0shot__<hash>``), a ``manifest.json`` holding the full key, and
one parquet file per chunk of answers. Chunks are written to a temporary file and moved into place
with ``os.replace`` (atomic), so a run killed at any moment leaves only whole chunks; a run on the same
key resumes by scoring the question positions no chunk holds yet. A lock file (``fcntl.flock``) is held
while a key is being scored, so two processes on one key take turns instead of writing twice; the OS
releases it when a process dies, even on ``kill -9``. A changed key is a different folder: stale
answers are never reused.

Which answers the chapters see (:func:`load_scored`): only keys made with the *current method* (prompt
templates, max new tokens, option-shuffle block and scoring version equal to this code's, see
:func:`is_current`), and per cell (model, dataset, phrasing, shots) exactly one key, never a mix: the
current key holding the most answers, ties going to the first folder name. File times play no part
(on a fresh clone they are checkout times). Run choices of the same model that legitimately differ
(dtype, 4-bit) are distinct current keys; the fuller one is shown. Two different models (id and
revision) under one name are refused, never picked between (:func:`check_unambiguous`). Nothing is
written through a symbolic link (:func:`refuse_links`).

This module imports no torch: ``load_scored`` serves the chapters.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from helpers.data import schema
from helpers.data.locations import scores_dir as scores_dir_of
from helpers.data.method import is_current
from helpers.data.vocabulary import DATASETS, PHRASINGS

MANIFEST = "manifest.json"
LOCK = ".lock"
_PART = re.compile(r"^part-(\d{6})\.parquet$")


def short_hash(obj: object, n: int = 10) -> str:
    """First ``n`` hex digits of SHA-256 over the canonical JSON of ``obj``."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:n]


@dataclass(frozen=True)
class ScoreKey:
    """Everything an answer depends on. ``name`` is the readable model key of the tidy table;
    ``revision`` the Hub revision, or a hash of the model file(s); ``settings`` the prompt-template
    hash and the scoring settings (max new tokens, dtype, quantisation, option-shuffle block, ...)."""

    name: str
    model_id: str
    revision: str
    dataset: str
    phrasing: str
    shots: int
    settings: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; valid: {', '.join(DATASETS)}")
        if self.phrasing not in PHRASINGS:
            raise ValueError(f"unknown phrasing {self.phrasing!r}; valid: {', '.join(PHRASINGS)}")

    def manifest(self) -> dict:
        return asdict(self)

    def dirname(self) -> str:
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", self.name)
        return f"{safe}__{self.dataset}__{self.phrasing}__{self.shots}shot__{short_hash(self.manifest())}"


class ScoreStore:
    """The folder of one key: its chunks, its manifest and its lock."""

    def __init__(self, key: ScoreKey, scores_dir: str | Path | None = None):
        self.key = key
        self.path = scores_dir_of(scores_dir) / key.dirname()

    @contextlib.contextmanager
    def locked(self) -> Iterator[ScoreStore]:
        """Hold the key's lock (blocking until another process releases it); clear stale temp files.

        Nothing is written through a symbolic link: a key folder, lock file or part that is a link
        raises :class:`CacheLinkError` (the lock is opened with ``O_NOFOLLOW``)."""
        refuse_links(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        refuse_links(self.path)
        try:
            fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            raise CacheLinkError(f"{self.path / LOCK}: cannot open the lock file without following a "
                                 f"link ({exc.strerror}); remove it") from None
        with os.fdopen(fd, "r+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                for tmp in self.path.glob(".*.tmp"):
                    tmp.unlink()
                self._write_manifest()
                yield self
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _write_manifest(self) -> None:
        target = self.path / MANIFEST
        if not target.exists():
            _atomic_write(target, lambda p: p.write_text(json.dumps(self.key.manifest(), indent=1,
                                                                    sort_keys=True)))

    def parts(self) -> list[Path]:
        return _parts(self.path)

    def read(self) -> pd.DataFrame:
        """All cached answers of this key (one row per question position, first copy kept)."""
        return read_parts(self.parts())

    def done_positions(self) -> set[int]:
        return positions_in(self.path)

    def write_chunk(self, records: Iterable[dict]) -> Path | None:
        """Append ``records`` as the next part file, atomically. Call while holding ``locked()``."""
        frame = pd.DataFrame(list(records))
        if frame.empty:
            return None
        refuse_links(self.path)
        parts = self.parts()
        number = int(_PART.match(parts[-1].name).group(1)) + 1 if parts else 0
        target = self.path / f"part-{number:06d}.parquet"
        _atomic_write(target, lambda p: frame.to_parquet(p, index=False))
        if "mode" in frame:
            self._count_modes(frame["mode"].value_counts().to_dict())
        return target

    def _count_modes(self, counts: dict[str, int]) -> None:
        """Add to the manifest's ``answers_by_mode`` how many answers each engine mode wrote (modes
        share a key: they give the same grades and confidences, not the same text past the answer)."""
        target = self.path / MANIFEST
        manifest = json.loads(target.read_text()) if target.is_file() else self.key.manifest()
        written = manifest.setdefault("answers_by_mode", {})
        for mode, n in counts.items():
            written[str(mode)] = written.get(str(mode), 0) + int(n)
        _atomic_write(target, lambda p: p.write_text(json.dumps(manifest, indent=1, sort_keys=True)))


class CacheLinkError(OSError):
    """A symbolic link where the score cache writes; the message names it."""


def refuse_links(folder: Path) -> None:
    """Raise :class:`CacheLinkError` if the key folder, or anything in it, is a symbolic link."""
    if folder.is_symlink():
        raise CacheLinkError(f"{folder}: the key folder is a symbolic link; the cache never writes through "
                             "links (remove it)")
    if folder.is_dir():
        links = sorted(p.name for p in folder.iterdir() if p.is_symlink())
        if links:
            raise CacheLinkError(f"{folder}: holds symbolic links {links}; the cache never writes through "
                                 "links (remove them)")


def _parts(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("part-*.parquet") if _PART.match(p.name))


def positions_in(folder: Path) -> set[int]:
    """Question positions answered in a key folder."""
    parts = _parts(folder)
    if not parts:
        return set()
    return set(pd.concat([pd.read_parquet(p, columns=["qid"]) for p in parts]).qid.tolist())


def _atomic_write(target: Path, write) -> None:
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    write(tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, target)


def read_parts(parts: Iterable[Path]) -> pd.DataFrame:
    parts = list(parts)
    if not parts:
        return pd.DataFrame()
    frame = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    return frame.drop_duplicates("qid", keep="first").sort_values("qid", ignore_index=True)


def cached_keys(scores_dir: str | Path | None = None) -> list[tuple[Path, dict]]:
    """(folder, manifest) of every key folder under the scores folder, in name order."""
    root = scores_dir_of(scores_dir)
    if not root.is_dir():
        return []
    found = []
    for manifest in sorted(root.glob(f"*/{MANIFEST}")):
        try:
            found.append((manifest.parent, json.loads(manifest.read_text())))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{manifest}: malformed manifest ({exc})") from exc
    return found


class AmbiguousNameError(ValueError):
    """Two different models cached under one name; the message says which folders and how to fix it."""


def ambiguous_names(keys: list[tuple[Path, dict]]) -> dict[str, list[Path]]:
    """Names under which the current keys of more than one model (id and revision) are cached, with
    their folders: a chapter could not tell which model such a name means."""
    models: dict[str, dict[tuple, list[Path]]] = {}
    for path, m in keys:
        if is_current(m.get("settings", {})):
            models.setdefault(m["name"], {}).setdefault((m["model_id"], m["revision"]), []).append(path)
    return {name: sorted(p for paths in by_model.values() for p in paths)
            for name, by_model in models.items() if len(by_model) > 1}


def check_unambiguous(keys: list[tuple[Path, dict]]) -> None:
    """Raise :class:`AmbiguousNameError` if a name is shared by several models (:func:`ambiguous_names`)."""
    clashes = ambiguous_names(keys)
    if clashes:
        lines = [f"{name}: {', '.join(p.name for p in paths)}" for name, paths in sorted(clashes.items())]
        raise AmbiguousNameError("several models are cached under one name; score one of them under "
                                 "another name (--name) or remove its folders:\n  " + "\n  ".join(lines))


def _current(keys: list[tuple[Path, dict]]) -> list[tuple[Path, dict]]:
    """Per cell (model, dataset, phrasing, shots), the one key shown (module docstring): current
    method, most answers, ties to the first folder name; keys without answers are skipped. Several
    models under one name are refused (:func:`check_unambiguous`)."""
    check_unambiguous(keys)
    best: dict[tuple, tuple[int, Path, dict]] = {}
    for path, m in keys:
        if not is_current(m.get("settings", {})):
            continue
        n = len(positions_in(path))
        cell = (m["name"], m["dataset"], m["phrasing"], m["shots"])
        if n and (cell not in best or n > best[cell][0]):
            best[cell] = (n, path, m)
    return [(path, m) for _, path, m in sorted(best.values(), key=lambda v: str(v[1]))]


def load_scored(scores_dir: str | Path | None = None) -> pd.DataFrame:
    """Every cached scored answer as the tidy table (``data.schema``): ``source='scored'``,
    ``model`` = the readable key (e.g. ``SmolLM2-135M-Instruct``), ``qid`` = position in the paper's
    question order; extra columns (response, parsed letter, option-letter probabilities, model id and
    revision, ...) kept. One key per cell, made with the current method (module docstring)."""
    frames = []
    for path, m in shown_keys(scores_dir):
        frame = read_parts(_parts(path))
        frames.append(frame.assign(source="scored", model=m["name"], dataset=m["dataset"],
                                   phrasing=m["phrasing"], shots=m["shots"]))
    if not frames:
        return schema.conform(pd.DataFrame({c: pd.Series(dtype=object) for c in schema.COLUMNS}))
    return schema.conform(pd.concat(frames, ignore_index=True))


def shown_keys(scores_dir: str | Path | None = None) -> list[tuple[Path, dict]]:
    """(folder, manifest) of the keys :func:`load_scored` shows: one per cell (module docstring)."""
    return _current(cached_keys(scores_dir))

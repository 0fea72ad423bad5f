"""An on-disk cache of analysis results: named DataFrames stored under a key (a hex hash of the
inputs and settings, computed by the analysis code, e.g. ``analysis.bootstrap.bootstrap_key``).

One file per key, ``<folder>/<key>.zip``: a zip archive holding one parquet file per DataFrame and a
``manifest.json`` (key and frame names). Writes go to a temporary file in the same folder, then
``os.replace`` moves it into place (atomic: a reader sees the old file, the new one or none, never a
half-written one; a killed writer leaves only a stray temporary file, which is ignored). Nothing here
follows a symbolic link: a cache folder or entry that is a link is refused, files are opened with
``O_NOFOLLOW``, and the temporary file is created with ``O_EXCL``. Entries are plain data (parquet
and JSON), never pickles, so reading an entry cannot run code.
"""

from __future__ import annotations

import io
import json
import os
import re
import stat
import uuid
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd

MANIFEST = "manifest.json"
SUFFIX = ".zip"
_KEY = re.compile(r"^[0-9a-f]{16,128}$")
_NAME = re.compile(r"^[A-Za-z0-9_]+$")


def _checked_key(key: str) -> str:
    if not isinstance(key, str) or not _KEY.match(key):
        raise ValueError(f"cache key must be 16-128 lowercase hex digits, got {key!r}")
    return key


def _folder(folder: str | os.PathLike, create: bool) -> Path:
    """The cache folder, refused if it (the last component) is a symbolic link or not a folder."""
    path = Path(folder)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        if not create:
            return path
        path.mkdir(parents=True, exist_ok=True)
        info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise ValueError(f"cache folder {path} is a symbolic link; refusing to follow it")
    if not stat.S_ISDIR(info.st_mode):
        raise ValueError(f"cache folder {path} is not a folder")
    return path


def entry_path(folder: str | os.PathLike, key: str) -> Path:
    """Where the entry of ``key`` lives: ``<folder>/<key>.zip``."""
    return Path(folder) / f"{_checked_key(key)}{SUFFIX}"


def read_frames(folder: str | os.PathLike, key: str) -> dict[str, pd.DataFrame] | None:
    """The DataFrames stored under ``key``, or None when there is no entry (or the folder does not
    exist). An entry that is a symbolic link, or whose manifest names another key, is refused
    (``ValueError``); an unreadable archive is treated as missing (it is recomputed and replaced)."""
    path = entry_path(_folder(folder, create=False), key)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as error:
        if os.path.islink(path):
            raise ValueError(f"cache entry {path} is a symbolic link; refusing to follow it") from error
        raise
    with os.fdopen(fd, "rb") as handle:
        data = handle.read()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            manifest = json.loads(archive.read(MANIFEST))
            if manifest.get("key") != key:
                raise ValueError(f"cache entry {path} holds key {manifest.get('key')!r}, not {key!r}")
            return {name: pd.read_parquet(io.BytesIO(archive.read(f"{name}.parquet")))
                    for name in manifest["frames"]}
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError):
        return None


def write_frames(folder: str | os.PathLike, key: str, frames: Mapping[str, pd.DataFrame]) -> Path:
    """Store ``frames`` (name -> DataFrame; names of letters, digits and '_') under ``key``,
    atomically (temporary file + ``os.replace``); creates the folder. Returns the entry's path."""
    for name in frames:
        if not _NAME.match(name):
            raise ValueError(f"frame name {name!r} must consist of letters, digits and '_'")
    folder = _folder(folder, create=True)
    path = entry_path(folder, key)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(MANIFEST, json.dumps({"key": key, "frames": list(frames)}))
        for name, frame in frames.items():
            part = io.BytesIO()
            frame.to_parquet(part, index=False)
            archive.writestr(f"{name}.parquet", part.getvalue())
    temporary = folder / f".{path.name}.{uuid.uuid4().hex}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(buffer.getvalue())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)   # replaces a link at ``path`` itself, never its target
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def cached_frames(folder: str | os.PathLike, key: str,
                  compute: Callable[[], Mapping[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """The frames stored under ``key`` in ``folder``, or ``compute()``'s, stored there first."""
    frames = read_frames(folder, key)
    if frames is None:
        frames = dict(compute())
        write_frames(folder, key, frames)
    return frames

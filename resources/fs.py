"""Paths that are either local folders or fsspec URLs (s3://, gs://, memory://, ...)."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import fsspec


def is_url(location: str) -> bool:
    return "://" in location and not location.startswith("file://")


def local_path(location: str) -> Path:
    return Path(location[len("file://"):] if location.startswith("file://") else location)


def join(location: str, *parts: str) -> str:
    return "/".join([location.rstrip("/"), *parts]) if is_url(location) else str(local_path(location).joinpath(*parts))


def listdir(location: str) -> list[str]:
    """Names directly inside a folder (empty if it does not exist)."""
    if is_url(location):
        fs, path = fsspec.core.url_to_fs(location)
        if not fs.exists(path):
            return []
        return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(path, detail=False))
    p = local_path(location)
    return sorted(os.listdir(p)) if p.is_dir() else []


def exists(location: str) -> bool:
    if is_url(location):
        fs, path = fsspec.core.url_to_fs(location)
        return fs.exists(path)
    return local_path(location).exists()


def modified(location: str) -> float:
    """Modification time (or a size-based stand-in where the filesystem has none)."""
    if is_url(location):
        fs, path = fsspec.core.url_to_fs(location)
        info = fs.info(path)
        stamp = info.get("mtime") or info.get("LastModified") or info.get("created")
        return float(getattr(stamp, "timestamp", lambda: stamp)() or info.get("size", 0))
    return local_path(location).stat().st_mtime


@contextmanager
def local_copy(location: str):
    """A local path for reading ``location`` (downloaded to a temporary file for URLs)."""
    if not is_url(location):
        yield local_path(location)
        return
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / location.rstrip("/").rsplit("/", 1)[-1]
        with fsspec.open(location, "rb") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
        yield target


@contextmanager
def local_copy_folder(location: str):
    """A local folder with the contents of ``location`` (downloaded for URLs)."""
    if not is_url(location):
        yield local_path(location)
        return
    with tempfile.TemporaryDirectory() as tmp:
        fsys, path = fsspec.core.url_to_fs(location)
        if fsys.exists(path):
            fsys.get(path.rstrip("/") + "/", tmp + "/", recursive=True)
        yield Path(tmp)

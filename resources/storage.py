"""Release storage: where each partition's release folder is written (local folder or fsspec URL).

Publishing a local release is safe against crashes and against concurrent writers of the same
partition (two runs of one period, from one instance or from two instances sharing the folder):

- a writer holds an exclusive per-partition lock (``fcntl.flock`` on ``.<partition>.lock``) from
  the moment it creates its staging folder until the release is in place, so writers of one
  partition take turns and the last one to publish wins whole; the kernel releases the lock of a
  writer that dies, and the lock file is removed by whoever holds it last;
- inside the lock, staging and old folders of the partition belong to dead writers only, so they
  can be removed safely (an old release left between two renames is put back first);
- the staging folder replaces the release in one step (``renameat2(RENAME_EXCHANGE)`` where the
  filesystem has it, two renames otherwise), so a reader sees the previous release or the new one,
  never a mixture, and never no release where there was one.
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import fsspec

from resources import fs


class ReleaseStorageResource(dg.ConfigurableResource):
    """Root of the release folders: ``<location>/<partition key>/``."""

    location: str

    def partition_location(self, partition_key: str) -> str:
        return fs.join(self.location, partition_key)

    @contextmanager
    def staged(self, partition_key: str):
        """A private local folder to write a release into; on success it replaces the partition's
        release whole (swapped into place), on error it is removed and the old release stays.
        Concurrent writers of one partition take turns (see the module docstring)."""
        final = self.partition_location(partition_key)
        if fs.is_url(self.location):
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                yield Path(tmp)
                _publish_remote(Path(tmp), final)
            return
        root = fs.local_path(self.location)
        root.mkdir(parents=True, exist_ok=True)
        target = root / partition_key
        with exclusive_lock(root / f".{partition_key}.lock"):
            recover_partial_replace(target)  # whatever a killed writer left
            stage = root / f".{partition_key}.tmp-{uuid.uuid4().hex}"
            stage.mkdir()
            try:
                yield stage
                replace_dir(stage, target)
            finally:
                shutil.rmtree(stage, ignore_errors=True)

    @contextmanager
    def reading(self, partition_key: str):
        """A local folder with the partition's current release, not replaced while it is read (a
        local release is read in place under the partition's lock; a remote one is downloaded)."""
        location = self.partition_location(partition_key)
        if fs.is_url(self.location):
            with fs.local_copy_folder(location) as folder:
                yield Path(folder)
            return
        root = fs.local_path(self.location)
        root.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(root / f".{partition_key}.lock"):
            yield root / partition_key


    # -- versions of a period (a correction never silently replaces a published version) --------------

    def version_location(self, partition_key: str, version: int) -> str:
        """Where a superseded version stays published: ``<location>/versions/<partition>/v<version>/``."""
        return fs.join(self.location, VERSIONS_DIR, partition_key, f"v{version}")

    def current_version(self, partition_key: str) -> int | None:
        """The series version of the partition's current release folder (None: none, or no series section)."""
        import json

        path = fs.join(self.partition_location(partition_key), "manifest.json")
        if not fs.exists(path):
            return None
        with fsspec.open(path if fs.is_url(path) else str(fs.local_path(path)), "r") as f:
            version = (json.load(f).get("series") or {}).get("version")
        return int(version) if version is not None else None

    @contextmanager
    def reading_version(self, partition_key: str, version: int):
        """A local folder holding one published version of the partition (current or superseded)."""
        if self.current_version(partition_key) == version:
            with self.reading(partition_key) as folder:
                yield folder
            return
        location = self.version_location(partition_key, version)
        if not fs.exists(location):
            raise FileNotFoundError(f"{location}: version {version} of {partition_key} is not in the release storage")
        with fs.local_copy_folder(location) as folder:
            yield Path(folder)

    def archive_current(self, partition_key: str) -> str | None:
        """Copy the partition's current release to its versions folder before a new version replaces it
        (its files stay published); returns where, or None when there is nothing to keep."""
        version = self.current_version(partition_key)
        if version is None:
            return None
        target = self.version_location(partition_key, version)
        if fs.exists(fs.join(target, "manifest.json")):
            return target
        with self.reading(partition_key) as folder:
            if fs.is_url(self.location):
                _publish_remote(Path(folder), target)
            else:
                dest = fs.local_path(target)
                dest.parent.mkdir(parents=True, exist_ok=True)
                stage = dest.with_name(f".{dest.name}.tmp-{uuid.uuid4().hex}")
                shutil.copytree(folder, stage)
                if dest.exists():
                    shutil.rmtree(dest)  # an incomplete copy (no manifest) left by a killed writer
                os.rename(stage, dest)
        return target


VERSIONS_DIR = "versions"


# -- local folder primitives (also used by the asset store) ------------------------------------------------

@contextmanager
def exclusive_lock(path: Path):
    """Hold an exclusive ``flock`` on ``path`` (created if missing) and remove the file on release.

    Removing a lock file is safe only with a check after locking: a waiter that locked a file which
    its holder has meanwhile unlinked (or replaced) retries on the file now at ``path``. Only the
    holder unlinks, so whoever proceeds holds the lock on the file at ``path``. A holder killed
    with SIGKILL loses the lock to the kernel and leaves the file, which the next holder removes.
    Without ``fcntl`` (not POSIX) this is a no-op.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            mine = os.fstat(fd)
            try:
                now = os.stat(path)
            except FileNotFoundError:
                now = None
        except BaseException:
            os.close(fd)
            raise
        if now is not None and (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino):
            break
        os.close(fd)  # the file was removed or replaced while we waited: lock the current one
    try:
        yield
    finally:
        try:
            os.unlink(path)
        finally:
            os.close(fd)


def _stale(target: Path, kind: str) -> list[Path]:
    return sorted(target.parent.glob(f".{target.name}.{kind}-*"), key=lambda p: p.stat().st_mtime)


def recover_partial_replace(target: Path) -> None:
    """Clean up after a writer of ``target`` that was killed (call with the target's lock held).

    Its staging folders (``.<name>.tmp-*``) are removed. An old copy (``.<name>.old-*``) is only
    ever left when a writer died between the two renames of the fallback replace; when the target
    is then missing, the newest old copy is the previous release and is put back, not deleted.
    """
    for stale in _stale(target, "tmp"):
        _remove(stale)
    olds = _stale(target, "old")
    if olds and not os.path.lexists(target):
        os.rename(olds.pop(), target)
    for stale in olds:
        _remove(stale)


def replace_dir(src: Path, target: Path) -> None:
    """Make folder ``src`` the folder ``target`` in one step; the previous ``target`` is deleted.

    Call with the target's lock held. Uses an atomic exchange where the filesystem supports it;
    otherwise renames ``target`` aside first (a reader may then briefly find no folder, and a crash
    between the renames is repaired by :func:`recover_partial_replace`).
    """
    if not os.path.lexists(target):
        try:
            os.rename(src, target)
            return
        except OSError as exc:  # created meanwhile by a writer that does not take the lock
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
    if _exchange(src, target):
        _remove(src)  # now holds the previous folder
        return
    old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex}")
    os.rename(target, old)
    os.rename(src, target)
    _remove(old)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_renameat2 = None


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two existing paths (Linux ``renameat2(RENAME_EXCHANGE)``); False where the
    C library or the filesystem does not support it."""
    global _renameat2
    if _renameat2 is None:
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            fn = libc.renameat2
            fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
            fn.restype = ctypes.c_int
            _renameat2 = fn
        except (OSError, AttributeError):  # not glibc >= 2.28 / not Linux
            _renameat2 = False
    if _renameat2 is False:
        return False
    import ctypes

    if _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def _publish_remote(local: Path, final: str) -> None:
    """Object stores have no atomic folder rename: upload everything, manifest last, so a
    release is complete exactly when its manifest exists."""
    fsys, path = fsspec.core.url_to_fs(final)
    if fsys.exists(path):
        fsys.rm(path, recursive=True)
    files = sorted(local.iterdir(), key=lambda p: p.name == "manifest.json")
    for f in files:
        fsys.put_file(str(f), f"{path}/{f.name}")

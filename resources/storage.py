"""Release storage: where each partition's release folder is written (local folder or fsspec URL)."""

from __future__ import annotations

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
        release whole (rename into place), on error it is removed and the old release stays."""
        final = self.partition_location(partition_key)
        if fs.is_url(self.location):
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                yield Path(tmp)
                _publish_remote(Path(tmp), final)
            return
        root = fs.local_path(self.location)
        root.mkdir(parents=True, exist_ok=True)
        for stale in list(root.glob(f".{partition_key}.tmp-*")) + list(root.glob(f".{partition_key}.old-*")):
            shutil.rmtree(stale, ignore_errors=True)  # left by a writer that was killed
        stage = root / f".{partition_key}.tmp-{uuid.uuid4().hex}"
        stage.mkdir()
        try:
            yield stage
            target = root / partition_key
            old = root / f".{partition_key}.old-{uuid.uuid4().hex}"
            if target.exists():
                os.rename(target, old)
            os.rename(stage, target)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(stage, ignore_errors=True)


def _publish_remote(local: Path, final: str) -> None:
    """Object stores have no atomic folder rename: upload everything, manifest last, so a
    release is complete exactly when its manifest exists."""
    fsys, path = fsspec.core.url_to_fs(final)
    if fsys.exists(path):
        fsys.rm(path, recursive=True)
    files = sorted(local.iterdir(), key=lambda p: p.name == "manifest.json")
    for f in files:
        fsys.put_file(str(f), f"{path}/{f.name}")

"""Release storage is atomic: a writer killed mid-way leaves the previous release intact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import personatwin as pt
from personatwin.ingest import synth
from personatwin.publish.export import (
    verify_manifest,
    write_release_folder,
)
from resources.storage import ReleaseStorageResource
from tests.paths import PROJECT
from tests.personatwin_dag.helpers import folder_bytes, visible

WRITER = textwrap.dedent("""
    import sys, threading, time
    sys.path.insert(0, {project!r})
    import personatwin as pt
    from personatwin.publish import export
    from personatwin.ingest import synth
    from resources.storage import ReleaseStorageResource

    data = synth.generate("criminal_justice", 1500, seed=21)
    result = pt.create_safe_personas(people=data.people, events=data.events, privacy_level="medium",
                                     key="atomic-test-key-0123456789", target_risk=0.2)
    real = export.write_table_hashed  # each data file of the folder, hashed as written
    calls, lock = [], threading.Lock()  # the files are written side by side: count them under a lock
    def slow_write(df, path, fmt):
        out = real(df, path, fmt)
        with lock:
            calls.append(path)
            halfway = len(calls) == 2
        if halfway:  # exactly one writer announces it, once a second file is written
            print("HALFWAY", flush=True)
        if len(calls) >= 2:
            time.sleep(60)
        return out
    export.write_table_hashed = slow_write
    storage = ReleaseStorageResource(location={root!r})
    with storage.staged("2024-01") as folder:
        export.write_release_folder(result.tables(), folder, partition="2024-01")
    print("DONE", flush=True)
""")


def first_release(root: Path) -> dict:
    data = synth.generate("criminal_justice", 1500, seed=20)
    result = pt.create_safe_personas(people=data.people, events=data.events, privacy_level="medium",
                                     key="atomic-test-key-0123456789", target_risk=0.2)
    storage = ReleaseStorageResource(location=str(root))
    with storage.staged("2024-01") as folder:
        write_release_folder(result.tables(), folder, partition="2024-01")
    return folder_bytes(root / "2024-01")


def test_killed_writer_leaves_previous_release_intact(tmp_path):
    before = first_release(tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", WRITER.format(project=str(PROJECT), root=str(tmp_path))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "HALFWAY", proc.stderr.read()
        # a partial new release exists in the writer's private staging folder only
        staging = [p for p in tmp_path.iterdir() if p.name.startswith(".2024-01.tmp-")]
        assert staging and any(staging[0].iterdir())
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert visible(tmp_path) == ["2024-01"]
    assert folder_bytes(tmp_path / "2024-01") == before
    assert verify_manifest(tmp_path / "2024-01") == []

    # the next write cleans the dead writer's staging folder and replaces the release whole
    first_release(tmp_path)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert verify_manifest(tmp_path / "2024-01") == []


def test_failed_write_keeps_old_release(tmp_path):
    before = first_release(tmp_path)
    storage = ReleaseStorageResource(location=str(tmp_path))
    with pytest.raises(RuntimeError):
        with storage.staged("2024-01") as folder:
            (folder / "personas.csv").write_text("partial")
            raise RuntimeError("writer failed")
    assert folder_bytes(tmp_path / "2024-01") == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]

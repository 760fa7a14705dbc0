"""Publishing an approved staged release (issue 15): the approval id in every file, the data unchanged, no
reviewer name published, and nothing stamped unless the review is complete and of these very files."""

from __future__ import annotations

import json
import shutil

import pyarrow.parquet as pq
import pytest

import personatwin as pt
from personatwin.core.errors import ApprovalRefusedError
from personatwin.govern.approvals import APPROVE, ApprovalLog, Staging
from personatwin.govern.stamp import APPROVAL_METADATA_KEY, SIDECAR_SUFFIX, stamp_release
from personatwin.ingest import synth
from personatwin.publish.export import verify_manifest, write_release_folder
from personatwin.publish.published import PublishedRelease
from personatwin.publish.report import render_report

KEY = "stamp-test-key-0123456789abcdef0123"


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    """A real staged release folder (what the export writes) of a generated month."""
    data = synth.generate("criminal_justice", 3000, seed=5)
    result = pt.create_safe_personas(people=data.people, events=data.events, privacy_level="medium", key=KEY,
                                     target_risk=0.1, salt="2024-06", gates=pt.UtilityGates(large_group_events=2500))
    folder = tmp_path_factory.mktemp("staging") / "2024-06"
    write_release_folder(result.tables(), folder, partition="2024-06")
    return folder


def approved(tmp_path, staged, approval_id="CBDRB-FY25-DSEP-017"):
    folder = tmp_path / "staged"
    shutil.copytree(staged, folder)
    log, staging = ApprovalLog(tmp_path / "log"), Staging("2024-06", folder, "launcher-ana")
    log.decide(staging, "reviewer-ben", APPROVE, approval_id=approval_id)
    return log, staging, log.decide(staging, "reviewer-cleo", APPROVE, comment="cells checked")


def test_every_published_file_carries_the_approval_and_the_data_is_unchanged(tmp_path, staged):
    log, staging, review = approved(tmp_path, staged)
    out = tmp_path / "published"
    manifest = stamp_release(staging.folder, out, review, log_head="ab" * 32)
    assert verify_manifest(out) == []
    assert manifest["approval"]["approval_id"] == "CBDRB-FY25-DSEP-017" and manifest["approval"]["approvals"] == 2
    # the stamped report is what anyone rebuilds from the published folder alone (its Approval section included)
    rebuilt = render_report(PublishedRelease.from_folder(out), partition="2024-06")
    assert rebuilt == (out / "privacy_report.html").read_text(encoding="utf-8") and "id=\"approval\"" in rebuilt
    assert manifest["approval"]["staged_manifest_sha256"] == staging.manifest_sha256
    data_files = [n for n in json.loads((staging.folder / "manifest.json").read_text())["files"]]
    assert any(n.endswith(".parquet") for n in data_files) and any(n.endswith(".csv") for n in data_files)
    for name in data_files:
        if name.endswith(".parquet"):
            stamped, original = pq.read_table(out / name), pq.read_table(staging.folder / name)
            stamp = json.loads(stamped.schema.metadata[APPROVAL_METADATA_KEY])
            assert stamp["approval_id"] == "CBDRB-FY25-DSEP-017"
            assert stamped.equals(original.replace_schema_metadata(stamped.schema.metadata))
        elif name.endswith((".csv", ".json")):
            assert (out / name).read_bytes() == (staging.folder / name).read_bytes()
            sidecar = json.loads((out / f"{name}{SIDECAR_SUFFIX}").read_text())
            assert sidecar["approval_id"] == "CBDRB-FY25-DSEP-017" and sidecar["file"] == name
        elif name.endswith(".html"):
            assert "CBDRB-FY25-DSEP-017" in (out / name).read_text(encoding="utf-8")
    for path in out.iterdir():  # reviewers' and the launcher's names stay internal
        if path.suffix != ".parquet":
            text = path.read_text(encoding="utf-8")
            assert "reviewer-" not in text and "launcher-ana" not in text and "cells checked" not in text


def test_without_a_board_number_the_id_names_the_reviewed_manifest(tmp_path, staged):
    log, staging, review = approved(tmp_path, staged, approval_id="")
    manifest = stamp_release(staging.folder, tmp_path / "published", review, log_head="0" * 64)
    assert manifest["approval"]["approval_id"] == f"PT-2024-06-{staging.manifest_sha256[:12]}"


def test_an_incomplete_review_is_not_stamped(tmp_path, staged):
    folder = tmp_path / "staged"
    shutil.copytree(staged, folder)
    log, staging = ApprovalLog(tmp_path / "log"), Staging("2024-06", folder, "ana")
    review = log.decide(staging, "ben", APPROVE)
    with pytest.raises(ApprovalRefusedError, match=r"waiting for approvals \(1 of 2\)"):
        stamp_release(folder, tmp_path / "published", review, log_head="0" * 64)
    assert not (tmp_path / "published").exists()


def test_files_changed_after_approval_are_not_published(tmp_path, staged):
    log, staging, review = approved(tmp_path, staged)
    csv = next(staging.folder.glob("*.csv"))
    csv.write_bytes(csv.read_bytes() + b"\n")
    with pytest.raises(ApprovalRefusedError, match="no longer match their manifest"):
        stamp_release(staging.folder, tmp_path / "published", review, log_head="0" * 64)
    manifest = staging.folder / "manifest.json"
    manifest.write_text(manifest.read_text() + " ")  # another manifest than the one reviewed
    with pytest.raises(ApprovalRefusedError, match="not the one reviewed"):
        stamp_release(staging.folder, tmp_path / "published", review, log_head="0" * 64)

"""Approvals of staged releases (issue 15): two distinct reviewers besides the launcher, an append-only hash-chained
log, refusals with reasons (self-approval, a second vote, tampered files, an unknown staging, a rejected one)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from personatwin.core.errors import ApprovalLogError, ApprovalRefusedError, PersonaTwinError
from personatwin.govern.approvals import APPROVE, REJECT, ApprovalLog, ApprovalPolicy, Staging


def stage(folder: Path, period: str = "2024-05", launched_by: str = "ana", text: str = "persona_id\nP1\n") -> Staging:
    """A staged release folder: one data file and its manifest (what the export writes, in small)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "personas.csv").write_text(text, encoding="utf-8")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    manifest = {"partition": period, "files": {"personas.csv": {"sha256": digest, "bytes": len(text)}}}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return Staging(period, folder, launched_by)


def test_two_distinct_reviewers_besides_the_launcher_complete_a_review(tmp_path):
    log, staging = ApprovalLog(tmp_path / "log"), stage(tmp_path / "s1")
    first = log.decide(staging, "ben", APPROVE, approval_id="CBDRB-FY23-DSEP-001", comment="checked cells")
    assert not first.complete and first.state == "waiting for approvals (1 of 2)"
    second = log.decide(staging, "cleo", APPROVE)
    assert second.complete and second.approvers == ("ben", "cleo")
    assert second.approval_id == "CBDRB-FY23-DSEP-001" and second.state == "approved by ben, cleo"
    assert log.review(staging) == second  # read back from the log


@pytest.mark.parametrize("who, decision, comment, message", [
    ("ana", APPROVE, "", "ana launched this run and cannot approve it"),
    ("ben", APPROVE, "", "ben has already approved"),
    ("", APPROVE, "", "needs the reviewer's name"),
    ("dan", REJECT, "  ", "a rejection needs a reason"),
    ("dan", "maybe", "", "unknown decision"),
])
def test_refusals_say_why_and_record_nothing(tmp_path, who, decision, comment, message):
    log, staging = ApprovalLog(tmp_path / "log"), stage(tmp_path / "s1")
    log.decide(staging, "ben", APPROVE)
    before = log.path.read_bytes()
    with pytest.raises(ApprovalRefusedError, match=message) as caught:
        log.decide(staging, who, decision, comment=comment)
    assert isinstance(caught.value, PersonaTwinError)
    assert log.path.read_bytes() == before


@pytest.mark.parametrize("approval_id", ["<script>x</script>", "CBDRB FY23", "a" * 65, "-leading"])
def test_an_approval_id_must_be_a_board_number(tmp_path, approval_id):
    """The approval id is published in every file: free text, markup or a long string is refused."""
    with pytest.raises(ApprovalRefusedError, match="is not a board number"):
        ApprovalLog(tmp_path / "log").decide(stage(tmp_path / "s1"), "ben", APPROVE, approval_id=approval_id)


def test_the_launcher_may_approve_only_where_the_policy_says_so(tmp_path):
    log, staging = ApprovalLog(tmp_path / "log"), stage(tmp_path / "s1")
    review = log.decide(staging, "ana", APPROVE, policy=ApprovalPolicy(required=1, launcher_may_approve=True))
    assert review.complete
    with pytest.raises(ApprovalRefusedError, match="already has its 1 approvals"):
        log.decide(staging, "ben", APPROVE, policy=ApprovalPolicy(required=1))


def test_a_tampered_staging_is_refused(tmp_path):
    log, staging = ApprovalLog(tmp_path / "log"), stage(tmp_path / "s1")
    log.decide(staging, "ben", APPROVE)
    (staging.folder / "personas.csv").write_text("persona_id\nP2\n", encoding="utf-8")  # a third party edits it
    with pytest.raises(ApprovalRefusedError, match="no longer match their manifest.*personas.csv: checksum"):
        log.decide(staging, "cleo", APPROVE)
    (staging.folder / "extra.csv").write_text("x\n", encoding="utf-8")
    with pytest.raises(ApprovalRefusedError, match="extra.csv: present but not in the manifest"):
        log.decide(staging, "cleo", APPROVE)


def test_an_unknown_staging_is_refused(tmp_path):
    with pytest.raises(ApprovalRefusedError, match="no staged release of 2031-01 here"):
        ApprovalLog(tmp_path / "log").decide(Staging("2031-01", tmp_path / "nothing", "ana"), "ben", APPROVE)


def test_approvals_name_the_manifest_reviewed_not_the_period(tmp_path):
    """A new staging of the same period (a rerun with other files) starts its review from zero."""
    log = ApprovalLog(tmp_path / "log")
    log.decide(stage(tmp_path / "s1"), "ben", APPROVE)
    rerun = stage(tmp_path / "s2", text="persona_id\nP9\n")
    assert log.review(rerun).approvals == ()
    assert log.review(stage(tmp_path / "s1")).approvers == ("ben",)


def test_a_rejection_closes_the_staging(tmp_path):
    log, staging = ApprovalLog(tmp_path / "log"), stage(tmp_path / "s1")
    review = log.decide(staging, "ben", REJECT, comment="cell of 3 in table 2")
    assert not review.complete and review.state == "rejected by ben: cell of 3 in table 2"
    with pytest.raises(ApprovalRefusedError, match="rejected by ben"):
        log.decide(staging, "cleo", APPROVE)


@pytest.mark.parametrize("edit", ["change", "remove", "garble"])
def test_an_edit_in_place_breaks_the_chain(tmp_path, edit):
    log, staging = ApprovalLog(tmp_path / "log"), stage(tmp_path / "s1")
    log.decide(staging, "ben", APPROVE)
    log.decide(staging, "cleo", REJECT, comment="no")
    log.decide(stage(tmp_path / "s2", text="x\n"), "dan", APPROVE)
    lines = log.path.read_text(encoding="utf-8").splitlines()
    if edit == "change":  # the rejection rewritten as an approval
        lines[1] = lines[1].replace('"reject"', '"approve"')
    elif edit == "remove":
        del lines[1]
    else:
        lines[0] = lines[0][:-3]
    log.path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ApprovalLogError, match="line [123]"):
        log.decisions()
    with pytest.raises(ApprovalLogError):
        log.decide(staging, "eve", APPROVE)


def test_a_policy_needs_at_least_one_approval():
    with pytest.raises(ValueError, match="at least 1"):
        ApprovalPolicy(required=0)


def test_the_head_names_the_last_decision(tmp_path):
    log, staging = ApprovalLog(tmp_path / "log"), stage(tmp_path / "s1")
    assert log.head() == "0" * 64
    log.decide(staging, "ben", APPROVE)
    first = log.head()
    log.decide(staging, "cleo", APPROVE)
    last_line = log.path.read_text(encoding="utf-8").splitlines()[-1]
    assert log.head() == hashlib.sha256(last_line.encode("utf-8")).hexdigest() != first


def test_a_changed_pinned_configuration_is_approved_only_as_a_full_review(tmp_path):
    from dataclasses import replace

    log = ApprovalLog(tmp_path / "log")
    staging = replace(stage(tmp_path / "s1"),
                      full_review="changed from the configuration pinned from 2024-04: k 10 -> 20")
    with pytest.raises(ApprovalRefusedError, match=r"k 10 -> 20; approve with --full-review"):
        log.decide(staging, "ben", APPROVE)
    assert log.decisions() == []
    log.decide(staging, "ben", APPROVE, full_review=True)
    review = log.decide(staging, "cleo", APPROVE, full_review=True)
    assert review.complete and all(d.full_review for d in review.approvals)
    # where the configuration is unchanged (or not pinned) the flag is not needed, and a rejection never needs it
    assert not log.decide(stage(tmp_path / "s2", period="2024-06"), "ben", APPROVE).approvals[0].full_review
    assert log.decide(replace(stage(tmp_path / "s3", period="2024-07"), full_review="changed"), "ben", REJECT,
                      comment="k too high for the analysts").rejection is not None

"""The staging area (issue 15): stagings appear whole or not at all, are kept for audit, and are found by period."""

from __future__ import annotations

import pytest

from personatwin.core.errors import ApprovalRefusedError
from personatwin.govern.approvals import APPROVE, REJECT, ApprovalLog
from personatwin.govern.staging import StagingArea, describe
from tests.personatwin.govern.test_approvals import stage as write_release


def staged_run(area: StagingArea, period: str, launched_by: str = "ana", text: str = "persona_id\nP1\n",
               at: str = "2024-07-01T10:00:00+00:00"):
    with area.stage(period, launched_by, run_id="run-1", staged_at=at) as staged:
        write_release(staged.release_folder, period, launched_by, text)
    return area.find(period, staged.staging_id)


def test_a_staging_appears_whole_and_is_found_by_period(tmp_path):
    area = StagingArea(tmp_path)
    first = staged_run(area, "2024-06")
    later = staged_run(area, "2024-06", text="persona_id\nP2\n", at="2024-07-02T10:00:00+00:00")
    assert area.find("2024-06") == later and [s.staging_id for s in area.stagings("2024-06")] == \
        [first.staging_id, later.staging_id]
    assert first.launched_by == "ana" and first.run_id == "run-1" and (first.release_folder / "manifest.json").exists()
    assert not list(tmp_path.glob("2024-06/.*"))  # no temporary folder left


def test_a_failed_run_leaves_nothing_to_review(tmp_path):
    area = StagingArea(tmp_path)
    with pytest.raises(RuntimeError, match="export failed"):
        with area.stage("2024-06", "ana") as staged:
            (staged.release_folder / "events.csv").write_text("half", encoding="utf-8")
            raise RuntimeError("export failed")
    assert area.stagings() == [] and not list(tmp_path.rglob("events.csv"))


@pytest.mark.parametrize("period, message", [("2031-01", "no staged release of 2031-01; staged periods: 2024-06"),
                                             ("../etc", "not a period or staging name")])
def test_unknown_or_unsafe_periods_are_refused_with_what_exists(tmp_path, period, message):
    area = StagingArea(tmp_path)
    staged_run(area, "2024-06")
    with pytest.raises(ApprovalRefusedError, match=message):
        area.find(period)


def test_a_staging_needs_who_launched_it(tmp_path):
    with pytest.raises(ApprovalRefusedError, match="who launched"):
        with StagingArea(tmp_path).stage("2024-06", " "):
            pass


def test_what_became_of_each_staging(tmp_path):
    area, log = StagingArea(tmp_path / "staging"), ApprovalLog(tmp_path / "log")
    rejected = staged_run(area, "2024-06")
    log.decide(rejected.staging(), "ben", REJECT, comment="small cell")
    old = staged_run(area, "2024-06", text="b\n", at="2024-07-02T10:00:00+00:00")
    new = staged_run(area, "2024-06", text="c\n", at="2024-07-03T10:00:00+00:00")
    log.decide(new.staging(), "ben", APPROVE)
    latest = area.find("2024-06")
    assert describe(rejected, log.review(rejected.staging()), latest, None) == "rejected by ben: small cell"
    assert describe(old, log.review(old.staging()), latest, None) == f"superseded by {new.staging_id}"
    assert describe(new, log.review(new.staging()), latest, None) == "waiting for approvals (1 of 2)"
    review = log.decide(new.staging(), "cleo", APPROVE)
    assert describe(new, review, latest, None) == "approved by ben, cleo"
    assert describe(new, review, latest, review.manifest_sha256) == "published"
    assert len(area.stagings("2024-06")) == 3  # rejected and superseded stagings stay for audit

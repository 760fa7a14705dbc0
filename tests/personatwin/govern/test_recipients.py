"""Issuing a published release to recipients (issue 15, item 4): each issue is a package whose manifest records
recipient, agreement, allowed use and expiry; two recipients of one period are two issues of one release."""

from __future__ import annotations

import datetime
import json

import pytest

from personatwin.core.errors import ApprovalRefusedError
from personatwin.govern.recipients import IssueLog, issue_release
from personatwin.publish.export import verify_manifest
from tests.personatwin.govern.test_stamp import staged  # noqa: F401 (a real release folder, as published)

NOW = datetime.datetime(2025, 3, 1, 9, 0, tzinfo=datetime.UTC)


def give(staged, tmp_path, log, name, agreement="DUA-2025-007", expires="2026-02-28", **kw):  # noqa: F811
    return issue_release(staged, tmp_path / "issued" / name, log, recipient=name, agreement_id=agreement,
                         allowed_use="sentencing disparity research", expires=expires, issued_by="steward", now=NOW,
                         **kw)


def test_two_recipients_are_two_issues_of_one_release(staged, tmp_path):  # noqa: F811
    log = IssueLog(tmp_path / "series")
    first = give(staged, tmp_path, log, "State University")
    second = give(staged, tmp_path, log, "County Health Dept", agreement="DUA-2025-011")
    issues = log.issues("2024-06")
    assert [i.recipient for i in issues] == ["State University", "County Health Dept"]
    assert first.release_id == second.release_id != "" and first.manifest_sha256 == second.manifest_sha256
    package = tmp_path / "issued" / "County Health Dept"
    assert verify_manifest(package) == []
    issue = json.loads((package / "manifest.json").read_text())["issue"]
    assert issue == {"period": "2024-06", "release_id": first.release_id, "recipient": "County Health Dept",
                     "agreement_id": "DUA-2025-011", "allowed_use": "sentencing disparity research",
                     "expires": "2026-02-28", "issued_at": "2025-03-01T09:00:00+00:00",
                     "manifest_sha256": first.manifest_sha256}
    published = json.loads((staged / "manifest.json").read_text())
    assert {k: v for k, v in json.loads((package / "manifest.json").read_text()).items() if k != "issue"} == published


@pytest.mark.parametrize("change, message", [
    ({"expires": "2025-03-01"}, "expires on 2025-03-01: nothing is issued"),
    ({"expires": "next year"}, "is not a date"),
    ({"agreement": "DUA 7; drop"}, "is not an agreement number"),
])
def test_bad_agreements_are_refused_and_nothing_is_recorded(staged, tmp_path, change, message):  # noqa: F811
    log = IssueLog(tmp_path / "series")
    with pytest.raises(ApprovalRefusedError, match=message):
        give(staged, tmp_path, log, "State University", **change)
    assert log.issues() == [] and not (tmp_path / "issued").exists()


def test_only_an_intact_published_release_is_issued(staged, tmp_path):  # noqa: F811
    log = IssueLog(tmp_path / "series")
    with pytest.raises(ApprovalRefusedError, match="no published release here"):
        give(tmp_path / "nothing", tmp_path, log, "State University")
    import shutil

    altered = tmp_path / "altered"
    shutil.copytree(staged, altered)
    csv = next(altered.glob("*.csv"))
    csv.write_bytes(csv.read_bytes() + b"\n")
    with pytest.raises(ApprovalRefusedError, match="no longer match their manifest"):
        give(altered, tmp_path, log, "State University")
    assert log.issues() == []

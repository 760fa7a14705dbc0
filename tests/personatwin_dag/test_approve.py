"""personatwin-approve (issue 15): reviewers list, approve and reject staged releases from the command line;
refusals print why, exit with 2 and record nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from personatwin.govern.staging import StagingArea
from personatwin_dag.approve import main
from personatwin_dag.environments import governance_for
from tests.paths import PROJECT as ROOT
from tests.personatwin.govern.test_approvals import stage as write_release


@pytest.fixture
def deployment(tmp_path, monkeypatch):
    monkeypatch.setenv("PERSONATWIN_ENV", "local")
    monkeypatch.setenv("PERSONATWIN_RELEASES", str(tmp_path / "releases"))
    monkeypatch.setenv("PERSONATWIN_INTERNAL", str(tmp_path / "internal"))
    monkeypatch.delenv("PERSONATWIN_APPROVALS_REQUIRED", raising=False)
    gov = governance_for()
    with StagingArea(gov.staging_root).stage("2024-06", "ana", run_id="r1") as staged:
        write_release(staged.release_folder, "2024-06", "ana")
    return gov, staged.staging_id


def test_two_reviewers_approve_and_the_listing_follows(deployment, capsys):
    gov, staging_id = deployment
    assert gov.staging_root.is_relative_to(gov.approvals_root.parent) and "releases" not in str(gov.staging_root)
    assert main(["--list"]) == 0
    assert capsys.readouterr().out.strip() == \
        f"2024-06  {staging_id}  launched by ana  waiting for approvals (0 of 2)"
    assert main(["2024-06", "--approver", "ben", "--approval-id", "CBDRB-FY25-DSEP-017"]) == 0
    assert capsys.readouterr().out.strip() == f"2024-06 {staging_id}: waiting for approvals (1 of 2)"
    assert main(["2024-06", "--approver", "cleo"]) == 0
    assert capsys.readouterr().out.strip() == f"2024-06 {staging_id}: approved by ben, cleo"


@pytest.mark.parametrize("argv, message", [
    (["2024-06", "--approver", "ana"], "ana launched this run and cannot approve it"),
    (["2031-01", "--approver", "ben"], "no staged release of 2031-01; staged periods: 2024-06"),
    (["2024-06", "--approver", "ben", "--reject"], "a rejection needs a reason"),
    (["2024-06", "--approver", "ben", "--staging", "nope"], "no staged release of 2024-06 with id nope"),
])
def test_refusals_exit_2_with_the_reason_and_record_nothing(deployment, capsys, argv, message):
    gov, _ = deployment
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (gov.approvals_root / "approvals.jsonl").exists()


def test_a_tampered_staging_is_refused_and_a_rejection_is_listed(deployment, capsys):
    gov, staging_id = deployment
    assert main(["2024-06", "--approver", "ben", "--reject", "--reason", "a cell of 3"]) == 0
    assert main(["--list"]) == 0
    assert capsys.readouterr().out.strip().endswith("rejected by ben: a cell of 3")
    csv = next((gov.staging_root / "2024-06" / staging_id / "release").glob("*.csv"))
    csv.write_text("persona_id\nP7\n", encoding="utf-8")
    assert main(["2024-06", "--approver", "cleo"]) == 2
    assert "no longer match their manifest" in capsys.readouterr().err


def test_the_command_runs_as_a_program(deployment):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "personatwin_dag.approve", "--list"], capture_output=True,
                         text=True, env=env, cwd=ROOT, check=False)
    assert out.returncode == 0 and "launched by ana  waiting for approvals (0 of 2)" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "personatwin_dag.approve", "2024-06"], capture_output=True,
                         text=True, env=env, cwd=ROOT, check=False)
    assert bad.returncode == 2 and "give a period and --approver" in bad.stderr

"""Disclosure review end to end on a real Dagster instance (issue 15): a run stages its release; one approval
does not publish; the approvals sensor and the publish job publish after the second, with the approval id in
every file; self-approval, a tampered staging and an unknown period are refused with clear messages."""

from __future__ import annotations

import json

import dagster as dg
import pyarrow.parquet as pq
import pytest

from personatwin.govern.stamp import APPROVAL_METADATA_KEY, SIDECAR_SUFFIX
from personatwin.publish.export import verify_manifest
from personatwin.series.ledger import Ledger
from personatwin_dag.approve import main as approve
from personatwin_dag.environments import governance_for
from tests.personatwin_dag.helpers import QUIET, run_partition
from tests.personatwin_dag.test_report_browser import chromium  # noqa: F401 (the browser fixture)

PERIOD = "2024-02"


@pytest.fixture
def reviewed(project_env, monkeypatch):
    """The test deployment with disclosure review on (2 approvals, the default), launched by 'launcher-ana'."""
    monkeypatch.delenv("PERSONATWIN_APPROVALS_REQUIRED", raising=False)
    monkeypatch.setenv("PERSONATWIN_LAUNCHED_BY", "launcher-ana")
    return project_env


@pytest.fixture
def reviewed_defs(reviewed):
    from personatwin_dag.definitions import build_defs
    from personatwin_dag.environments import resources_for

    return build_defs(resources_for("ci"))


def publish_run(defs, instance):
    return defs.resolve_job_def("publish_job").execute_in_process(partition_key=PERIOD, instance=instance,
                                                                  raise_on_error=False, run_config=QUIET)


def sensor_requests(defs, instance) -> list[dg.RunRequest]:
    sensor = defs.resolve_sensor_def("approved_releases")
    from personatwin_dag.environments import resources_for

    with dg.build_sensor_context(instance=instance, definitions=defs,
                                 resources={"governance": resources_for("ci")["governance"]}) as context:
        result = sensor.evaluate_tick(context)
    return list(result.run_requests or [])


def check_result(result, name: str):
    return next(e.asset_check_evaluation_data for e in result.all_events
                if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.asset_check_evaluation_data.check_name == name)


def test_a_release_waits_for_two_reviewers_then_is_published_with_its_approval_id(reviewed_defs, instance,
                                                                                  reviewed, capsys):
    assert run_partition(reviewed_defs, instance, PERIOD).success
    gov = governance_for()
    assert not (reviewed.releases / PERIOD).exists()  # staged, not published
    assert Ledger(gov.staging_root.parent / "series").entries() == []  # the ledger counts published releases only
    staged = next((gov.staging_root / PERIOD).iterdir())
    assert (staged / "internal" / "dossier.html").exists() and verify_manifest(staged / "release") == []

    # self-approval and an unknown period are refused with the reason; nothing is recorded
    assert approve([PERIOD, "--approver", "launcher-ana"]) == 2
    assert "launcher-ana launched this run and cannot approve it" in capsys.readouterr().err
    assert approve(["2031-01", "--approver", "reviewer-ben"]) == 2
    assert f"no staged release of 2031-01; staged periods: {PERIOD}" in capsys.readouterr().err

    # one approval: the publish stage waits and its blocking check says why; the sensor requests nothing
    assert approve([PERIOD, "--approver", "reviewer-ben", "--approval-id", "CBDRB-FY25-DSEP-017"]) == 0
    waiting = publish_run(reviewed_defs, instance)
    assert check_result(waiting, "approvals_complete").description == "waiting for approvals (1 of 2)"
    assert not check_result(waiting, "approvals_complete").passed and not (reviewed.releases / PERIOD).exists()
    assert sensor_requests(reviewed_defs, instance) == []

    # the second approval: the sensor requests the publish run, which publishes
    assert approve([PERIOD, "--approver", "reviewer-cleo", "--comment", "cells checked"]) == 0
    [request] = sensor_requests(reviewed_defs, instance)
    assert request.partition_key == PERIOD
    published = publish_run(reviewed_defs, instance)
    assert published.success and check_result(published, "approvals_complete").passed
    folder = reviewed.releases / PERIOD
    assert verify_manifest(folder) == []
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["approval"]["approval_id"] == "CBDRB-FY25-DSEP-017" and manifest["approval"]["approvals"] == 2
    for name in manifest["files"]:
        path = folder / name
        if name.endswith(".parquet"):
            stamp = json.loads(pq.read_schema(path).metadata[APPROVAL_METADATA_KEY])
            assert stamp["approval_id"] == "CBDRB-FY25-DSEP-017", name
        elif name.endswith((".csv", ".json")) and not name.endswith(SIDECAR_SUFFIX):
            assert json.loads((folder / f"{name}{SIDECAR_SUFFIX}").read_text())["approval_id"] == \
                "CBDRB-FY25-DSEP-017", name
        elif name.endswith(".html"):
            assert "CBDRB-FY25-DSEP-017" in path.read_text(encoding="utf-8"), name
    for path in folder.iterdir():  # reviewers' names stay internal
        assert b"reviewer-" not in path.read_bytes() and b"launcher-ana" not in path.read_bytes(), path.name
    assert [e.period for e in Ledger(gov.staging_root.parent / "series").entries()] == [PERIOD]
    internal = reviewed.releases.parent / "internal" / PERIOD / "dossier.html"
    assert "reviewer-cleo" in internal.read_text(encoding="utf-8")  # the signed dossier, internal only
    mat = instance.get_latest_materialization_event(dg.AssetKey("published_release"))
    meta = mat.asset_materialization.metadata
    assert meta["approval_id"].value == "CBDRB-FY25-DSEP-017"
    assert meta["approvers"].value == ["reviewer-ben", "reviewer-cleo"]

    # issued to two recipients under their agreements: two issues of one release, packages outside releases/
    from personatwin_dag.issue import main as issue

    for who, dua in (("State University", "DUA-2025-007"), ("County Health Dept", "DUA-2025-011")):
        assert issue([PERIOD, "--recipient", who, "--agreement", dua, "--use", "disparity research",
                      "--expires", "2099-12-31"]) == 0
    assert issue([PERIOD, "--recipient", "X", "--agreement", "DUA-1", "--use", "y", "--expires", "2001-01-01"]) == 2
    assert "nothing is issued under it" in capsys.readouterr().err
    assert issue(["--list", PERIOD]) == 0
    listed = capsys.readouterr().out.strip().splitlines()
    assert len(listed) == 2 and len({line.split("  ")[1] for line in listed}) == 1  # one release id
    package = reviewed.releases.parent / "issued" / "DUA-2025-011" / PERIOD
    assert verify_manifest(package) == []
    assert json.loads((package / "manifest.json").read_text())["issue"]["recipient"] == "County Health Dept"

    # published again (a second sensor tick's run): idempotent, the same bytes
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert publish_run(reviewed_defs, instance).success
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_a_staging_tampered_with_after_one_approval_is_refused(reviewed_defs, instance, reviewed, capsys):
    assert run_partition(reviewed_defs, instance, PERIOD).success
    assert approve([PERIOD, "--approver", "reviewer-ben"]) == 0
    staged = next((governance_for().staging_root / PERIOD).iterdir())
    events = staged / "release" / "events.csv"
    events.write_bytes(events.read_bytes().replace(b"\n", b"\r\n", 1))  # a third party edits one byte
    assert approve([PERIOD, "--approver", "reviewer-cleo"]) == 2
    assert "events.csv: checksum differs from the manifest" in capsys.readouterr().err
    waiting = publish_run(reviewed_defs, instance)
    assert not check_result(waiting, "approvals_complete").passed
    assert not (reviewed.releases / PERIOD).exists()


def test_the_history_page_and_the_signed_dossier_render_with_the_approval_state(reviewed_defs, instance, reviewed,
                                                                                chromium):  # noqa: F811
    from tests.personatwin_dag.test_report_browser import SHOTS, assert_real_picture, open_static

    assert run_partition(reviewed_defs, instance, PERIOD).success
    assert approve([PERIOD, "--approver", "reviewer-ben", "--approval-id", "CBDRB-FY25-DSEP-017"]) == 0
    assert approve([PERIOD, "--approver", "reviewer-cleo"]) == 0
    assert publish_run(reviewed_defs, instance).success
    page, _, _ = open_static(chromium, reviewed.releases / "index.html")
    row = page.evaluate("document.querySelector('#releases tbody tr').innerText")
    assert PERIOD in row and "CBDRB-FY25-DSEP-017" in row and "2 of 2 approvals" in row
    assert_real_picture(page.screenshot(SHOTS / "index_approved.png"), "index_approved.png")
    dossier = reviewed.releases.parent / "internal" / PERIOD / "dossier.html"
    page, _, _ = open_static(chromium, dossier)
    text = page.evaluate("document.querySelector('#checklist').innerText")
    assert "Approvals (2 of 2 required)" in text and "reviewer-cleo" in text and "CBDRB-FY25-DSEP-017" in text
    for section in ("Quasi-identifiers", "Geography", "Attacker model", "Targets", "Suppressions", "Sign-off"):
        assert section in text, section
    assert_real_picture(page.screenshot(SHOTS / "dossier.png"), "dossier.png")
    pdf = reviewed.releases.parent / "dossier.pdf"  # the reviewers' copy, from the command line
    assert approve([PERIOD, "--dossier-pdf", str(pdf)]) == 0
    assert pdf.read_bytes().startswith(b"%PDF-") and pdf.stat().st_size > 10_000


def test_a_backfill_stages_each_period_for_review(reviewed, capsys):
    from personatwin_dag.backfill import main as backfill

    assert backfill(["--from", PERIOD, "--to", PERIOD, "--mode", "in-process"]) == 0
    out = capsys.readouterr().out
    assert f"{PERIOD}  staged" in out and "waiting for disclosure review" in out
    assert "1 of 1 partition(s) staged for disclosure review" in out
    assert not (reviewed.releases / PERIOD).exists()


def configuration_review(instance) -> str:
    mat = instance.get_latest_materialization_event(dg.AssetKey("release"))
    return mat.asset_materialization.metadata["configuration_review"].value


def test_a_pinned_configuration_needs_only_approvals_and_a_changed_one_a_full_review(reviewed, instance, monkeypatch,
                                                                                    capsys):
    from personatwin.govern.staging import StagingArea
    from personatwin_dag.definitions import build_defs
    from personatwin_dag.environments import resources_for
    from tests.personatwin_dag.helpers import failure_message

    def defs():
        return build_defs(resources_for("ci"))

    # nothing published yet: pinning refuses the run with the reason, before anything is staged
    monkeypatch.setenv("PERSONATWIN_POLICY_FROM", PERIOD)
    refused = run_partition(defs(), instance, "2024-03")
    assert not refused.success and f"no release of {PERIOD} is published" in failure_message(refused)

    monkeypatch.delenv("PERSONATWIN_POLICY_FROM")
    assert run_partition(defs(), instance, PERIOD).success
    assert approve([PERIOD, "--approver", "reviewer-ben", "--approval-id", "CBDRB-FY25-DSEP-017"]) == 0
    assert approve([PERIOD, "--approver", "reviewer-cleo"]) == 0
    assert publish_run(defs(), instance).success
    published = json.loads((reviewed.releases / PERIOD / "manifest.json").read_text())["policy"]

    # the next month at the pinned configuration: every target holds there, so approvals as usual
    monkeypatch.setenv("PERSONATWIN_POLICY_FROM", PERIOD)
    assert run_partition(defs(), instance, "2024-03").success
    assert configuration_review(instance).startswith(f"pinned from {PERIOD} (version 1, approval CBDRB-FY25-DSEP-017)"
                                                     ", unchanged")
    staged = StagingArea(governance_for().staging_root).find("2024-03")
    manifest = json.loads((staged.release_folder / "manifest.json").read_text())
    assert manifest["policy"] == published  # the very configuration reviewed for the pinned month
    assert manifest["series"]["pinned"]["review"] == "approvals only" and manifest["series"]["pinned"]["changes"] == []
    assert staged.full_review == ""
    dossier = (staged.internal_folder / "dossier.html").read_text(encoding="utf-8")
    assert "unchanged: every pinned target holds at it (approvals only)" in dossier

    # a changed target (an override the pinned release did not have): flagged, every approval a full review
    monkeypatch.setenv("PERSONATWIN_TARGET_RISK", "0.04")
    assert run_partition(defs(), instance, "2024-01").success
    review = configuration_review(instance)
    assert "changed from the configuration pinned from 2024-02" in review and "target_risk 0.05 -> 0.04" in review
    staged = StagingArea(governance_for().staging_root).find("2024-01")
    assert "target_risk 0.05 -> 0.04" in staged.full_review
    assert approve(["2024-01", "--approver", "reviewer-ben"]) == 2
    assert "approve with --full-review once the whole dossier is reviewed" in capsys.readouterr().err
    assert approve(["--list"]) == 0
    assert "[full review: changed from the configuration pinned from 2024-02" in capsys.readouterr().out
    assert approve(["2024-01", "--approver", "reviewer-ben", "--full-review"]) == 0
    flagged = json.loads((staged.internal_folder / "dossier.json").read_text())["items"][0]
    assert flagged["section"] == "Configuration" and flagged["status"] == "flag"

    # an unreviewed (staged, not published) period cannot be pinned
    monkeypatch.setenv("PERSONATWIN_POLICY_FROM", "2024-03")
    refused = run_partition(defs(), instance, "2024-01")
    assert not refused.success and "no release of 2024-03 is published" in failure_message(refused)


def test_the_demo_review_of_a_staging_it_already_approved_is_a_no_op(reviewed_defs, instance, reviewed):
    """Running the demo twice in one checkout: the second run finds its reviewers' approvals and adds none."""
    from personatwin_dag.demo import DEMO_REVIEWERS, demo_review

    assert run_partition(reviewed_defs, instance, PERIOD).success
    governance = reviewed_defs.resources["governance"]
    first = demo_review(governance, PERIOD)
    before = len(governance.log().decisions())
    assert demo_review(governance, PERIOD) == first and first.startswith("approved")
    assert len(governance.log().decisions()) == before == len(DEMO_REVIEWERS)

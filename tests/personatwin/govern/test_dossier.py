"""The disclosure-review dossier (issue 15): a checklist filled in from the release, Safe Harbor for health data,
the sign-off from the approval log, and a PDF export through headless Chromium that is not blank."""

from __future__ import annotations

import re
import zlib

import pytest

from personatwin.core.domains import get_domain
from personatwin.govern.approvals import APPROVE, ApprovalLog
from personatwin.govern.dossier import FLAG, OK, REVIEW, build_dossier, chromium, render_dossier, write_pdf
from tests.personatwin.govern.test_approvals import stage
from tests.personatwin.govern.test_safe_harbor import people_in_a_restricted_area, release  # noqa: F401 (fixture)

DOMAIN = get_domain("healthcare")


@pytest.fixture(scope="module")
def health_release(people_in_a_restricted_area):  # noqa: F811
    people, events = people_in_a_restricted_area
    return release(people, events, location_level=1)


def test_the_checklist_answers_from_the_release_and_flags_what_fails(health_release, tmp_path):
    log, staging = ApprovalLog(tmp_path / "log"), stage(tmp_path / "s1", period="2024-06", launched_by="ana")
    log.decide(staging, "ben", APPROVE, approval_id="CBDRB-FY25-DSEP-017", comment="cells checked")
    review = log.decide(staging, "cleo", APPROVE)
    dossier = build_dossier(health_release, DOMAIN, "2024-06", review=review,
                            earlier_releases=("healthcare/2024-05/v1",))
    by_question = {i.question: i for i in dossier.items}
    assert by_question["How detailed is zip published?"].answer.startswith("hierarchy level 1 of 3")
    assert by_question["Which earlier releases of the same population does it add to?"].answer == \
        "healthcare/2024-05/v1"
    assert by_question["Which public data could be linked to this release?"].status == REVIEW
    sections = {i.section for i in dossier.items}
    assert {"Quasi-identifiers", "Geography", "Top-coding", "Sensitive attributes", "Attacker model", "Targets",
            "Suppressions", "HIPAA Safe Harbor", "Sign-off"} <= sections
    flagged = [i.question for i in dossier.flagged]
    assert "geography: no area smaller than three ZIP digits; restricted ZIP3 areas as 000" in flagged
    assert "dates no finer than the year" in flagged
    targets = [i for i in dossier.items if i.section == "Targets"]
    assert len(targets) >= 3 and all(i.status in (OK, FLAG) for i in targets)
    signoff = by_question["Approvals (2 of 2 required)"]
    assert signoff.status == OK and "ben" in signoff.answer and "cleo" in signoff.answer
    assert by_question["Approval id"].answer == "CBDRB-FY25-DSEP-017"
    html = render_dossier(dossier)
    assert "<script" not in html and "http" not in html.replace("http-equiv", "")
    assert "CBDRB-FY25-DSEP-017" in html and "ZIP3 area 036" in html


def test_overlapping_public_data_comes_from_the_policy_and_pinning_from_the_release(health_release):
    from dataclasses import replace

    declared = replace(health_release, policy={**health_release.policy,
                                               "overlapping_public_data": ["state discharge file", "obituaries"]})
    by_question = {i.question: i for i in build_dossier(declared, DOMAIN, "2024-06").items}
    linked = by_question["Which public data could be linked to this release?"]
    assert (linked.answer, linked.status) == ("state discharge file; obituaries", OK)
    config = by_question["Is the configuration one a review already approved?"]
    assert config.status == OK and config.answer.startswith("not pinned")
    changed = replace(health_release, series={**health_release.series, "pinned": {
        "pinned_from": "2024-05", "pinned_version": 1, "pinned_release_id": "r", "pinned_approval_id": "CBDRB-9",
        "review": "full review", "changes": [{"field": "k", "pinned": 10, "released": 20}]}})
    config = {i.question: i for i in build_dossier(changed, DOMAIN, "2024-06").items}[config.question]
    assert config.status == FLAG and "k 10 -> 20 (full review)" in config.answer


def test_without_review_the_sign_off_waits(health_release):
    dossier = build_dossier(health_release, DOMAIN, "2024-06")
    assert [i.answer for i in dossier.items if i.section == "Sign-off"] == ["not yet reviewed"]


def _pdf_text_operators(pdf: bytes) -> int:
    """Text-showing operators (Tj / TJ) in the PDF's content streams, inflated where compressed."""
    count = 0
    for raw in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, flags=re.S):
        try:
            raw = zlib.decompress(raw)
        except zlib.error:
            pass
        count += len(re.findall(rb"\bT[jJ]\b", raw))
    return count


@pytest.mark.skipif(chromium() is None, reason="Chromium is not installed (.ci/run installs Debian's chromium)")
def test_the_pdf_export_is_not_blank(health_release, tmp_path):
    html = tmp_path / "dossier.html"
    html.write_text(render_dossier(build_dossier(health_release, DOMAIN, "2024-06")), encoding="utf-8")
    pdf = write_pdf(html, tmp_path / "dossier.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and b"/Type /Page" in pdf.replace(b"/Type/Page", b"/Type /Page")
    assert _pdf_text_operators(pdf) > 20  # the checklist's text is on the page


def test_the_dossier_keeps_as_json_and_takes_its_sign_off_later(health_release, tmp_path):
    from personatwin.govern.dossier import dossier_from_json, dossier_json, with_sign_off

    staged = build_dossier(health_release, DOMAIN, "2024-06")  # at staging: not yet reviewed
    again = dossier_from_json(dossier_json(staged))
    assert again == staged
    log, staging = ApprovalLog(tmp_path / "log"), stage(tmp_path / "s1", period="2024-06", launched_by="ana")
    log.decide(staging, "ben", APPROVE)
    signed = with_sign_off(again, log.decide(staging, "cleo", APPROVE))
    sign_off = [i for i in signed.items if i.section == "Sign-off"]
    assert [i.question for i in sign_off] == ["Approvals (2 of 2 required)", "Approval id"]
    assert len(signed.items) == len(staged.items) + 1  # the "not yet reviewed" line replaced, not kept

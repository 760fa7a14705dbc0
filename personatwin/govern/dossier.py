"""The disclosure-review dossier of a staged release: a checklist a review board signs, filled in from the release.

In the spirit of the FCSM/CDAC "Checklist on Disclosure Potential of Proposed Data Releases": what is
published and at what detail (quasi-identifiers, geography, top-coding), which sensitive attributes it holds
and how they are protected, which public data could overlap it, which earlier releases of the same
population it adds to, the attacker model, every target with its figure and verdict, every suppression with
its reason, HIPAA Safe Harbor for health data, and the sign-off (filled by the approval log). Items a machine
cannot settle (overlapping public data nobody declared) are marked for the reviewers. Internal: the dossier
names reviewers and sits with the internal report, never in a release folder. ``write_pdf`` prints it through
headless Chromium (no network, no extra package).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from personatwin.core.domains import Domain
from personatwin.govern.approvals import Review
from personatwin.govern.pinned import FULL_REVIEW, review_sentence
from personatwin.govern.safe_harbor import safe_harbor_of
from personatwin.measure.criteria import VERDICT_TARGETS, judge
from personatwin.publish.report import esc, verdict
from personatwin.release.tables import ReleaseTables

OK, FLAG, REVIEW = "ok", "flag", "review"  # settled, a problem, for the reviewers to settle


@dataclass(frozen=True)
class Item:
    """One checklist line: the question, the release's answer, and whether it is settled."""

    section: str
    question: str
    answer: str
    status: str = OK


@dataclass(frozen=True)
class Dossier:
    period: str
    release_id: str
    items: tuple[Item, ...]

    @property
    def flagged(self) -> tuple[Item, ...]:
        return tuple(i for i in self.items if i.status == FLAG)


def _levels(domain: Domain, policy: Mapping) -> list[Item]:
    out = []
    qi_levels = dict(policy.get("qi_levels") or {})
    for qi in domain.qis:
        level = int(policy.get("location_level", 0)) if qi == domain.location_qi else int(qi_levels.get(qi, 0))
        h = domain.hierarchy(qi)
        top = level >= h.n_levels - 1
        out.append(Item("Quasi-identifiers", f"How detailed is {qi} published?",
                        "not published (fully generalized)" if top else
                        f"hierarchy level {level} of {h.n_levels - 1} (0 = as collected); personas of at least "
                        f"k = {policy.get('k')} people share one value"))
    return out


def build_dossier(release: ReleaseTables, domain: Domain, period: str, *, review: Review | None = None,
                  overlapping_public_data: Sequence[str] | None = None,
                  earlier_releases: Sequence[str] = ()) -> Dossier:
    """The checklist of one staged release. ``earlier_releases``: the release ids of the same population already
    published (the series ledger); ``overlapping_public_data``: what could be linked to it (default: what the
    policy declares)."""
    policy, m = dict(release.policy), dict(release.metrics)
    if overlapping_public_data is None:
        overlapping_public_data = tuple(policy.get("overlapping_public_data") or ())
    pinned = release.series.get("pinned")
    items = [Item("Configuration", "Is the configuration one a review already approved?", review_sentence(pinned),
                  FLAG if pinned and pinned.get("review") == FULL_REVIEW else OK)]
    items += _levels(domain, policy)
    loc = domain.location_qi
    loc_level = int(policy.get("location_level") or 0)
    items.append(Item("Geography", "What is the finest geography published?",
                      "no geography in this domain" if not loc else
                      "none: locations are fully generalized" if loc_level >= domain.hierarchy(loc).n_levels - 1
                      else f"{loc} at hierarchy level {loc_level} (person and event locations alike)"))
    items.append(Item("Top-coding", "Are extreme values top-coded?",
                      "ages over 89 as one 90+ category; event amounts capped at a per-type quantile and rounded"
                      if "age" in domain.qis else "event amounts capped at a per-type quantile and rounded"))
    items.append(Item("Dates", "How precise are published dates?",
                      f"by {policy.get('date_precision')}, shifted per persona and blurred"))
    outcomes = ", ".join(f"{t}: {', '.join(o)}" for t, o in domain.event_types.items())
    items.append(Item("Sensitive attributes", "Which sensitive values are published, and how are they protected?",
                      f"event outcomes ({outcomes}) randomized by PRAM (p = {policy.get('pram_p')}, the matrix "
                      "published for unbiasing); person-level sensitive columns "
                      f"({', '.join(domain.sensitive) or 'none'}) as PRAM-randomized counts per persona; "
                      f"distinct l = {policy.get('l_diversity')}, t <= {policy.get('max_t_closeness')}"))
    items.append(Item("Overlapping public data", "Which public data could be linked to this release?",
                      "; ".join(overlapping_public_data) if overlapping_public_data else
                      "none declared in the policy (PERSONATWIN_OVERLAPPING_PUBLIC_DATA): reviewers confirm none "
                      "exists",
                      OK if overlapping_public_data else REVIEW))
    items.append(Item("Earlier releases", "Which earlier releases of the same population does it add to?",
                      ", ".join(earlier_releases) if earlier_releases else "none: the first of its series",
                      OK))
    items.append(Item("Attacker model", "Whom is the release protected against?",
                      f"an attacker knowing every quasi-identifier and {policy.get('attacker_knowledge')} events "
                      f"of a target (simulated linkage, {int(m.get('linkage_targets') or 0)} targets); "
                      + ("an independent Anonymeter evaluation (singling out, linkability, inference) gated at "
                         f"{policy.get('anonymeter_max_risk')}" if policy.get("anonymeter_max_risk") is not None
                         else "no independent attack evaluation at this level")))
    for outcome in judge(m, policy, VERDICT_TARGETS):
        items.append(Item("Targets", outcome.metric.replace("_", " "), outcome.verdict, OK if outcome.passed else FLAG))
    v = verdict(m, policy)
    items.append(Item("Targets", "Verdict", f"{v.code}: {v.label}", OK if not v.problems else FLAG))
    items.append(Item("Suppressions", "What was suppressed, and why?",
                      f"{int(release.suppressed_events)} events not released; in the reports, group cells of "
                      f"fewer than {policy.get('small_cell_people')} people hidden (and cells that would give "
                      "them back by subtraction)"))
    if domain.name == "healthcare":
        for rule in safe_harbor_of(release, domain):
            items.append(Item("HIPAA Safe Harbor", rule.rule, rule.detail, OK if rule.passed else FLAG))
    return with_sign_off(Dossier(period, release.release_id, tuple(items)), review)


def with_sign_off(dossier: Dossier, review: Review | None) -> Dossier:
    """The dossier with its sign-off from the approval log (replacing any earlier one)."""
    items = [i for i in dossier.items if i.section != "Sign-off"]
    if review is None:
        items.append(Item("Sign-off", "Approvals", "not yet reviewed", REVIEW))
    else:
        signed = "; ".join(f"{d.reviewer}, {d.at}" + (f" ({d.comment})" if d.comment else "") for d in review.approvals)
        items.append(Item("Sign-off", f"Approvals ({len(review.approvals)} of {review.required} required)",
                          signed or "none yet", OK if review.complete else REVIEW))
        items.append(Item("Sign-off", "Approval id", review.approval_id or "none given", OK))
        if review.rejection is not None:
            items.append(Item("Sign-off", "Rejection", f"{review.rejection.reviewer}, {review.rejection.at}: "
                                                        f"{review.rejection.comment}", FLAG))
    return replace(dossier, items=tuple(items))


def dossier_json(dossier: Dossier) -> str:
    """The dossier as JSON (kept with the staging, so the sign-off can be added without the release tables)."""
    return json.dumps(asdict(dossier), indent=1, sort_keys=True)


def dossier_from_json(text: str) -> Dossier:
    d = json.loads(text)
    return Dossier(d["period"], d["release_id"], tuple(Item(**i) for i in d["items"]))


def render_dossier(dossier: Dossier) -> str:
    """The dossier as a self-contained HTML page (no script, no external resource)."""
    rows, section = [], None
    for item in dossier.items:
        if item.section != section:
            section = item.section
            rows.append(f"<tr class='section'><th colspan='3'>{esc(section)}</th></tr>")
        rows.append(f"<tr class='{item.status}'><td>{esc(item.question)}</td><td>{esc(item.answer)}</td>"
                    f"<td>{esc(item.status)}</td></tr>")
    flagged = len(dossier.flagged)
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline'\">"
            f"<title>Disclosure review dossier: {esc(dossier.period)}</title><style>"
            "body{font:14px/1.4 sans-serif;margin:2em}table{border-collapse:collapse;width:100%}"
            "td,th{border:1px solid #bbb;padding:4px 8px;text-align:left;vertical-align:top}"
            "tr.section th{background:#eee}tr.flag td{background:#fde2e2}tr.review td{background:#fff4d6}"
            "</style></head><body>"
            f"<h1>Disclosure review dossier: {esc(dossier.period)}</h1>"
            f"<p>Release {esc(dossier.release_id)}. Internal: names reviewers; never published. "
            f"{flagged} item(s) flagged.</p><table id='checklist'><tr><th>Question</th><th>Answer</th>"
            "<th>Status</th></tr>" + "".join(rows) + "</table></body></html>\n")


def chromium() -> str | None:
    """Debian's headless Chromium, if installed."""
    for candidate in (shutil.which("chromium"), "/usr/bin/chromium", shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def write_pdf(html_path: Path, pdf_path: Path, timeout: float = 120.0) -> Path:
    """Print an HTML file to PDF with headless Chromium (offline: a local file, networking disabled)."""
    browser = chromium()
    if browser is None:
        raise RuntimeError("the PDF export needs Chromium (Debian package chromium); the HTML dossier is at "
                           f"{html_path}")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={profile}", "--no-pdf-header-footer",
                        f"--print-to-pdf={Path(pdf_path).resolve()}", Path(html_path).resolve().as_uri()],
                       check=True, capture_output=True, timeout=timeout)
    return Path(pdf_path)

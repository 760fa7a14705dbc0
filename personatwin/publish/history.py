"""The history page: ``<releases root>/index.html`` across every released partition.

``write_index(root)`` reads each ``<root>/<partition>/manifest.json`` and writes one self-contained
page (inline CSS and SVG, no script, no network, like the privacy report) with trend charts of the
release risk, k and attribute disclosure (published figures only) per partition and a table
linking each ``<partition>/privacy_report.html``
with its verdict. Only published partitions count: hidden folders (a release being staged) and
folders without a manifest are skipped. The page depends on the manifests' figures only (no clock,
no absolute path), and is replaced atomically (temporary file + ``os.replace``) under a lock, so
concurrent partition runs never leave a half-written or stale index behind.
"""

from __future__ import annotations

import json
import os
import uuid
from contextlib import contextmanager
from pathlib import Path

from personatwin.core.policy import INTERNAL_RISK, PUBLIC_RISK, RESEARCH_RISK
from personatwin.core.version import __version__
from personatwin.publish import charts
from personatwin.publish.charts import RefLine, Series
from personatwin.publish.report import CSP, CSS, esc, fmt, verdict

INDEX_NAME = "index.html"
REPORT_NAME = "privacy_report.html"
SECTION_IDS = ("trends", "releases")


def read_manifests(root) -> list[dict]:
    """The manifest of each published partition under ``root``, sorted by partition key."""
    root = Path(root)
    out: list[dict] = []
    if not root.is_dir():
        return out
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        path = folder / "manifest.json"
        if not path.is_file():
            continue
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            manifest = {"unreadable": True}
        manifest.setdefault("partition", folder.name)
        manifest["_folder"] = folder.name
        out.append(manifest)
    return out


def _num(m: dict, key: str):
    v = (m.get("metrics") or {}).get(key)
    return None if v is None else float(v)


def _approval(m: dict) -> str:
    """The approval state a published manifest carries: the approval id and how many approved, or none."""
    a = m.get("approval") or {}
    if not a.get("approval_id"):
        return "published without disclosure review"
    return (f"<span class='approval'>{esc(a['approval_id'])}</span> ({esc(a.get('approvals'))} of "
            f"{esc(a.get('required'))} approvals, {esc(a.get('approved_at'))})")


def render_index(manifests: list[dict]) -> str:
    """The history page as an HTML string."""
    good = [m for m in manifests if not m.get("unreadable") and m.get("metrics")]
    labels = [m["_folder"] for m in good]
    parts = []
    if good:
        risk = [_num(m, "release_risk") for m in good]
        top = max([r for r in risk if r is not None] + [0.0])
        targets = sorted({float(m["policy"]["target_risk"]) for m in good if "target_risk" in (m.get("policy") or {})})
        refs = [RefLine(v, f"target {v:g}") for v in targets]
        refs += [RefLine(v, f"{name} {v:g}") for v, name in ((PUBLIC_RISK, "public"), (RESEARCH_RISK, "research"),
                                                              (INTERNAL_RISK, "internal"))
                 if v not in targets and v <= 1.5 * max(top, max(targets, default=0.0))]
        parts.append(charts.line_chart(
            "chart-risk-trend", "Release risk per partition (the larger of population average and external linkage "
            "risk) with both components; dashed lines are the policy target and the reference thresholds.",
            labels, [Series("release risk", risk),
                     Series("population average risk", [_num(m, "population_average_risk") for m in good]),
                     Series("external linkage risk", [_num(m, "external_linkage_risk") for m in good])],
            x_label="partition", y_label="risk", ref_lines=refs, title="Release risk per partition", label_series=[0]))
        parts.append(charts.line_chart(
            "chart-k-trend", "k-anonymity achieved per partition (smallest number of people sharing a published QI "
            "combination) and the k the released policy required.",
            labels, [Series("k achieved", [_num(m, "k_anonymity") for m in good]),
                     Series("policy k", [float((m.get("policy") or {}).get("k", "nan")) for m in good])],
            x_label="partition", y_label="people", title="k per partition", label_series=[0]))
        parts.append(charts.line_chart(
            "chart-disclosure-trend", "Attribute disclosure per partition: the persona single-out rate (share of "
            "simulated attackers left with exactly the target's persona) and t-closeness (largest distance of a "
            "persona's true outcome mix per event type from the overall mix).",
            labels, [Series("persona single-out rate", [_num(m, "persona_single_out_rate") for m in good]),
                     Series("t-closeness", [_num(m, "t_closeness") for m in good])],
            x_label="partition", y_label="share / distance", title="Attribute disclosure per partition"))
    else:
        parts.append("<p>No published release yet.</p>")
    rows = []
    for m in manifests:
        folder = m["_folder"]
        link = f"<a href='{esc(folder)}/{REPORT_NAME}'>{esc(folder)}</a>"
        if m.get("unreadable") or not m.get("metrics"):
            rows.append(f"<tr><td>{link}</td><td class='fail' colspan='11'>manifest unreadable</td></tr>")
            continue
        v = verdict(m["metrics"], m.get("policy") or {})
        pol = m.get("policy") or {}
        rows.append(
            f"<tr><th scope='row'>{link}</th>"
            f"<td class='{'fail' if v.problems or v.code.startswith('NOT') else 'pass'}'>"
            f"{esc(v.code)}</td><td class='num'>{fmt(_num(m, 'release_risk'))}</td>"
            f"<td>{esc(v.binding_metric.replace('_', ' '))}</td><td class='num'>{fmt(pol.get('target_risk'))}</td>"
            f"<td class='num'>{fmt(_num(m, 'k_anonymity'))} / {fmt(pol.get('k'))}</td>"
            f"<td class='num'>{fmt(_num(m, 'n_people'))}</td><td class='num'>{fmt(_num(m, 'n_personas'))}</td>"
            f"<td class='num'>{fmt(_num(m, 'n_events'))}</td>"
            f"<td class='num'>{fmt(_num(m, 'persona_single_out_rate'), 3)}</td>"
            f"<td class='num'>{fmt(len(m.get('history') or []))}</td><td>{_approval(m)}</td></tr>")
    table = ("<div class='scroll'><table><thead><tr><th>partition (report)</th><th>verdict</th><th>release risk</th>"
             "<th>binding metric</th><th>target</th><th>k / policy k</th><th>people</th><th>personas</th>"
             "<th>events</th>"
             "<th>single-out rate</th><th>loop iterations</th><th>approval</th></tr></thead><tbody>" + "".join(rows)
             + "</tbody></table></div>")
    verdicts = [verdict(m["metrics"], m.get("policy") or {}).code for m in good]
    summary = (f"{len(manifests)} released partition(s)" + (f", {labels[0]} to {labels[-1]}" if labels else "")
               + "".join(f"; {verdicts.count(c)} {esc(c)}" for c in sorted(set(verdicts))) + ".")
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>PersonaTwin releases</title><style>{CSS}</style></head>\n<body>\n"
            f"<header><h1>PersonaTwin releases</h1><p class='sub'>{summary}</p>"
            "<nav class='toc' aria-label='sections'><a href='#trends'>Trends</a><a href='#releases'>Releases</a></nav>"
            "</header><main>\n"
            "<section id='trends'><h2>Trends</h2>" + "\n".join(parts) + "</section>\n"
            "<section id='releases'><h2>Releases</h2><p>Each partition links to its privacy report; the verdict "
            "bands are public release &le; 0.01, research &le; 0.05, internal use &le; 0.15 release risk, and "
            "any missed target makes a release not safe.</p>" + table + "</section>\n"
            f"</main><footer>PersonaTwin {esc(__version__)}. Aggregates only; this page loads nothing from the "
            "network and runs no script.</footer>\n</body></html>\n")


@contextmanager
def _locked(root: Path):
    """An exclusive lock on ``<root>/.index.lock`` (POSIX), so concurrent runs write the index in turn."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(root / ".index.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def write_index(releases_root) -> Path:
    """Write ``<releases_root>/index.html`` from every published partition's manifest; returns its path."""
    root = Path(releases_root)
    root.mkdir(parents=True, exist_ok=True)
    target = root / INDEX_NAME
    with _locked(root):
        text = render_index(read_manifests(root))
        tmp = root / f".{INDEX_NAME}.tmp-{uuid.uuid4().hex}"
        try:
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                tmp.unlink()
    return target

"""The HTML privacy report of a release: one self-contained file, no scripts, no network."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from personatwin.release import METRIC_MEANINGS, Release

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:70rem;color:#1d232a}
h1{margin-bottom:.2rem} .verdict{padding:1rem;border-radius:.5rem;font-size:1.2rem;margin:1rem 0}
.ok{background:#e3f4e8;border:1px solid #2e7d4f} .no{background:#fde8e8;border:1px solid #b3261e}
table{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.9rem} td,th{border:1px solid #ccd;padding:.25rem .5rem;text-align:left}
th{background:#eef1f5} td.num{text-align:right;font-variant-numeric:tabular-nums}
@media print{body{margin:0}}
"""


def _table(df: pd.DataFrame, max_rows: int = 200) -> str:
    df = df.head(max_rows)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for rec in df.itertuples(index=False):
        cells = []
        for v in rec:
            if isinstance(v, float):
                cells.append(f'<td class="num">{v:.4g}</td>')
            else:
                cells.append(f"<td>{html.escape(str(v))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def render_report(result: Release) -> str:
    """The report as an HTML string."""
    r = result.risk_metrics.as_dict()
    level = result.risk_level()
    ok = result.is_safe_for_research()
    metrics = pd.DataFrame([
        {"metric": name, "value": (float("nan") if r.get(name) is None else float(r[name])),
         "threshold": (result.policy.target_risk if name in ("release_risk", "population_average_risk",
                                                           "external_linkage_risk") else
                       (float(result.policy.k) if name == "k_anonymity" else
                        (float(result.policy.l_diversity) if name == "l_diversity_distinct" else float("nan")))),
         "meaning": meaning}
        for name, meaning in METRIC_MEANINGS.items()])
    pram = result.pram.pi.assign(p=result.pram.p)
    gated = result.utility.group_rates
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>PersonaTwin privacy report</title>", f"<style>{CSS}</style></head><body>",
        f"<h1>PersonaTwin privacy report</h1><p>Domain {html.escape(result.domain.name)}; "
        f"{result.risk_metrics.n_people:,} people in {len(result.personas):,} personas; "
        f"{len(result.events):,} events.</p>",
        f"<div class='verdict {'ok' if ok else 'no'}'><strong>{html.escape(level)}</strong>: release risk "
        f"{result.release_risk:.4f} against target {result.policy.target_risk}; every persona has at least "
        f"{result.risk_metrics.k_anonymity} people in its equivalence class.</div>",
        "<h2>Risk metrics</h2>", _table(metrics),
        "<h2>Privacy loop</h2>", _table(result.history_frame()),
        "<h2>Parameters</h2>", _table(pd.DataFrame([result.policy.parameters()]).astype(str)),
        "<h2>Outcome rates per group (original vs release after unbiasing)</h2>", _table(gated),
        "<h2>How to unbias outcome rates</h2>",
        f"<p>Outcomes were randomized with invariant PRAM: each kept with probability p = {result.pram.p}, "
        "otherwise drawn from the marginal pi of its event type. For an observed rate r of outcome o in "
        f"event type t: true rate = (r - (1 - p) * pi[t, o]) / p, standard error sqrt(r (1 - r) / N) / p.</p>",
        _table(pram),
        "<h2>Event counts by type and period</h2>", _table(result.utility.event_counts),
        "</body></html>",
    ]
    return "\n".join(parts)


def write_report(result: Release, path) -> str:
    """Write the report to ``path``; returns the path as text."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(result), encoding="utf-8")
    return str(path)

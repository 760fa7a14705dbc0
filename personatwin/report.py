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


def render_report_tables(tables: dict[str, pd.DataFrame], partition: str = "") -> str:
    """The report as an HTML string, from the tables of ``export.release_tables``."""
    import json

    from personatwin.risk import risk_level

    m = tables["metrics"].iloc[0].to_dict()
    params = tables["parameters"].iloc[0].to_dict()
    policy = json.loads(params["policy"])
    level = risk_level(m["release_risk"])
    ok = m["release_risk"] <= policy["target_risk"] and m["k_anonymity"] >= policy["k"]
    thresholds = {"release_risk": policy["target_risk"], "population_average_risk": policy["target_risk"],
                  "external_linkage_risk": policy["target_risk"], "k_anonymity": float(policy["k"]),
                  "l_diversity_distinct": float(policy["l_diversity"])}
    metrics = pd.DataFrame([{"metric": name, "value": float(m.get(name, float("nan")) if m.get(name) is not None else float("nan")),
                             "threshold": float(thresholds.get(name, float("nan"))), "meaning": meaning}
                            for name, meaning in METRIC_MEANINGS.items()])
    pram = tables["pram"]
    p = float(pram["p"].iloc[0]) if len(pram) else float("nan")
    title = "PersonaTwin privacy report" + (f" - {html.escape(partition)}" if partition else "")
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{title}</title>", f"<style>{CSS}</style></head><body>",
        f"<h1>{title}</h1><p>Domain {html.escape(str(params['domain']))}; "
        f"{int(m['n_people']):,} people in {int(m['n_personas']):,} personas; {int(m['n_events']):,} events.</p>",
        f"<div class='verdict {'ok' if ok else 'no'}'><strong>{html.escape(level)}</strong>: release risk "
        f"{m['release_risk']:.4f} against target {policy['target_risk']}; every published QI combination is "
        f"shared by at least {int(m['k_anonymity'])} people.</div>",
        "<h2>Risk metrics</h2>", _table(metrics),
        "<h2>Privacy loop</h2>", _table(tables["history"]),
        "<h2>Parameters</h2>", _table(pd.DataFrame([policy]).astype(str)),
        "<h2>Outcome rates per group (original vs release after unbiasing)</h2>", _table(tables["group_rates"]),
        "<h2>Disparity ratios (adverse outcomes, relative to the largest group)</h2>", _table(tables["disparity"]),
        "<h2>How to unbias outcome rates</h2>",
        f"<p>Outcomes were randomized with invariant PRAM: each kept with probability p = {p}, otherwise drawn "
        "from the marginal pi of its event type. For an observed rate r of outcome o in event type t over N "
        "events: true rate = (r - (1 - p) * pi[t, o]) / p, standard error sqrt(r (1 - r) / N) / p.</p>",
        _table(pram),
        "<h2>Event counts by type and period</h2>", _table(tables["event_counts"]),
        "</body></html>",
    ]
    return "\n".join(parts)


def render_report(result: Release) -> str:
    """The report of a release object as an HTML string."""
    from personatwin.export import release_tables

    return render_report_tables(release_tables(result))


def write_report(result: Release, path) -> str:
    """Write the report to ``path``; returns the path as text."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(result), encoding="utf-8")
    return str(path)

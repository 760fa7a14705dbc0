"""The HTML privacy report, its charts and the release index, without a browser.

The report must be one self-contained, script-free, deterministic file with every section and chart,
the numbers filled in (verdict, thresholds, the PRAM worked example) and no person-level data.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import personatwin as pt
from personatwin.ingest import synth
from personatwin.measure.glossary import METRIC_MEANINGS
from personatwin.publish import charts
from personatwin.publish.charts import Point, RefLine, Series
from personatwin.publish.export import write_release_folder
from personatwin.publish.history import read_manifests, render_index, write_index
from personatwin.publish.report import (
    INTERNAL_SECTION_IDS,
    SECTION_IDS,
    render_internal_report,
    render_report,
    report_verdict,
    verdict,
)
from personatwin.release.tables import ReleaseTables

KEY = "report-test-key-0123456789abcdef"
CHART_MARK = re.compile(r'class="(bar|pt|series)"')


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return synth.flat(synth.generate("criminal_justice", 3000, start="2024-01-01", end="2024-03-31", seed=5))


@pytest.fixture(scope="module")
def release(data):
    """A release whose privacy loop needs several iterations (low level, public target)."""
    return pt.create_safe_personas(data, privacy_level="low", domain="criminal_justice", target_risk=0.01, key=KEY)


@pytest.fixture(scope="module")
def tables(release) -> ReleaseTables:
    return release.tables()


@pytest.fixture(scope="module")
def report(tables) -> str:
    return render_report(tables, partition="2024-Q1")


@pytest.fixture(scope="module")
def internal(tables) -> str:
    return render_internal_report(tables, partition="2024-Q1")


def section(report: str, sid: str) -> str:
    start = report.index(f'<section id="{sid}">')
    return report[start:report.index("</section>", start)]


def figure(report: str, fid: str) -> str:
    start = report.index(f'<figure class="chart" id="{fid}">')
    return report[start:report.index("</figure>", start)]


@pytest.mark.parametrize("which", ["published", "internal"])
def test_every_section_and_chart_is_present(report, internal, tables, which):
    text, ids = (report, SECTION_IDS) if which == "published" else (internal, INTERNAL_SECTION_IDS)
    assert text.startswith("<!DOCTYPE html>")
    for sid in ids:
        assert text.count(f'<section id="{sid}">') == 1, sid
    attrs = sorted(tables.group_rates["attribute"].astype(str).unique())
    expected = ["chart-loop", "chart-event-counts", "chart-persona-sizes"]
    expected += ["chart-tradeoff"] if which == "internal" else []
    expected += [f"chart-rates-{a.lower().replace(' ', '-')}" for a in attrs]
    found = re.findall(r'<figure class="chart" id="([^"]+)">', text)
    assert sorted(found) == sorted(expected)
    for fid in found:
        fig = figure(text, fid)
        assert '<svg role="img"' in fig and f'<title id="{fid}-title">' in fig and "<figcaption>" in fig
        assert CHART_MARK.search(fig), f"{fid} draws nothing"
    assert "@media print" in text


def test_report_is_self_contained_and_script_free(report):
    lower = report.lower()
    for banned in ("<script", "http://", "https://", "//cdn", "<link", "<img", "<iframe", "@import", "url(", " src=",
                   "javascript:", " on"):
        if banned == " on":  # no inline event handler (onload=, onclick=, ...)
            assert not re.search(r"<[^>]+\son[a-z]+\s*=", lower), "inline event handler"
        else:
            assert banned not in lower, banned
    assert "content-security-policy" in lower and "default-src 'none'" in report


@pytest.mark.parametrize("which", ["published", "internal"])
def test_no_person_level_data_in_the_report(report, internal, data, release, which):
    report = report if which == "published" else internal
    for pid in data["person_id"].astype(str).unique():
        assert pid not in report
    for persona_id in release.personas.to_dataframe()["persona_id"].astype(str):
        assert persona_id not in report
    dates = set()
    for col in ("event_date", "birth_date", "end_date"):
        if col in data:
            dates |= set(pd.to_datetime(data[col]).dropna().dt.strftime("%Y-%m-%d"))
    leaked = [d for d in dates if d in report]
    assert not leaked, leaked[:5]
    assert not re.search(r"\b\d{4}-\d{2}-\d{2}\b", report)  # no exact date at all
    zips = set(data["zip"].astype(str))
    numbers = set(re.findall(r"(?<![\d.,])\d{5}(?![\d])", report))
    assert not (zips & numbers), sorted(zips & numbers)[:5]


def test_report_is_deterministic(tables, data, report):
    assert render_report(tables, partition="2024-Q1") == report
    again = pt.create_safe_personas(data, privacy_level="low", domain="criminal_justice", target_risk=0.01, key=KEY)
    assert render_report(again, partition="2024-Q1") == report
    other = pt.create_safe_personas(data, privacy_level="low", domain="criminal_justice", target_risk=0.01,
                                    key=KEY + "-other")
    assert render_report(other.tables(), partition="2024-Q1") != report  # noise follows the key


def test_verdict_names_level_thresholds_and_binding_metric(report, release, tables):
    v = report_verdict(tables)
    assert v.code == release.risk_level() == "SAFE_FOR_PUBLIC_RELEASE"
    block = section(report, "verdict")
    assert "SAFE_FOR_PUBLIC_RELEASE" in block and "(the binding metric)" in block
    binding = "external linkage risk" if release.risk.external_linkage_risk > release.risk.population_average_risk \
        else "population average risk"
    assert f"is the {binding} (the binding metric)" in block
    assert f"{release.release_risk:.4f}" in block and "Meets the policy target risk 0.01" in block


@pytest.mark.parametrize("risk, link, k, code", [
    (0.005, 0.002, 10, "SAFE_FOR_PUBLIC_RELEASE"),
    (0.03, 0.04, 10, "SAFE_FOR_RESEARCH"),
    (0.12, 0.01, 10, "INTERNAL_USE_ONLY"),
    (0.30, 0.01, 10, "NOT_SAFE_FOR_RELEASE"),
    (0.005, 0.001, 3, "NOT_SAFE_FOR_RELEASE"),  # low risk but k below the policy's
])
def test_verdict_bands(risk, link, k, code):
    metrics = {"population_average_risk": risk, "external_linkage_risk": link, "release_risk": max(risk, link),
               "k_anonymity": k, "l_diversity_distinct": 3, "events_preserved": 1.0, "utility_gate_failures": 0.0}
    v = verdict(metrics, {"k": 5, "target_risk": 0.2, "l_diversity": 2})
    assert v.code == code
    assert v.binding_metric == ("external_linkage_risk" if link > risk else "population_average_risk")
    md = v.markdown("2024-01")
    assert md.startswith(f"**{code}** (2024-01)")
    if k < 5:
        assert any("k-anonymity 3 < policy k = 5" in p for p in v.problems)


def test_metrics_table_has_value_threshold_status_and_meaning(report, release):
    block = section(report, "metrics")
    for name, meaning in METRIC_MEANINGS.items():
        assert f"<th scope='row'>{name}</th>" in block, name
        assert html.escape(meaning, quote=True) in block, name
    row = block[block.index("<th scope='row'>release_risk</th>"):]
    row = row[:row.index("</tr>")]
    assert f"{release.release_risk:.4f}" in row and "&lt;= 0.0100" in row and ">pass<" in row
    row = block[block.index("<th scope='row'>k_anonymity</th>"):]
    assert f"&gt;= {release.policy.k}" in row[:row.index("</tr>")]


def test_loop_and_tradeoff_charts_have_one_point_per_iteration(report, internal, release):
    n = release.iterations
    assert n > 1
    loop = figure(report, "chart-loop")
    assert len(re.findall(r'class="pt"', loop)) == n  # published: release risk only
    loop = figure(internal, "chart-loop")
    assert len(re.findall(r'class="pt"', loop)) == 2 * n  # internal: release risk and information loss
    assert len(re.findall(r'class="series"', loop)) == 2
    trade = figure(internal, "chart-tradeoff")
    assert len(re.findall(r'class="pt"', trade)) == n
    assert trade.count('r="7"') == 1  # the released configuration, highlighted
    steps = section(report, "loop")
    for it in release.history:
        assert html.escape(it.step) in steps


def test_event_count_and_persona_size_charts_match_the_tables(report, tables):
    ec = tables.event_counts
    bars = re.findall(r'class="bar"', figure(report, "chart-event-counts"))
    assert len(bars) == int((ec["released"] > 0).sum())
    sizes = tables.personas["size"]
    assert sizes.max() - sizes.min() < 30
    hist = figure(report, "chart-persona-sizes")
    assert len(re.findall(r'class="bar"', hist)) == sizes.nunique()
    for size, count in sizes.value_counts().items():
        assert f"<title>{size:,}: {count:,}</title>" in hist


def test_group_rates_use_the_adverse_outcomes_and_suppress_small_cells(tables, report, internal):
    adverse = tables.adverse_outcomes  # the release says which outcomes its disparity ratios count
    assert adverse == {t: tuple(o for o in outs if o in pt.get_domain("criminal_justice").adverse_outcomes)
                       for t, outs in adverse.items()} and adverse
    assert set(adverse) == set(tables.disparity["event_type"].astype(str))
    block = section(internal, "group-rates")
    assert "disparity original" in block and "disparity released" in block
    assert "original" not in section(report, "group-rates").replace("original data", "")
    assert "released rate (unbiased)" in section(report, "group-rates")
    # a group of three people: its original rate is not shown, nor is the complement that would give it back
    rates = tables.group_rates.copy()
    tiny = rates.iloc[[0]].assign(group="Tiny", people_original=3, n_original=3, n_released=3,
                                  original_rate=0.987654, gate="none")
    altered = dataclasses.replace(tables, group_rates=pd.concat([rates, tiny], ignore_index=True))
    text = render_internal_report(altered)
    assert "Tiny" in text and "98.77%" not in text
    tiny_rows = re.findall(r"<tr><td>sex</td><td>Tiny</td>.*?</tr>", text)
    assert tiny_rows and all("suppressed" in row for row in tiny_rows)


def test_unbias_section_fills_in_p_pi_and_a_worked_example(report, tables, release):
    block = section(report, "unbias")
    p = release.pram.p
    assert f"p = {p:g}" in block and f"{1 - p:.4g}" in block
    m = re.search(r"true rate &asymp; \(([\d.]+) &minus; ([\d.]+) &times; ([\d.]+)\) / ([\d.]+) = "
                  r".*?<strong>(-?[\d.]+)</strong>", block)
    assert m, block[:2000]
    r_obs, shift_p, pi, p_shown, result = map(float, m.groups())
    assert p_shown == p and abs(shift_p - (1 - p)) < 1e-9
    assert abs((r_obs - (1 - p) * pi) / p - result) < 2e-4
    # the example is a real row of the release: its unbiased rate and pi are the published ones
    rates = tables.group_rates
    assert (np.round(rates["unbiased_rate"], 4) == result).any()
    assert (np.round(tables.pram["probability"], 4) == pi).any()
    for _t, o, prob in tables.pram[["event_type", "outcome", "probability"]].itertuples(index=False):
        assert f"<td>{html.escape(str(o))}</td><td class=\"num\">{prob:.4f}</td>" in block


def test_unbias_recipe_runs_on_a_release_folder(tmp_path, tables, report, data):
    """The pandas snippet of the report, run as printed in the release folder, recovers the input rates."""
    write_release_folder(tables, tmp_path, partition="2024-Q1")
    block = section(report, "unbias")
    code = html.unescape(re.search(r"<pre><code>(.*?)</code></pre>", block, re.S).group(1))
    code += '\nprint(true.rename_axis(["t", "o"]).reset_index(name="rate").to_json(orient="records"))\n'
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    true = {(r["t"], r["o"]): r["rate"] for r in json.loads(out.stdout)}
    original = data.groupby("event_type", observed=True)["outcome"].value_counts(normalize=True)
    compared = 0
    for (t, o), rate in original.items():
        if rate > 0:
            assert abs(true[(t, o)] - rate) < 0.03, (t, o, true[(t, o)], rate)
            compared += 1
    assert compared == len(tables.pram)


# --- charts ---------------------------------------------------------------------------------------------

def test_chart_functions_draw_one_mark_per_value_and_escape_text():
    hb = charts.hbar_chart("c1", "cap <b>&", ["a<x>", "b", "c"], [Series("original", [0.1, 0.2, 0.3]),
                                                                   Series("released", [0.1, None, 0.25])],
                           x_label="rate", percent=True)
    assert len(CHART_MARK.findall(hb)) == 5  # one value missing: drawn as n/a
    assert "a&lt;x&gt;" in hb and "cap &lt;b&gt;&amp;" in hb and "<b>" not in hb
    grouped = charts.bar_chart("c2", "events", ["2024-01", "2024-02"],
                               [Series("arrest", [5, 6]), Series("charge", [1, 0]), Series("hearing", [2, 3])],
                               x_label="period", y_label="events")
    assert len(CHART_MARK.findall(grouped)) == 5  # zero counts draw no bar
    stacked = charts.bar_chart("c3", "events", ["a", "b"], [Series("x", [1, 2]), Series("y", [3, 4])],
                               x_label="p", y_label="n", stacked=True)
    assert len(CHART_MARK.findall(stacked)) == 4
    hist = charts.histogram("c4", "sizes", [3, 3, 4, 5, 5, 5], x_label="size")
    assert len(CHART_MARK.findall(hist)) == 3 and "<title>5: 3</title>" in hist
    wide = charts.histogram("c5", "sizes", list(range(1, 1000)), x_label="size", max_bins=20)
    assert 1 < len(CHART_MARK.findall(wide)) <= 20
    line = charts.line_chart("c6", "loop", [1, 2, 3, 4], [Series("risk", [0.2, 0.1, None, 0.01]),
                                                           Series("loss", [10, 12, 15, 20], axis="right")],
                             x_label="iteration", y_label="risk", y2_label="loss",
                             ref_lines=[RefLine(0.05, "target")])
    assert line.count('class="pt"') == 7 and line.count('class="series"') == 2 and 'class="ref"' in line
    scatter = charts.scatter_chart("c7", "trade-off", [Point(1, 0.2, "#1"), Point(2, 0.1, "#2"),
                                                       Point(3, 0.01, "#3", True)], x_label="loss", y_label="risk")
    assert scatter.count('class="pt"') == 3 and scatter.count('r="7"') == 1
    for svg in (hb, grouped, stacked, hist, wide, line, scatter):
        assert svg.startswith('<figure class="chart" id="c') and '<svg role="img"' in svg and "http" not in svg
    empty = charts.line_chart("c8", "nothing", [], [], x_label="x", y_label="y")
    assert "no data" in empty and not CHART_MARK.search(empty)


def test_crowded_labels_are_placed_without_hanging():
    """Coinciding points (same value on both series, or many identical scatter points) still render."""
    same = [0.15, 0.15, 0.15, 0.15]
    line = charts.line_chart("c9", "flat", [1, 2, 3, 4], [Series("a", same), Series("b", same), Series("c", same)],
                             x_label="i", y_label="v")
    assert line.count('class="pt"') == 12
    scatter = charts.scatter_chart("c10", "pile", [Point(1, 0.1, f"#{i} step") for i in range(30)],
                                   x_label="x", y_label="y")
    assert scatter.count('class="pt"') == 30


def test_nice_ticks_cover_the_data():
    for lo, hi in [(0, 0.1728), (0, 1), (17, 21), (0, 30710), (0, 0.0121), (-3, 5), (2, 2)]:
        ticks = charts.nice_ticks(lo, hi)
        assert ticks[0] <= lo and ticks[-1] >= hi and len(ticks) <= 12, (lo, hi, ticks)


# --- the release index ----------------------------------------------------------------------------------

def test_index_lists_every_published_partition_with_trends(tmp_path, tables):
    root = tmp_path / "releases"
    for key in ("2024-01", "2024-02", "2024-03"):
        write_release_folder(tables, root / key, partition=key, created_at="2024-04-01T00:00:00+00:00")
    (root / ".2024-04.tmp-abc").mkdir()  # a release being staged
    (root / "2024-05").mkdir()  # a folder without manifest (not published)
    path = write_index(root)
    assert path == root / "index.html"
    text = path.read_text()
    assert [m["_folder"] for m in read_manifests(root)] == ["2024-01", "2024-02", "2024-03"]
    for key in ("2024-01", "2024-02", "2024-03"):
        assert f"href='{key}/privacy_report.html'" in text
    assert "2024-04" not in text and "2024-05" not in text
    for fid in ("chart-risk-trend", "chart-k-trend", "chart-disclosure-trend"):
        fig = figure(text, fid)
        assert fig.count('class="pt"') >= 3, fid
    assert text.count("SAFE_FOR_PUBLIC_RELEASE") >= 3
    assert "<section id='trends'>" in text and "<section id='releases'>" in text
    assert "<script" not in text.lower() and "http://" not in text and "https://" not in text
    assert str(tmp_path) not in text  # no absolute path
    assert not [p for p in root.iterdir() if p.name.startswith(".index.html.tmp")]
    assert write_index(root).read_text() == text  # deterministic


def test_index_of_an_empty_root_and_an_unreadable_manifest(tmp_path, tables):
    assert "No published release yet" in write_index(tmp_path / "none").read_text()
    root = tmp_path / "releases"
    write_release_folder(tables, root / "2024-01", partition="2024-01")
    (root / "2024-02").mkdir()
    (root / "2024-02" / "manifest.json").write_text("{not json")
    text = render_index(read_manifests(root))
    assert "manifest unreadable" in text and "href='2024-01/privacy_report.html'" in text

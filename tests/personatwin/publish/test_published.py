"""Published = protected: the release folder holds protected data and accounted-for parameters only."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import personatwin as pt
from personatwin.ingest import synth
from personatwin.publish.export import (
    INTERNAL_FIGURES,
    INTERNAL_REPORT,
    verify_manifest,
    write_internal_folder,
    write_release_folder,
)
from personatwin.publish.published import PUBLISHED_METRICS, PUBLISHED_PREFIXES, PublishedRelease
from personatwin.publish.report import render_internal_report, render_report

KEY = "published-equals-protected-key-0123456789"
ORIGINAL_ONLY = ("tvd_", "information_loss", "max_rate_diff_pp", "min_group_coverage", "demographic_outliers")


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    data = synth.generate("criminal_justice", 5000, start="2024-01-01", end="2024-01-31", seed=41)
    result = pt.create_safe_personas(people=data.people, events=data.events, privacy_level="high",
                                     domain="criminal_justice", key=KEY, salt="2024-01")
    root = tmp_path_factory.mktemp("out")
    tables = result.tables()
    manifest = write_release_folder(tables, root / "releases" / "2024-01", partition="2024-01", created_at="t")
    write_internal_folder(tables.with_counts({"rows_in": 99}), root / "internal" / "2024-01", partition="2024-01")
    return data, result, tables, root, manifest


def test_published_report_is_a_function_of_the_folder_alone(written):
    """Rebuilt from manifest.json and the Parquet files only, the published report is byte-identical:
    it cannot hold anything the folder does not publish."""
    *_, root, _ = written
    folder = root / "releases" / "2024-01"
    again = render_report(PublishedRelease.from_folder(folder), partition="2024-01")
    assert again == (folder / "privacy_report.html").read_text(encoding="utf-8")
    assert verify_manifest(folder) == []


def test_manifest_holds_no_original_data_figure(written):
    *_, manifest = written
    for name in manifest["metrics"]:
        assert name in PUBLISHED_METRICS or name.startswith(PUBLISHED_PREFIXES), name
        assert not name.startswith(ORIGINAL_ONLY), name
    assert "input_counts" not in manifest and "suppressed_events" not in manifest
    for row in manifest["history"]:
        assert "information_loss" not in row and "max_rate_diff_pp" not in row


def test_published_report_shows_no_original_rates(written):
    *_, root, _ = written
    html = (root / "releases" / "2024-01" / "privacy_report.html").read_text(encoding="utf-8")
    for phrase in ("original rate", "original_rate", "n_original", "Input reconciliation", "information loss",
                   "suppressed events", "chart-tradeoff"):
        assert phrase not in html, phrase
    assert 'id="group-rates"' in html and "released rate (unbiased)" in html


def test_internal_side_is_outside_the_release_folder(written):
    *_, root, _ = written
    released = {p.name for p in (root / "releases" / "2024-01").iterdir()}
    assert INTERNAL_REPORT not in released and INTERNAL_FIGURES not in released
    internal = root / "internal" / "2024-01"
    html = (internal / INTERNAL_REPORT).read_text(encoding="utf-8")
    assert "Internal: do not publish" in html and "original rate" in html
    figures = json.loads((internal / INTERNAL_FIGURES).read_text())
    assert figures["input_counts"] == {"rows_in": 99} and "information_loss" in figures["metrics"]


def test_internal_report_hides_small_original_cells_in_people(written):
    _, _, tables, _, _ = written
    rates = tables.group_rates
    assert {"people_original", "people_released"} <= set(rates.columns)
    html = render_internal_report(tables, partition="2024-01")
    small = rates[(rates["people_original"] > 0) & (rates["people_original"] < 11)]
    if len(small):
        assert "suppressed" in html


def test_published_group_rates_match_the_engine_on_released_data(written):
    """The published report's unbiased rates, recomputed from the files, equal the engine's own (same
    released events, same grouping by published attribute)."""
    _, _, tables, root, _ = written
    pub = PublishedRelease.from_folder(root / "releases" / "2024-01")
    mine = pub.group_rates()
    engine = tables.group_rates.astype({"attribute": str, "group": str, "event_type": str, "outcome": str})
    merged = mine.merge(engine, on=["attribute", "group", "event_type", "outcome"], suffixes=("", "_engine"))
    assert len(merged) > 0
    pd.testing.assert_series_equal(merged["unbiased_rate"], merged["unbiased_rate_engine"], check_names=False,
                                   atol=1e-9)
    pd.testing.assert_series_equal(merged["n_released"].astype("int64"),
                                   merged["n_released_engine"].astype("int64"), check_names=False)
    assert (merged["people"] == merged["people_released"]).all()

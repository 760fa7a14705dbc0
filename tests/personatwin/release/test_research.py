"""Research validation of declared analyses on real releases (issue 13, item 5).

A known effect is planted in generated data (``synth.generate(planted_odds_ratio=...)``): the adjusted odds
ratio must be recovered from the release at medium and high; an analysis on a group with too few events is
reported as not supported with its count; a required analysis that fails refuses the release; the published
folder carries released figures only, reproducible from its own files.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import personatwin as pt
from personatwin.core.errors import ResearchValidationError
from personatwin.ingest import synth
from personatwin.measure.analyses import MIN_EVENTS, AdjustedOddsRatio, parse_analysis
from personatwin.protect.personas import persona_attributes
from personatwin.publish.export import write_internal_folder, write_release_folder
from personatwin.publish.published import RESEARCH_PUBLISHED, PublishedRelease
from personatwin.publish.report import render_internal_report, render_report
from personatwin.release.research import release_estimate
from personatwin.validate.validation import validate

KEY = "research-validation-key-0123456789"
PLANTED = 1.8
PLANT = {"attribute": "race", "groups": ("Black", "White"), "outcome": "detained", "odds_ratio": PLANTED}
ODDS = "odds_ratio detained by race: Black vs White in hearing"
RARE = ("Pacific Islander", "Native American", "Other")
DECLARED = [ODDS, "disparity detained by race: Black vs White", "event_counts by race: Black, White",
            *[f"disparity incarceration by race: {g} vs White in sentence" for g in RARE]]


@pytest.fixture(scope="module")
def planted() -> synth.SyntheticData:
    # The original data's own estimate scatters around the planted 1.8 (seeds 1-8: 1.73-1.87, its 95% CI
    # missing 1.8 for about one seed in twenty); seed 5 gives 1.81, so a miss below is the release's.
    return synth.generate("criminal_justice", 30_000, seed=5, planted_odds_ratio=PLANT)


@pytest.fixture(scope="module", params=["medium", "high"])
def released(request, planted) -> pt.Release:
    return pt.create_safe_personas((planted.people, planted.events), privacy_level=request.param, key=KEY,
                                   preserve_for_analysis=DECLARED)


@pytest.fixture(scope="module")
def small() -> synth.SyntheticData:
    return synth.generate("criminal_justice", 5_000, seed=3)


def test_planted_odds_ratio_is_recovered_from_the_release(released):
    """The original data hold the planted odds ratio; the release's adjusted odds ratio, PRAM inverted, covers it
    and the original estimate, and keeps its size."""
    v = released.research_validation
    r = v[ODDS]
    assert isinstance(r.analysis, AdjustedOddsRatio) and r.measure == "odds ratio (Mantel-Haenszel)"
    assert r.original.covers(PLANTED), r.original
    assert r.released.covers(PLANTED), r.released
    assert r.released.covers(r.original.value) and r.released.significant
    assert r.supported and r.reason == "" and r.question in v.supported_questions
    assert 0.85 < r.preservation < 1.15
    assert r.released.ci_high - r.released.ci_low > r.original.ci_high - r.original.ci_low  # PRAM widens it
    assert v[DECLARED[1]].supported and v[DECLARED[2]].supported


def test_groups_are_exact_in_the_release(released, planted):
    """A persona publishes a race only when all its members have it, so a released group never mixes groups
    and its events are a share (the coverage) of the original group's."""
    dom = pt.get_domain("criminal_justice")
    people = validate(planted.people, planted.events, dom).people.sort_values("person_id", kind="stable")
    people = people.reset_index(drop=True)  # the prepared order, which person_persona indexes
    n_personas = int(released.person_persona.max()) + 1
    attrs = persona_attributes(people, released.person_persona, n_personas, dom, released.policy)
    cols = ["size", *attrs.qi_columns]
    table = released.personas.to_dataframe()
    assert sorted(map(tuple, attrs.table[cols].astype(str).to_numpy())) == \
        sorted(map(tuple, table[cols].astype(str).to_numpy()))  # the very attributes the release publishes
    published = attrs.table["race"].astype(str).to_numpy()[released.person_persona]
    exact = np.isin(published, synth.RACES)
    assert exact.mean() > 0.95
    assert (published[exact] == people["race"].astype(str).to_numpy()[exact]).all()
    g = released.research_validation[ODDS].groups.set_index("group")
    assert (g["events_released"] <= g["events_original"]).all() and (g["coverage"] > 0.95).all()


def test_a_group_with_too_few_events_is_not_supported(released):
    """Each rare race's sentence events as the release shows them: below MIN_EVENTS the analysis is not supported
    and the reason gives the count."""
    personas = released.personas.to_dataframe()[["persona_id", "race"]].astype(str)
    events = released.events[["persona_id", "event_type"]].astype(str)
    counts = events[events["event_type"] == "sentence"].merge(personas, on="persona_id")["race"].value_counts()
    few = [g for g in RARE if 0 < counts.get(g, 0) < MIN_EVENTS]
    assert few, counts.to_dict()  # the data hold such a group (Pacific Islander: 85 sentence events)
    for g in few:
        r = released.research_validation[f"disparity incarceration by race: {g} vs White in sentence"]
        assert not r.supported and r.agreement is None
        assert f"race={g} has {counts[g]:,} sentence events in the release" in r.reason
        assert "too few for the analysis" in r.reason and r.published_reason == r.reason
        assert r.question not in released.research_validation.supported_questions


def test_a_failing_required_analysis_refuses_the_release(small):
    data = (small.people, small.events)
    rare = "disparity incarceration by race: Pacific Islander vs White in sentence"
    with pytest.raises(ResearchValidationError) as err:
        pt.create_safe_personas(data, privacy_level="medium", key=KEY, preserve_for_analysis=[ODDS, rare],
                                require_analyses=True)
    assert f"'{rare}'" in str(err.value) and f"'{ODDS}'" not in str(err.value)
    assert isinstance(err.value, pt.ReleaseRefusedError) and err.value.history
    assert [r.name for r in err.value.validation.unsupported] == [rare]
    kept = pt.create_safe_personas(data, privacy_level="medium", key=KEY, preserve_for_analysis=[ODDS],
                                   require_analyses=True)
    assert kept.research_validation.all_supported


def test_domain_defaults_run_when_nothing_is_declared(small):
    result = pt.create_safe_personas((small.people, small.events), privacy_level="medium", key=KEY)
    names = [r.name for r in result.research_validation.analyses]
    dom = pt.get_domain("criminal_justice")
    expected = [f"disparity {o} by {a}: {g} in {t}" for a, g in (("race", "Black vs White"), ("sex", "M vs F"))
                for o, t in zip(dom.adverse_outcomes, ("arrest", "hearing", "disposition", "sentence"))]
    assert names == expected + [ODDS]
    assert result.metrics()["research_analyses"] == len(expected) + 1
    assert "Research validation:" in result.summary()
    none = pt.create_safe_personas((small.people, small.events), privacy_level="medium", key=KEY,
                                   preserve_for_analysis=[])
    assert none.research_validation is None
    assert "No analyses were declared" in render_report(none)


def test_a_misspelt_analysis_fails_before_the_privacy_loop(small):
    for bad in ("odds_ratio detaind by race: Black vs White", "disparity detained by ethnicity: Black vs White",
                {"kind": "odds_ratio", "attribute": "race", "outcome": "detained", "adjust_for": ["income"]}):
        with pytest.raises(ValueError):
            pt.create_safe_personas((small.people, small.events), key=KEY, preserve_for_analysis=[bad])


def test_published_research_is_released_figures_only(small, tmp_path):
    """The manifest's analyses hold the published columns only (no original estimate), are reproduced from the
    folder's own files, and the report is rebuilt from the folder byte for byte; the internal side compares."""
    result = pt.create_safe_personas((small.people, small.events), privacy_level="high", key=KEY,
                                     preserve_for_analysis=[ODDS, "rate_ratio convicted by sex: M vs F",
                                                            "event_counts by sex: F, M",
                                                            "disparity incarceration by race: Other vs White"])
    tables = result.tables()
    manifest = write_release_folder(tables, tmp_path / "release", partition="p")
    write_internal_folder(tables, tmp_path / "internal", partition="p")
    rows = manifest["research"]
    assert [r["name"] for r in rows] == [r.name for r in result.research_validation.analyses]
    for row in rows:
        assert tuple(row) == RESEARCH_PUBLISHED
        assert not any("original" in k or "coverage" in k or "people" in k for k in row)
    assert manifest["metrics"]["research_supported"] == sum(r["supported"] for r in rows)
    personas = pd.read_parquet(tmp_path / "release" / "personas.parquet")
    events = pd.read_parquet(tmp_path / "release" / "events.parquet")
    for row in rows:
        if row["released_estimate"] is None:
            continue
        again = release_estimate(parse_analysis(row["name"]), personas, events, manifest["pram"]["p"],
                                 manifest["pram"]["pi"])
        assert (again.value, again.ci_low, again.ci_high) == pytest.approx(
            (row["released_estimate"], row["released_ci_low"], row["released_ci_high"]), abs=2e-6)
    published = (tmp_path / "release" / "privacy_report.html").read_text(encoding="utf-8")
    assert render_report(PublishedRelease.from_folder(tmp_path / "release"), partition="p") == published
    assert 'id="research"' in published and "original 95% CI" not in published
    internal = render_internal_report(tables, partition="p")
    assert "original 95% CI" in internal and "Research validation (original data vs release)" in internal
    stored = json.loads(json.dumps(rows))  # JSON-clean (no NaN)
    assert stored == rows

"""The original PersonaTwin API: quick start, result object, views and exports."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import personatwin as pt
from personatwin.ingest import synth
from personatwin.measure.glossary import METRIC_MEANINGS

KEY = "api-test-key-0123456789abcdef"


@pytest.fixture(scope="module")
def quickstart():
    """The README quick start on 50,000 generated criminal-justice people."""
    data = synth.flat(synth.generate("criminal_justice", 50_000, seed=1))
    return data, pt.create_safe_personas(data, privacy_level="high", domain="criminal_justice", target_risk=0.05,
                                         key=KEY)


def test_quickstart_release_is_safe_for_research(quickstart):
    _, result = quickstart
    sizes = result.personas.to_dataframe()["size"]
    assert sizes.min() >= result.policy.k >= 10
    assert result.release_risk <= 0.05
    assert result.risk_metrics.k_anonymity >= result.policy.k
    assert result.is_safe_for_research()
    assert result.risk_metrics.get_risk_level() in ("SAFE_FOR_RESEARCH", "SAFE_FOR_PUBLIC_RELEASE")


def test_summary_lists_every_metric(quickstart):
    _, result = quickstart
    text = result.summary()
    for name in METRIC_MEANINGS:
        assert name in text, name
    for phrase in ("information loss", "TVD of outcomes", "Privacy loop", "PRAM", "equivalence classes"):
        assert phrase in text


def test_rows_reconcile_and_events_are_conserved(quickstart):
    data, result = quickstart
    c = result.counts
    assert c["events_in"] == len(data) == c["events_valid"] + c["events_quarantined"]
    assert len(result.events) == c["events_valid"]
    assert result.personas.to_dataframe()["size"].sum() == c["people_valid"]


def test_persona_views_and_dataframes(quickstart):
    _, result = quickstart
    persona = result.personas[0]
    assert isinstance(persona, pt.Persona)
    assert persona.merged_from >= result.policy.k
    assert len(persona.events) == int((result.events["persona_id"] == persona.persona_id).sum())
    assert persona.demographics.gender in ("F", "M", "X", "*")
    assert 0 < persona.privacy_metadata.traceability_score <= 1 / result.policy.k
    flat = pt.personas_to_event_dataframe(result)
    assert len(flat) == len(result.events) and "sex" in flat.columns
    assert pt.personas_to_dataframe(result.personas).equals(result.personas.to_dataframe())


def test_exports_round_trip(quickstart, tmp_path):
    _, result = quickstart
    for fmt in ("csv", "json", "parquet"):
        written = pt.export_personas(result.personas, tmp_path / f"safe.{fmt}")
        assert [p.name for p in written] == [f"safe.{fmt}", f"safe_events.{fmt}"]
    back = pd.read_parquet(tmp_path / "safe_events.parquet")
    assert len(back) == len(result.events)
    assert len(json.loads((tmp_path / "safe.json").read_text())) == len(result.personas)
    report = pt.export_privacy_report(result, tmp_path / "report.html")
    html = open(report, encoding="utf-8").read()
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert result.risk_level() in html


def test_list_of_person_objects_and_dicts_give_the_same_release():
    data = synth.generate("criminal_justice", 300, seed=4)
    flat = synth.flat(data)
    records = flat.to_dict("records")
    a = pt.create_safe_personas(flat, privacy_level="medium", key=KEY, target_risk=0.5)
    b = pt.create_safe_personas(records, privacy_level="medium", key=KEY, target_risk=0.5)
    pd.testing.assert_frame_equal(a.personas.to_dataframe(), b.personas.to_dataframe())
    pd.testing.assert_frame_equal(a.events, b.events)


def test_no_key_warns_and_still_releases():
    data = synth.flat(synth.generate("criminal_justice", 300, seed=4))
    with pytest.warns(pt.api.EphemeralKeyWarning):
        result = pt.create_safe_personas(data, privacy_level="medium", target_risk=0.5)
    assert len(result.personas) > 0


def test_unreachable_target_raises_and_releases_nothing():
    data = synth.flat(synth.generate("criminal_justice", 400, seed=5))
    with pytest.raises(pt.PrivacyTargetError) as err:
        pt.create_safe_personas(data, privacy_level="medium", target_risk=0.0001, key=KEY, max_iterations=4)
    assert "nothing is released" in str(err.value) and "target 0.0001" in str(err.value)
    assert len(err.value.history) == 4


@pytest.mark.parametrize("domain", pt.BUILTIN_DOMAINS)
def test_every_builtin_domain_releases(domain):
    data = synth.generate(domain, 3000, seed=2)
    result = pt.create_safe_personas(people=data.people, events=data.events, privacy_level="medium",
                                     domain=domain, key=KEY, target_risk=0.15)
    assert result.risk_metrics.k_anonymity >= result.policy.k
    assert len(result.events) == len(data.events) - result.counts["events_quarantined"]

"""Synthea's Nebraska patients: loaded with identifiers gone, and their encounters released."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import personatwin as pt
from tests.helpers import needs_nebraska
from tests.paths import SYNTHEA_NEBRASKA

SYNTHEA = SYNTHEA_NEBRASKA
pytestmark = needs_nebraska
IDENTIFIERS = ("SSN", "DRIVERS", "PASSPORT", "FIRST", "LAST", "MAIDEN", "ADDRESS", "LAT", "LON")


@pytest.fixture(scope="module")
def release():
    ingested = pt.load_healthcare_data(SYNTHEA)
    return pt.create_safe_personas(ingested, privacy_level="high", domain="healthcare",
                                   key="synthea-test-key-0123456789")


def test_encounters_are_released(release):
    assert len(release.events) == release.counts["events_valid"] > 7000
    assert release.risk_metrics.k_anonymity >= release.policy.k
    assert release.is_safe_for_research()


def test_no_identifier_reaches_any_output(release, tmp_path):
    patients = pd.read_csv(SYNTHEA / "patients.csv", dtype=str, keep_default_na=False)
    secrets = {v for c in IDENTIFIERS for v in patients[c] if len(v) >= 5}
    secrets |= set(patients["Id"])  # person ids never leave either
    files = pt.export_personas(release, tmp_path / "synthea.csv") + [
        Path(pt.export_privacy_report(release, tmp_path / "report.html"))]
    for f in files:
        text = f.read_text(encoding="utf-8")
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{f.name} contains {len(leaked)} identifier value(s)"
    for table in (release.personas.to_dataframe(), release.events, release.quarantine):
        assert not set(table.columns) & {c.lower() for c in IDENTIFIERS} and "SSN" not in table.columns
    assert set(IDENTIFIERS) <= set(release.dropped_identifiers)

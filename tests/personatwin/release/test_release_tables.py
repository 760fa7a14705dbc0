"""The typed release: what publishing and the pipeline receive, and its storage as plain tables."""

from __future__ import annotations

import pandas as pd
import pytest

import personatwin as pt
from personatwin.ingest import synth
from personatwin.publish.report import render_report
from personatwin.release.tables import ReleaseTables

KEY = "release-tables-test-key-0123456789"


@pytest.fixture(scope="module")
def release() -> pt.Release:
    data = synth.generate("criminal_justice", 1500, start="2024-01-01", end="2024-03-31", seed=11)
    return pt.create_safe_personas(people=data.people, events=data.events, privacy_level="medium",
                                   domain="criminal_justice", target_risk=0.2, key=KEY)


def test_the_release_says_what_its_tables_are(release):
    tables = release.tables()
    assert tables.policy == release.policy.parameters()
    assert tables.requested_policy == release.requested_policy.parameters()
    assert tables.pram_p == release.pram.p and set(tables.pram.columns) >= {"event_type", "outcome", "probability"}
    adverse = set(pt.get_domain("criminal_justice").adverse_outcomes)
    assert tables.adverse_outcomes and all(set(outs) <= adverse for outs in tables.adverse_outcomes.values())
    assert set(tables.released()) == {"personas", "events"} | ({"sensitive"} if tables.sensitive is not None else set())
    assert "key" not in str(tables.parameters()).lower().replace("key_fingerprint", "")


def test_frames_round_trip_to_the_same_release(release, tmp_path):
    """Stored as Parquet (as the pipeline's IO manager does) and read back, the release renders the same report."""
    tables = release.tables().with_counts({"people_in": 1500, "events_valid": len(release.events)})
    for name, df in tables.to_frames().items():
        df.to_parquet(tmp_path / f"{name}.parquet", index=False)
    back = ReleaseTables.from_frames({p.stem: pd.read_parquet(p) for p in tmp_path.glob("*.parquet")})
    assert back.counts == tables.counts and back.adverse_outcomes == tables.adverse_outcomes
    assert back.policy == tables.policy and back.domain == tables.domain
    assert render_report(back, partition="2024-Q1") == render_report(tables, partition="2024-Q1")

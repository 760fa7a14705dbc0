"""Attack: do the published PRAM parameters give back the original outcome counts?

Finding 2 of the attack review: the manifest's full-precision pi times the exact per-type event
counts returned the partition's original outcome counts. The published pi is now the marginal of
the released outcomes, so pi x counts gives back only what the events file already shows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import personatwin as pt
from personatwin.ingest import synth

KEY = "pram-parameters-attack-key-0123456789"


@pytest.fixture(scope="module", params=["low", "medium", "high"])
def published(request, tmp_path_factory):
    level = request.param
    data = synth.generate("criminal_justice", 3000, start="2024-01-01", end="2024-03-31", seed=31)
    result = pt.create_safe_personas(people=data.people, events=data.events, privacy_level=level,
                                     domain="criminal_justice", target_risk=0.2, key=KEY)
    folder = tmp_path_factory.mktemp(f"release-{level}")
    from personatwin.publish.export import write_release_folder

    write_release_folder(result.tables(), folder, partition="2024-Q1")
    return level, data, folder


def test_pi_times_counts_is_the_release_not_the_original(published):
    level, data, folder = published
    manifest = json.loads((folder / "manifest.json").read_text())
    events = pd.read_parquet(folder / "events.parquet")
    n_type = events.groupby("event_type", observed=True).size()
    released = events.groupby(["event_type", "outcome"], observed=True).size()
    original = data.events.groupby(["event_type", "outcome"], observed=True).size()
    attack = {tuple(k.split("/", 1)): v * n_type[k.split("/", 1)[0]] for k, v in manifest["pram"]["pi"].items()}
    # what the attacker computes is exactly the released table: nothing beyond the events file
    for key, value in attack.items():
        assert value == pytest.approx(released.get(key, 0), abs=1e-6), (level, key)
    # and it is not the original table (PRAM changed outcomes), so it recovers nothing more
    recovered = sum(int(round(v)) == int(original.get(k, -1)) for k, v in attack.items())
    assert recovered < len(attack), (level, "pi x counts reproduces every original count")


def test_unbiasing_with_the_published_pi_recovers_large_group_rates(published):
    """Analysts still unbias rates with the published parameters, within the published standard errors."""
    level, data, folder = published
    manifest = json.loads((folder / "manifest.json").read_text())
    events = pd.read_parquet(folder / "events.parquet").astype({"event_type": str, "outcome": str})
    p = manifest["pram"]["p"]
    observed = events.groupby("event_type", observed=True)["outcome"].value_counts(normalize=True)
    pi = pd.Series(manifest["pram"]["pi"])
    unbiased = (observed - (1 - p) * pi.loc[[f"{t}/{o}" for t, o in observed.index]].to_numpy()) / p
    original = data.events.astype({"event_type": str, "outcome": str})
    truth = original.groupby("event_type")["outcome"].value_counts(normalize=True)
    n = original.groupby("event_type").size()
    for (t, o), rate in unbiased.items():
        se = np.sqrt(max(truth.get((t, o), 0.0) * (1 - truth.get((t, o), 0.0)), 1e-4) / n[t]) / p
        assert abs(rate - truth.get((t, o), 0.0)) < 5 * se + 1e-9, (level, t, o, rate)

"""The typed release: the released tables plus the parameters and figures that made and justify them.

``ReleaseTables`` is what the engine hands to publishing (release folders, the HTML report, the
manifest) and what the pipeline stores between its release and export stages. It says what the
tables are (policy, PRAM, adverse outcomes, input counts) instead of leaving readers to guess, and
turns into plain DataFrames and back for storage (``to_frames`` / ``from_frames``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

RELEASED = ("personas", "events", "sensitive")  # what analysts get, in every format
FIGURES = ("metrics", "history", "group_rates", "disparity", "event_counts", "pram", "parameters", "counts",
           "adverse_outcomes", "anonymeter", "research")


@dataclass(frozen=True, eq=False)
class ReleaseTables:
    """One release as tables: the published data and every figure the report and manifest need."""

    personas: pd.DataFrame
    events: pd.DataFrame
    metrics: Mapping[str, float]  # every risk and utility figure (NaN where undefined)
    history: pd.DataFrame  # the privacy loop, one row per iteration
    group_rates: pd.DataFrame
    disparity: pd.DataFrame
    event_counts: pd.DataFrame
    pram: pd.DataFrame  # event_type, outcome, probability (pi) and p
    domain: str
    policy: Mapping  # the released configuration (PrivacyPolicy.parameters())
    requested_policy: Mapping
    key_fingerprint: str
    adverse_outcomes: Mapping[str, tuple[str, ...]]  # per event type, what disparity ratios count as adverse
    suppressed_events: int = 0
    counts: Mapping[str, int] = field(default_factory=dict)  # input reconciliation (rows in, valid, quarantined)
    sensitive: pd.DataFrame | None = None  # person-level sensitive attributes as counts per persona
    anonymeter: pd.DataFrame | None = None  # one row per Anonymeter evaluator, when the release was attacked
    release_id: str = ""  # the release's identity (API: the salt; pipeline: series/period/version, see series/)
    series: Mapping = field(default_factory=dict)  # series identity (period, version, supersedes, nonce, window)
    exposure: pd.DataFrame | None = None  # internal, never published: each person's exposure (series/exposure.py)
    dp_tables: pd.DataFrame | None = None  # published: OpenDP counts per group x event type (series/dp_tables.py)
    # declared analyses on original data and release (release/research.py): internal; publish/published.py
    # picks the published columns
    research: pd.DataFrame | None = None
    # seconds per stage of the run that made this release (ingest, validate, prepare, each loop pass, attack
    # evaluation, research validation, export): published in the manifest, so a slow month shows
    timings: Mapping[str, float] = field(default_factory=dict)
    advice: Mapping | None = None  # the advisor's record (explanation marked generated, exchanges): internal only

    @property
    def pram_p(self) -> float | None:
        return float(self.pram["p"].iloc[0]) if len(self.pram) else None

    def released(self) -> dict[str, pd.DataFrame]:
        """The tables analysts receive, by file stem."""
        out = {"personas": self.personas, "events": self.events}
        if self.sensitive is not None:
            out["sensitive"] = self.sensitive
        if self.dp_tables is not None:
            out["dp_tables"] = self.dp_tables
        return out

    def parameters(self) -> dict:
        """Release identity and parameters as the report's parameter section shows them (never the key)."""
        return {"domain": self.domain, "key_fingerprint": self.key_fingerprint, "release_id": self.release_id,
                "suppressed_events": self.suppressed_events}

    def with_counts(self, counts: Mapping[str, int]) -> ReleaseTables:
        """The same release with its input reconciliation counts."""
        return replace(self, counts={k: int(v) for k, v in counts.items()})

    # --- storage as plain tables ----------------------------------------------------------------

    def to_frames(self) -> dict[str, pd.DataFrame]:
        """Plain DataFrames (e.g. one Parquet file each); ``from_frames`` gives the same release back."""
        frames = {
            "personas": self.personas, "events": self.events,
            "metrics": pd.DataFrame([dict(self.metrics)]),
            "history": self.history, "group_rates": self.group_rates, "disparity": self.disparity,
            "event_counts": self.event_counts, "pram": self.pram,
            "parameters": pd.DataFrame([{"domain": self.domain, "key_fingerprint": self.key_fingerprint,
                                         "suppressed_events": self.suppressed_events, "release_id": self.release_id,
                                         "policy": json.dumps(dict(self.policy), sort_keys=True),
                                         "requested_policy": json.dumps(dict(self.requested_policy), sort_keys=True),
                                         "series": json.dumps(dict(self.series), sort_keys=True),
                                         "timings": json.dumps(dict(self.timings), sort_keys=True),
                                         "advice": json.dumps(dict(self.advice), sort_keys=True)
                                         if self.advice else ""}]),
            "counts": pd.DataFrame([dict(self.counts)]) if self.counts else pd.DataFrame([{}]),
            "adverse_outcomes": pd.DataFrame(
                [(t, o) for t, outs in sorted(self.adverse_outcomes.items()) for o in outs],
                columns=["event_type", "outcome"]),
        }
        if self.sensitive is not None:
            frames["sensitive"] = self.sensitive
        if self.anonymeter is not None:
            frames["anonymeter"] = self.anonymeter
        if self.exposure is not None:
            frames["exposure"] = self.exposure
        if self.dp_tables is not None:
            frames["dp_tables"] = self.dp_tables
        if self.research is not None:
            frames["research"] = self.research
        return frames

    @classmethod
    def from_frames(cls, frames: Mapping[str, pd.DataFrame]) -> ReleaseTables:
        """The release stored by ``to_frames``."""
        params = frames["parameters"].iloc[0].to_dict()
        counts = frames["counts"]
        adverse: dict[str, tuple[str, ...]] = {}
        for t, o in frames["adverse_outcomes"][["event_type", "outcome"]].astype(str).itertuples(index=False):
            adverse[t] = adverse.get(t, ()) + (o,)
        return cls(
            personas=frames["personas"], events=frames["events"],
            metrics={k: float(v) if v is not None else np.nan for k, v in frames["metrics"].iloc[0].to_dict().items()},
            history=frames["history"], group_rates=frames["group_rates"], disparity=frames["disparity"],
            event_counts=frames["event_counts"], pram=frames["pram"], domain=str(params["domain"]),
            policy=json.loads(params["policy"]), requested_policy=json.loads(params["requested_policy"]),
            key_fingerprint=str(params["key_fingerprint"]), adverse_outcomes=adverse,
            suppressed_events=int(params.get("suppressed_events") or 0),
            counts={k: int(v) for k, v in counts.iloc[0].items() if pd.notna(v)} if len(counts.columns) else {},
            sensitive=frames.get("sensitive"), anonymeter=frames.get("anonymeter"),
            release_id=str(params.get("release_id") or ""),
            series=json.loads(params.get("series") or "{}"), exposure=frames.get("exposure"),
            dp_tables=frames.get("dp_tables"), research=frames.get("research"),
            timings=json.loads(params.get("timings") or "{}"),
            advice=json.loads(params["advice"]) if params.get("advice") else None,
        )


def adverse_outcomes_in(group_rates: pd.DataFrame, disparity: pd.DataFrame,
                        adverse: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Per event type with disparity ratios, the domain's adverse outcomes that occur in its group rates."""
    if group_rates.empty or disparity.empty:
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for et in sorted(disparity["event_type"].astype(str).unique()):
        outcomes = sorted(group_rates.loc[group_rates["event_type"].astype(str) == et, "outcome"].astype(str).unique())
        chosen = tuple(o for o in outcomes if o in adverse)
        if chosen:
            out[et] = chosen
    return out

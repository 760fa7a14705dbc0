"""What a release folder publishes: protected data plus parameters and figures whose disclosure is accounted for.

``PublishedRelease`` is everything the published report and ``manifest.json`` show, and nothing else:
the released tables (personas, events, sensitive counts), the released and requested policy, PRAM's
p and pi (pi estimated from the released outcomes), the risk figures (``PUBLISHED_METRICS``: scalars
about the protection, rounded), the privacy loop's risk per iteration, Anonymeter's attack results
and the key's fingerprint. No original-data statistic is in it: no original rate, count, difference,
TVD or information loss, no input reconciliation, no count of suppressed events. Those are in the
internal report (``report.render_internal_report``), written outside the release folder. Declared
analyses (``release.research``) publish their released estimates and intervals (computed from the
released files and PRAM's published parameters), with groups of fewer than ``small_cell_people`` people
hidden, and one bit each, ``supported``, derived from the original data (SECURITY.md says why that is
acceptable); their original estimates stay internal.

Because it is rebuilt from the folder's own files (``from_folder``), a test can prove the published
report holds nothing beyond them: rendering from the folder gives the very same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from personatwin.core.schema import EVENT_TYPE, OUTCOME, PERSONA_ID, PERSONA_SIZE
from personatwin.measure.anonymeter_eval import summary_from_table
from personatwin.measure.utility import unbiased_rates
from personatwin.publish.cells import CROSS, JOIN, SMALL_CELL_PEOPLE, hidden_rows
from personatwin.release.tables import ReleaseTables

# Risk figures a release folder may show (scalars about the protection; per-attribute diversity and
# Anonymeter figures by prefix). Utility comparisons with the original data are internal.
PUBLISHED_METRICS = (
    "n_people", "n_personas", "n_equivalence_classes", "n_events", "k_anonymity", "prosecutor_risk_max",
    "records_at_risk", "records_at_risk_threshold", "population_average_risk", "journalist_risk", "marketer_risk",
    "l_diversity_distinct", "l_diversity_entropy", "t_closeness", "demographic_concentration_risk",
    "event_pattern_concentration_risk", "external_linkage_risk", "external_linkage_ci_low",
    "external_linkage_ci_high", "attacker_knowledge", "linkage_targets", "persona_single_out_rate",
    "persona_single_out_ci_low", "persona_single_out_ci_high", "release_risk", "events_preserved",
    "utility_gate_failures", "research_analyses", "research_supported",
)
PUBLISHED_PREFIXES = ("l_diversity_distinct.", "l_diversity_entropy.", "c_recursive.", "t_closeness.",
                      "sensitive_ordered.",
                      "anonymeter_", "series_", "differencing_", "dp_")
# Internal although under a published prefix: exact input counts (people whose source rows changed,
# events left out of the DP tables by the contribution bound).
UNPUBLISHED_METRICS = ("differencing_changed_people", "dp_events_dropped_for_bound")
HISTORY_PUBLISHED = ("iteration", "step", "k", "date_precision", "location_level", "qi_levels", "pram_p",
                     "attacker_knowledge", "k_anonymity", "population_average_risk", "external_linkage_risk",
                     "release_risk", "l_diversity", "meets_targets", "released")
SERIES_PUBLISHED = ("series", "period", "version", "release_id", "supersedes", "fresh_randomness", "window_months",
                    "pinned")  # pinned: the reviewed configuration it reuses, and whether it changed
DIGITS = 6  # published figures are rounded: run-to-run differences below this say nothing
# Declared analyses as published (release/research.py RESEARCH_COLUMNS minus every original-data figure);
# "reason" is the research table's published_reason (it cites the release only).
RESEARCH_PUBLISHED = ("name", "question", "measure", "attribute", "group", "reference", "event_types", "outcomes",
                      "adjusted_for", "released_estimate", "released_ci_low", "released_ci_high",
                      "events_group_released", "events_reference_released", "supported", "reason")
RESEARCH_FIGURES = ("released_estimate", "released_ci_low", "released_ci_high", "events_group_released",
                    "events_reference_released")


def _round(v):
    if v is None:
        return None
    x = float(v)
    return None if not np.isfinite(x) else round(x, DIGITS)


def published_metrics(metrics: Mapping) -> dict[str, float | None]:
    """The figures a release folder shows, rounded; every other figure stays internal."""
    return {k: _round(v) for k, v in sorted(metrics.items())
            if (k in PUBLISHED_METRICS or str(k).startswith(PUBLISHED_PREFIXES)) and k not in UNPUBLISHED_METRICS}


def published_history(history: pd.DataFrame) -> list[dict]:
    """The privacy loop, one dict per iteration: its configuration and risk figures (no utility)."""
    cols = [c for c in HISTORY_PUBLISHED if c in history.columns]
    out = []
    for rec in history[cols].to_dict("records"):
        row: dict[str, bool | int | float | str | None] = {}
        for k, v in rec.items():
            if isinstance(v, (bool, np.bool_)):
                row[k] = bool(v)
            elif isinstance(v, (int, np.integer)):
                row[k] = int(v)
            elif isinstance(v, (float, np.floating)):
                row[k] = _round(v)
            else:
                row[k] = str(v)
        out.append(row)
    return out


def published_research(research: pd.DataFrame | None, threshold: int) -> list[dict]:
    """The declared analyses as a release folder shows them: released estimate, interval and events per
    group, supported yes/no and a reason from the release alone; figures of an analysis with a group of
    fewer than ``threshold`` people in the release are hidden (None)."""
    if research is None or research.empty:
        return []
    out = []
    for rec in research.to_dict("records"):
        people = [rec.get("people_group_released"), rec.get("people_reference_released")]
        small = any(v is not None and np.isfinite(float(v)) and float(v) < threshold for v in people)
        row: dict[str, bool | float | int | str | None] = {}
        for col in RESEARCH_PUBLISHED:
            v = rec.get("published_reason" if col == "reason" else col)
            if col in RESEARCH_FIGURES:
                x = None if small else _round(v)
                row[col] = int(x) if x is not None and col.startswith("events_") else x
            elif col == "supported":
                row[col] = bool(v)
            else:
                row[col] = "" if v is None or (isinstance(v, float) and not np.isfinite(v)) else str(v)
        out.append(row)
    return out


@dataclass(frozen=True, eq=False)
class PublishedRelease:
    """One release as published: its files' tables and the manifest's parameters and figures."""

    personas: pd.DataFrame
    events: pd.DataFrame
    domain: str
    policy: Mapping
    requested_policy: Mapping
    metrics: Mapping[str, float | None]
    history: list[dict]
    pram_p: float | None
    pi: Mapping[str, float]  # "event_type/outcome" -> pi, estimated from the released outcomes
    bias_attributes: tuple[str, ...]
    adverse_outcomes: Mapping[str, tuple[str, ...]]
    key_fingerprint: str
    anonymeter: dict | None = None
    sensitive: pd.DataFrame | None = field(default=None)
    release_id: str = ""
    series: Mapping = field(default_factory=dict)  # series identity: period, version, supersedes, window
    research: list[dict] = field(default_factory=list)  # declared analyses, published columns (RESEARCH_PUBLISHED)
    approval: Mapping | None = None  # after disclosure review: the approval block the publication stamped

    @classmethod
    def from_tables(cls, release: ReleaseTables) -> PublishedRelease:
        """The published part of a release."""
        attrs: list[str] = []
        if len(release.group_rates):
            attrs = [a for a in pd.unique(release.group_rates["attribute"].astype(str)) if CROSS not in a]
        pram = release.pram
        return cls(
            personas=release.personas, events=release.events, domain=release.domain, policy=dict(release.policy),
            requested_policy=dict(release.requested_policy), metrics=published_metrics(release.metrics),
            history=published_history(release.history), pram_p=release.pram_p,
            pi={f"{t}/{o}": float(p) for t, o, p in pram[["event_type", "outcome", "probability"]].itertuples(
                index=False)},
            bias_attributes=tuple(attrs), adverse_outcomes={k: tuple(v) for k, v in release.adverse_outcomes.items()},
            key_fingerprint=release.key_fingerprint,
            anonymeter=None if release.anonymeter is None or release.anonymeter.empty
            else json.loads(json.dumps(summary_from_table(release.anonymeter))),
            sensitive=release.sensitive, release_id=release.release_id,
            series={k: release.series[k] for k in SERIES_PUBLISHED if k in release.series},
            research=published_research(release.research,
                                        int(release.policy.get("small_cell_people") or SMALL_CELL_PEOPLE)))

    @classmethod
    def from_folder(cls, folder) -> PublishedRelease:
        """A release read back from its folder (``manifest.json`` and the Parquet files) alone."""
        folder = Path(folder)
        m = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        sensitive = pd.read_parquet(folder / "sensitive.parquet") if (folder / "sensitive.parquet").exists() else None
        return cls(
            personas=pd.read_parquet(folder / "personas.parquet"), events=pd.read_parquet(folder / "events.parquet"),
            domain=m["domain"], policy=m["policy"], requested_policy=m["requested_policy"], metrics=m["metrics"],
            history=m["history"], pram_p=m["pram"]["p"], pi=m["pram"]["pi"],
            bias_attributes=tuple(m["bias_attributes"]),
            adverse_outcomes={k: tuple(v) for k, v in m["adverse_outcomes"].items()},
            key_fingerprint=m["key_fingerprint"], anonymeter=m.get("anonymeter"), sensitive=sensitive,
            release_id=m.get("release_id", ""), series=m.get("series") or {}, research=m.get("research") or [],
            approval=m.get("approval"))

    def manifest_fields(self) -> dict:
        """The manifest's parameters and figures (files, versions and time are added by the writer)."""
        return {"domain": self.domain, "policy": dict(self.policy), "requested_policy": dict(self.requested_policy),
                "metrics": dict(self.metrics), "history": self.history,
                "pram": {"p": self.pram_p, "pi": dict(self.pi)}, "bias_attributes": list(self.bias_attributes),
                "adverse_outcomes": {k: list(v) for k, v in sorted(self.adverse_outcomes.items())},
                "key_fingerprint": self.key_fingerprint, "anonymeter": self.anonymeter, "release_id": self.release_id,
                "series": dict(self.series), "research": list(self.research)}

    @property
    def pram(self) -> pd.DataFrame:
        """event_type, outcome, probability (pi) and p, as the report's unbiasing table."""
        rows = [(*key.split("/", 1), float(v)) for key, v in self.pi.items()]
        df = pd.DataFrame(rows, columns=["event_type", "outcome", "probability"])
        return df.assign(p=self.pram_p)

    @property
    def small_cell_people(self) -> int:
        return int(self.policy.get("small_cell_people") or SMALL_CELL_PEOPLE)

    def group_rates(self) -> pd.DataFrame:
        """Released outcome rates per group x event type x outcome, PRAM-unbiased, from the published files;
        cells of fewer than ``small_cell_people`` people (and their complements) marked ``hidden``."""
        return released_group_rates(self.personas, self.events, self.pram, self.bias_attributes,
                                    self.small_cell_people)


RATE_COLUMNS = ["attribute", "group", "event_type", "outcome", "people", "n_released", "observed_rate",
                "unbiased_rate", "se", "ci_low", "ci_high", "hidden"]


def codes_and_labels(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (-1 missing) and labels as text of a column: a categorical's own codes (no 10M strings)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        cats = values.cat.categories.astype(str).to_numpy(dtype=object)
        return values.cat.codes.to_numpy(dtype=np.int64), cats
    codes, uniques = pd.factorize(values.astype(str))
    return codes.astype(np.int64), np.asarray(uniques, dtype=object)


def released_group_rates(personas: pd.DataFrame, events: pd.DataFrame, pram: pd.DataFrame,
                         attributes: tuple[str, ...], threshold: int) -> pd.DataFrame:
    """Unbiased released rates per (attribute, group, event type, outcome) from released tables only.

    A group is the value a persona publishes; ``people`` is the members of the personas of the group
    holding an event of the type. Standard errors as in ``measure.utility.group_rates`` (pi's own
    sampling variance included). Counted on integer codes (bincounts), never on 10M joined strings."""
    attrs = [a for a in attributes if a in personas.columns]
    if not attrs or events.empty or pram.empty:
        return pd.DataFrame(columns=RATE_COLUMNS)
    p = float(pram["p"].iloc[0])
    persona_ids = pd.Index(personas[PERSONA_ID].astype(str))
    pid, pid_labels = codes_and_labels(events[PERSONA_ID])
    at = np.where(pid >= 0, persona_ids.get_indexer(pid_labels)[np.maximum(pid, 0)], -1)  # persona row per event
    etype, types = codes_and_labels(events[EVENT_TYPE])
    outcome, outcomes = codes_and_labels(events[OUTCOME])
    T, n_out, P = len(types), len(outcomes), len(personas)
    n_type = pd.Series(np.bincount(etype[etype >= 0], minlength=T), index=types)
    pi = pram.assign(event_type=pram["event_type"].astype(str), outcome=pram["outcome"].astype(str))
    pi = pi[pi["probability"] > 0][["event_type", "outcome", "probability"]]
    size = personas[PERSONA_SIZE].to_numpy(dtype=np.float64)
    groupings: list[tuple[str, np.ndarray, np.ndarray]] = []  # (name, group code per persona row, labels)
    texts = [personas[a].astype(str) for a in attrs]
    for a, text in zip(attrs, texts):
        codes, labels = pd.factorize(text)
        groupings.append((a, codes.astype(np.int64), np.asarray(labels, dtype=object)))
    if len(attrs) >= 2:
        cross = texts[0]
        for t in texts[1:]:
            cross = cross + JOIN + t  # one per persona, not per event
        codes, labels = pd.factorize(cross)
        groupings.append((CROSS.join(attrs), codes.astype(np.int64), np.asarray(labels, dtype=object)))
    ok = (at >= 0) & (etype >= 0)  # events of a published persona (an unknown one has no group)
    ev_at, ev_type, ev_out = at[ok], etype[ok], outcome[ok]
    has_out = ev_out >= 0
    held = np.bincount(ev_at * T + ev_type, minlength=P * T).reshape(P, T) > 0  # persona holds an event of type
    frames = []
    for name, g_of_persona, labels in groupings:
        G = len(labels)
        g = g_of_persona[ev_at]
        n_rel = np.bincount(g * T + ev_type, minlength=G * T).reshape(G, T)
        cnt = np.bincount(((g * T + ev_type) * n_out + ev_out)[has_out],
                          minlength=G * T * n_out).reshape(G, T, n_out)
        people = np.zeros((G, T))
        np.add.at(people, g_of_persona, held * size[:, None])
        gi, ti = np.nonzero(n_rel)
        cells = pd.DataFrame({"group": labels[gi], EVENT_TYPE: types[ti], "n_released": n_rel[gi, ti],
                              "people": people[gi, ti], "_g": gi, "_t": ti})
        full = cells.merge(pi, on=EVENT_TYPE)
        o_index = pd.Index(outcomes).get_indexer(full[OUTCOME].to_numpy())
        full["count"] = np.where(o_index >= 0, cnt[full["_g"].to_numpy(), full["_t"].to_numpy(),
                                                   np.maximum(o_index, 0)], 0).astype(np.int64)
        full.insert(0, "attribute", name)
        frames.append(full.drop(columns=["_g", "_t"]))
    out = pd.concat(frames, ignore_index=True)
    out["people"] = out["people"].astype(personas[PERSONA_SIZE].dtype if personas[PERSONA_SIZE].dtype.kind in "iu"
                                         else np.float64)
    out["n_released"] = out["n_released"].astype(np.int64)
    nt = out[EVENT_TYPE].map(n_type).to_numpy(float)
    obs, unb, se = unbiased_rates(out["count"].to_numpy(float), out["n_released"].to_numpy(float),
                                  out["probability"].to_numpy(float), p, nt)
    out["observed_rate"], out["unbiased_rate"], out["se"] = obs, unb, se
    out["ci_low"], out["ci_high"] = unb - 1.96 * se, unb + 1.96 * se
    out["hidden"] = hidden_rows(out, "people", threshold)
    out = out.sort_values(["attribute", "group", EVENT_TYPE, OUTCOME], kind="stable").reset_index(drop=True)
    return out.rename(columns={EVENT_TYPE: "event_type", OUTCOME: "outcome"})[RATE_COLUMNS]

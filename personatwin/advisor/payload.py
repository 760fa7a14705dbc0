"""Egress control: the only way a question to an advisor is built, from allow-listed aggregates.

A payload holds figures (floats), targets and the configuration (policy parameters), failure texts the engine
wrote (attribute names and numbers), the domain's vocabulary, and value summaries of a data set in which a
value appears only when at least ``min_people`` distinct people share it (the small-cell threshold): no row,
no identifier, no rare category, no exact date, no individual amount ever leaves. ``check_payload`` refuses
any key outside the task's allow-list, so a later change that adds a field has to add it here, on purpose.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from personatwin.advisor.base import (
    CHANGEABLE,
    DRAFT_DOMAIN,
    EXPLAIN,
    RECOMMEND,
    SYNTHETIC,
    Payload,
    canonical_json,
)
from personatwin.core.domains import Domain

MIN_PEOPLE = 11  # default share threshold (the small-cell rule, personatwin.publish.cells)
MAX_TEXT = 400  # a failure or verdict sentence longer than this is cut
MAX_VALUES = 30  # common values listed per column
ALLOWED = {
    EXPLAIN: {"figures", "targets", "failures", "verdict", "refusal", "domain"},
    RECOMMEND: {"figures", "targets", "failures", "configuration", "changeable", "refusal", "domain"},
    DRAFT_DOMAIN: {"people", "events", "min_people", "known_domains"},
    SYNTHETIC: {"domain", "aggregates", "period", "n_people"},
}
TARGET_KEYS = ("k", "target_risk", "l_diversity", "max_t_closeness", "anonymeter_max_risk", "max_single_out_rate",
               "max_series_single_out_rate", "small_cell_people", "attacker_knowledge")
CONFIG_KEYS = ("k", "date_precision", "location_level", "qi_levels", "pram_p", "l_diversity", "level")


def _number(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return round(v, 6) if math.isfinite(v) else None


def _text(value: Any) -> str:
    return str(value)[:MAX_TEXT]


def figures_of(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Release-level figures: finite numbers only, rounded (no per-person or per-persona value)."""
    return {str(k): n for k, v in sorted(metrics.items()) if (n := _number(v)) is not None}


def domain_vocabulary(domain: Domain) -> dict[str, Any]:
    """What the domain declares: names and vocabularies, never data."""
    return {"name": domain.name, "event_types": {t: list(o) for t, o in domain.event_types.items()},
            "qis": list(domain.qis), "sensitive": list(domain.sensitive),
            "bias_attributes": list(domain.bias_attributes), "adverse_outcomes": list(domain.adverse_outcomes)}


def explain_payload(metrics: Mapping[str, Any], policy: Mapping[str, Any], failures: Sequence[str], verdict: str,
                    domain: Domain, refusal: str = "") -> Payload:
    """Explain a verdict or a refusal: the figures, the targets, what failed and the rule-based verdict."""
    return checked(Payload(EXPLAIN, {
        "figures": figures_of(metrics), "targets": {k: policy.get(k) for k in TARGET_KEYS if k in policy},
        "failures": [_text(f) for f in failures], "verdict": _text(verdict), "refusal": _text(refusal),
        "domain": domain_vocabulary(domain)}))


def recommend_payload(metrics: Mapping[str, Any], policy: Mapping[str, Any], failures: Sequence[str],
                      domain: Domain, refusal: str = "") -> Payload:
    """Recommend changes to a configuration: the figures, targets, failures and what may change (and how)."""
    return checked(Payload(RECOMMEND, {
        "figures": figures_of(metrics), "targets": {k: policy.get(k) for k in TARGET_KEYS if k in policy},
        "failures": [_text(f) for f in failures], "refusal": _text(refusal),
        "configuration": {k: policy.get(k) for k in CONFIG_KEYS if k in policy},
        "changeable": dict(CHANGEABLE), "domain": domain_vocabulary(domain)}))


def column_summary(values: pd.Series, people: pd.Series, min_people: int) -> dict[str, Any]:
    """One column as aggregates: its kind, how many distinct values, and the values at least ``min_people`` people
    share (with their number of people, rounded down to a multiple of 5); numbers as coarse quartiles when enough
    people have one; dates as the years at least ``min_people`` people have a date in."""
    present = values.notna().to_numpy()
    n_people = int(people[present].nunique())
    out: dict[str, Any] = {"kind": _kind(values), "share_missing": round(float(1 - present.mean()), 2) if len(values)
                           else 0.0, "distinct_values": _bucket(int(values.nunique()))}
    if out["kind"] == "number":
        nums = pd.to_numeric(values, errors="coerce")
        if n_people >= 4 * min_people:
            q = np.nanquantile(nums.to_numpy(dtype=float), [0.25, 0.5, 0.75])
            out["quartiles"] = [_two_significant(x) for x in q]
        return out
    if out["kind"] == "date":
        years = pd.to_datetime(values, errors="coerce").dt.year
        counts = pd.DataFrame({"v": years, "p": people}).dropna().drop_duplicates().groupby("v")["p"].size()
        out["years"] = sorted(int(y) for y, n in counts.items() if n >= min_people)
        return out
    frame = pd.DataFrame({"v": values.astype("string"), "p": people}).dropna().drop_duplicates()
    counts = frame.groupby("v")["p"].size().sort_values(ascending=False)
    common = counts[counts >= min_people].head(MAX_VALUES)
    out["common_values"] = {str(v)[:60]: int(n) // 5 * 5 for v, n in common.items()}
    return out


def _kind(values: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(values):
        return "text"
    if pd.api.types.is_numeric_dtype(values):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(values):
        return "date"
    sample = values.dropna().astype(str).head(200)
    if len(sample) and pd.to_datetime(sample, errors="coerce", format="mixed").notna().mean() > 0.9:
        return "date"
    return "text"


def _bucket(n: int) -> str:
    """A count as an order of magnitude (how many distinct values, not how many exactly)."""
    for edge, label in ((2, "1"), (11, "2-10"), (101, "11-100"), (1001, "101-1000")):
        if n < edge:
            return label
    return "more than 1000"


def _two_significant(x: float) -> float | None:
    if not math.isfinite(x):
        return None
    if x == 0:
        return 0.0
    return float(f"{x:.2g}")


def table_summary(table: pd.DataFrame, person_column: str | None, min_people: int) -> dict[str, Any]:
    """Every column of a table as aggregates (``column_summary``); the person id column only by name."""
    if person_column is None or person_column not in table.columns:
        people = pd.Series(np.arange(len(table)), index=table.index)  # each row its own person
    else:
        people = table[person_column]
    columns = {str(c)[:60]: column_summary(table[c], people, min_people) for c in table.columns
               if c != person_column}
    return {"columns": columns, "person_column": str(person_column)[:60] if person_column else None}


def draft_domain_payload(people: pd.DataFrame, events: pd.DataFrame, person_column: str | None,
                         known_domains: Sequence[str], min_people: int = MIN_PEOPLE) -> Payload:
    """Draft a custom domain from a new data set: column names, kinds and the values shared by enough people."""
    return checked(Payload(DRAFT_DOMAIN, {
        "people": table_summary(people, person_column, min_people),
        "events": table_summary(events, person_column, min_people),
        "min_people": int(min_people), "known_domains": [str(d) for d in known_domains]}))


def synthetic_payload(domain: Domain, aggregates: Mapping[str, Any], period: str, n_people: int) -> Payload:
    """Synthetic sample data for a domain: its vocabulary and published aggregates (event shares, outcome rates)."""
    clean = {"event_type_shares": {str(t): _number(s) for t, s in (aggregates.get("event_type_shares") or {}).items()},
             "outcome_shares": {str(t): {str(o): _number(s) for o, s in outs.items()}
                                for t, outs in (aggregates.get("outcome_shares") or {}).items()},
             "events_per_person": _number(aggregates.get("events_per_person"))}
    return checked(Payload(SYNTHETIC, {"domain": domain_vocabulary(domain), "aggregates": clean,
                                       "period": _text(period)[:20], "n_people": int(n_people)}))


def checked(payload: Payload) -> Payload:
    """The payload, if its keys are the task's allow-list and it is plain JSON; else ``ValueError``."""
    extra = set(payload.content) - ALLOWED[payload.task]
    if extra:
        raise ValueError(f"advisor payload for {payload.task!r} has fields outside its allow-list: {sorted(extra)}")
    canonical_json(payload.content)  # plain JSON, finite numbers
    return payload

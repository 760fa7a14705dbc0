"""Egress control: the only way a question to an advisor is built, from allow-listed aggregates.

A payload holds figures (floats), targets and the configuration (policy parameters), failure texts the engine
wrote (attribute names and numbers), the domain's vocabulary, and value summaries of a data set in which a
value appears only when at least ``min_people`` distinct people share it (the small-cell threshold): no row,
no identifier, no rare category, no exact date, no individual amount ever leaves. ``check_payload`` refuses
any key outside the task's allow-list, so a later change that adds a field has to add it here, on purpose.

Three more rules close the ways a value could ride along (found by the egress fuzz test, tests/advisor): an engine
sentence keeps a quoted literal only when it is a word of the domain or of the policy (a refusal quotes the most
common value of an attribute, which is one person's when every value is unique); a column named like a direct
identifier is sent by name and kind only, however common its values; and when any column name looks like a data
value (a file read without its header row) every column is named by its position. Values are counted per person:
by the given person column, else the tables' join key; events without either get no values at all.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
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
from personatwin.core.policy import PrivacyLevel, PrivacyPolicy
from personatwin.ingest.identifiers import looks_like_data, name_tokens

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
WITHHELD = "<value withheld>"
# A quoted literal in an engine text ('x' or "x", not an apostrophe inside a word): the one way a data value can
# ride along in a sentence (e.g. a refusal's "share the value 'x' of diagnosis"); kept only if allow-listed.
QUOTED = re.compile(r"(?<!\w)'([^'\n]*)'(?!\w)|(?<!\w)\"([^\"\n]*)\"(?!\w)")
# Policy and report words an engine text may quote (field names, levels, date precisions, the top level).
ENGINE_WORDS = frozenset({f.name for f in fields(PrivacyPolicy)} | {lv.value for lv in PrivacyLevel}
                         | {"day", "week", "month", "quarter", "year", "*", "drop"} | set(TARGET_KEYS))
# Column names that suggest a direct identifier: their values are never summarized, only their name is sent.
IDENTIFIER_TOKENS = frozenset({
    "name", "names", "firstname", "lastname", "fullname", "fname", "lname", "surname", "forename", "maiden",
    "ssn", "sin", "email", "mail", "phone", "telephone", "tel", "mobile", "cellphone", "fax", "address", "addr",
    "street", "mrn", "passport", "license", "licence", "lat", "latitude", "lon", "lng", "longitude", "notes", "note",
    "comment", "comments", "narrative", "remarks", "freetext", "docket", "account", "iban", "vin", "plate"})
IDENTIFIER_JOINED = ("firstname", "lastname", "fullname", "surname", "socialsecurity", "phonenumber", "email",
                     "streetaddress", "medicalrecord", "casenumber", "driverslicen", "driverlicen")
IDENTIFIER_PAIRS = (("case", ("number", "no", "num", "id", "nr")), ("record", ("number", "no", "num", "id")),
                    ("social", ("security",)), ("medical", ("record",)), ("booking", ("number", "no", "id")),
                    ("file", ("number", "no")), ("inmate", ("number", "no", "id")))


def _number(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return round(v, 6) if math.isfinite(v) else None


def _text(value: Any, allowed: Iterable[str] = ()) -> str:
    """An engine sentence, quoted literals outside ``allowed`` and ``ENGINE_WORDS`` withheld, then cut."""
    keep = ENGINE_WORDS | set(allowed)

    def literal(match: re.Match) -> str:
        inner = match.group(1) if match.group(1) is not None else match.group(2)
        return match.group(0) if inner in keep else f"'{WITHHELD}'"

    return QUOTED.sub(literal, str(value))[:MAX_TEXT]


def identifier_name(column: str) -> bool:
    """Whether a column name suggests a direct identifier (names, SSN, contact, address, record numbers, notes)."""
    tokens = name_tokens(str(column))
    joined = "".join(tokens)
    return (any(t in IDENTIFIER_TOKENS for t in tokens) or any(w in joined for w in IDENTIFIER_JOINED)
            or any(a in tokens and any(b in tokens for b in bs) for a, bs in IDENTIFIER_PAIRS))


def figures_of(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Release-level figures: finite numbers only, rounded (no per-person or per-persona value)."""
    return {str(k): n for k, v in sorted(metrics.items()) if (n := _number(v)) is not None}


def vocabulary_words(domain: Domain) -> set[str]:
    """Every word the domain declares (its name, event types, outcomes, columns): what a text may quote."""
    return {domain.name, *domain.event_types, *domain.outcomes, *domain.qis, *domain.sensitive,
            *domain.bias_attributes, *domain.adverse_outcomes}


def domain_vocabulary(domain: Domain) -> dict[str, Any]:
    """What the domain declares: names and vocabularies, never data."""
    return {"name": domain.name, "event_types": {t: list(o) for t, o in domain.event_types.items()},
            "qis": list(domain.qis), "sensitive": list(domain.sensitive),
            "bias_attributes": list(domain.bias_attributes), "adverse_outcomes": list(domain.adverse_outcomes)}


def explain_payload(metrics: Mapping[str, Any], policy: Mapping[str, Any], failures: Sequence[str], verdict: str,
                    domain: Domain, refusal: str = "") -> Payload:
    """Explain a verdict or a refusal: the figures, the targets, what failed and the rule-based verdict."""
    words = vocabulary_words(domain)
    return checked(Payload(EXPLAIN, {
        "figures": figures_of(metrics), "targets": {k: policy.get(k) for k in TARGET_KEYS if k in policy},
        "failures": [_text(f, words) for f in failures], "verdict": _text(verdict, words),
        "refusal": _text(refusal, words), "domain": domain_vocabulary(domain)}))


def recommend_payload(metrics: Mapping[str, Any], policy: Mapping[str, Any], failures: Sequence[str],
                      domain: Domain, refusal: str = "") -> Payload:
    """Recommend changes to a configuration: the figures, targets, failures and what may change (and how)."""
    words = vocabulary_words(domain)
    return checked(Payload(RECOMMEND, {
        "figures": figures_of(metrics), "targets": {k: policy.get(k) for k in TARGET_KEYS if k in policy},
        "failures": [_text(f, words) for f in failures], "refusal": _text(refusal, words),
        "configuration": {k: policy.get(k) for k in CONFIG_KEYS if k in policy},
        "changeable": dict(CHANGEABLE), "domain": domain_vocabulary(domain)}))


def column_summary(values: pd.Series, people: pd.Series, min_people: int, identifier: bool = False,
                   withhold: bool = False) -> dict[str, Any]:
    """One column as aggregates: its kind, how many distinct values, and the values at least ``min_people`` people
    share (with their number of people, rounded down to a multiple of 5); numbers as coarse quartiles when enough
    people have one; dates as the years at least ``min_people`` people have a date in. A column named like a direct
    identifier (``identifier``) gets its kind only: none of its values, however common; so does any column when
    ``withhold`` (who shares a value is unknown)."""
    present = values.notna().to_numpy()
    n_people = int(people[present].nunique())
    out: dict[str, Any] = {"kind": _kind(values), "share_missing": round(float(1 - present.mean()), 2) if len(values)
                           else 0.0, "distinct_values": _bucket(int(values.nunique()))}
    if identifier:
        out["identifier"] = True
    if identifier or withhold:
        return out
    if out["kind"] == "number":
        nums = pd.to_numeric(values, errors="coerce")
        if n_people >= 4 * min_people:
            q = np.nanquantile(nums.to_numpy(dtype=float), [0.25, 0.5, 0.75])
            out["quartiles"] = [_two_significant(x) for x in q]
        return out
    if out["kind"] == "date":
        years = pd.to_datetime(values, errors="coerce", format="mixed").dt.year
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


def column_names(table: pd.DataFrame) -> list[str]:
    """The names a payload gives the columns: their own, or ``column <position>`` for all of them when any name
    looks like a data value (a file read without its header row names its columns by its first row)."""
    if any(looks_like_data(c) for c in table.columns):
        return [f"column {i + 1}" for i in range(len(table.columns))]
    return [str(c)[:60] for c in table.columns]


def table_summary(table: pd.DataFrame, person_column: str | None, min_people: int,
                  rows_are_people: bool = True) -> dict[str, Any]:
    """Every column of a table as aggregates (``column_summary``); the person id column only by name. Without a
    person column each row counts as one person where rows are people (a people table); elsewhere (events, several
    rows per person) no value is summarized, since who shares it is unknown."""
    names = column_names(table)
    at = next((i for i, c in enumerate(table.columns) if person_column is not None and c == person_column), None)
    if at is not None:
        people = table.iloc[:, at]
    else:
        people = pd.Series(np.arange(len(table)), index=table.index)  # each row its own person
    withhold = at is None and not rows_are_people
    columns = {names[i]: column_summary(table.iloc[:, i], people, min_people, identifier_name(names[i]), withhold)
               for i in range(len(table.columns)) if i != at}
    return {"columns": columns, "person_column": names[at] if at is not None else None}


def person_key(people: pd.DataFrame, events: pd.DataFrame, person_column: str | None) -> str | None:
    """The person id column: the one given, else the only column both tables have that is complete and unique in
    the people table (their join key); None when there is no such column."""
    if person_column is not None:
        return person_column
    shared = [c for c in people.columns if c in set(events.columns) and people[c].notna().all()
              and people[c].is_unique]
    return shared[0] if len(shared) == 1 and people.columns.is_unique and events.columns.is_unique else None


def draft_domain_payload(people: pd.DataFrame, events: pd.DataFrame, person_column: str | None,
                         known_domains: Sequence[str], min_people: int = MIN_PEOPLE) -> Payload:
    """Draft a custom domain from a new data set: column names, kinds and the values shared by enough people
    (counted per person: by ``person_column``, or the tables' join key when it is not given)."""
    key = person_key(people, events, person_column)
    return checked(Payload(DRAFT_DOMAIN, {
        "people": table_summary(people, key, min_people),
        "events": table_summary(events, key, min_people, rows_are_people=False),
        "min_people": int(min_people), "known_domains": [str(d) for d in known_domains]}))


def synthetic_payload(domain: Domain, aggregates: Mapping[str, Any], period: str, n_people: int) -> Payload:
    """Synthetic sample data for a domain: its vocabulary and published aggregates (event shares, outcome rates),
    keyed by the domain's event types and outcomes only (any other key is left out: it may be a rare raw value)."""
    types, outcomes = aggregates.get("event_type_shares") or {}, aggregates.get("outcome_shares") or {}
    clean = {"event_type_shares": {t: _number(types[t]) for t in domain.event_types if t in types},
             "outcome_shares": {t: {o: _number(outcomes[t][o]) for o in outs if o in outcomes[t]}
                                for t, outs in domain.event_types.items() if isinstance(outcomes.get(t), Mapping)},
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

"""Synthetic people-events sample data for any domain, from its vocabulary and a ``SyntheticSpec`` only.

``synthetic_events(domain, spec, period, seed)`` never sees a source row: people get plausible generated QIs
(birth dates, values of the domain's hierarchies, zip codes), events get types and outcomes drawn from the spec's
shares over the domain's vocabulary and dates uniform inside the period. Every row is flagged ``synthetic``, and
the tables must pass the project's own validation against the domain without a single quarantined row. All
draws are vectorized numpy over one seeded generator, so one seed gives identical frames.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from personatwin.advisor.base import SyntheticSpec
from personatwin.core import schema
from personatwin.core.domains import Domain, get_domain
from personatwin.core.errors import PersonaTwinError
from personatwin.core.hierarchy import FlatHierarchy, IntervalHierarchy, MappingHierarchy, PrefixHierarchy
from personatwin.ingest.synth import RACE_SHARES, RACES, X_SHARE
from personatwin.validate.validation import validate

SYNTHETIC = "synthetic"
ID_PREFIX = "SYN"
MAX_EVENTS_PER_PERSON = 1000.0
AGE_RANGE = (0.5, 30.0, 90.0)  # triangular: youngest, most common, oldest age at the period's start
DAYS_PER_YEAR = 365.2425
FLAT_VALUES = 5  # generated labels of a QI without a hierarchy


class SyntheticDataError(PersonaTwinError, ValueError):
    """Synthetic data could not be made, or did not pass validation against its domain."""


def period_bounds(period: str) -> tuple[np.datetime64, np.datetime64]:
    """First and last day of a period: '2024-06', '2024-Q2', '2024', '2024-06-15' or '2024-06-01/2024-06-30'."""
    text = str(period).strip()
    try:
        if "/" in text:
            first, last = (np.datetime64(p.strip(), "D") for p in text.split("/", 1))
        elif m := re.fullmatch(r"(\d{4})-?Q([1-4])", text, re.IGNORECASE):
            month = 3 * (int(m.group(2)) - 1) + 1
            first = np.datetime64(f"{m.group(1)}-{month:02d}", "M").astype("datetime64[D]")
            last = (np.datetime64(f"{m.group(1)}-{month:02d}", "M") + 3).astype("datetime64[D]") - 1
        elif re.fullmatch(r"\d{4}", text):
            first = np.datetime64(f"{text}-01-01", "D")
            last = np.datetime64(f"{text}-12-31", "D")
        elif re.fullmatch(r"\d{4}-\d{2}", text):
            first = np.datetime64(text, "M").astype("datetime64[D]")
            last = (np.datetime64(text, "M") + 1).astype("datetime64[D]") - 1
        else:
            first = last = np.datetime64(text, "D")
    except ValueError:
        raise SyntheticDataError(f"period {period!r}: use YYYY-MM, YYYY-Qn, YYYY, YYYY-MM-DD or "
                                 "YYYY-MM-DD/YYYY-MM-DD") from None
    if last < first:
        raise SyntheticDataError(f"period {period!r} ends before it starts")
    return first, last


def shares(given: Any, vocabulary: Sequence[str]) -> tuple[dict[str, float], bool]:
    """Shares over the vocabulary: the given ones (finite, non-negative, vocabulary only) normalized, else uniform;
    and whether the given ones were used."""
    given = given if isinstance(given, Mapping) else {}
    clean: dict[str, float] = {}
    for v in vocabulary:
        try:
            s = float(given.get(v))
        except (TypeError, ValueError):
            continue
        if math.isfinite(s) and s >= 0:
            clean[v] = s
    total = math.fsum(clean.values())
    if total > 0:
        return {v: clean.get(v, 0.0) / total for v in vocabulary}, True
    return ({v: 1.0 / len(vocabulary) for v in vocabulary} if vocabulary else {}), False


def _ids(n: int) -> np.ndarray:
    """Person ids SYN0000001, SYN0000002, ... (never derived from any source id)."""
    return np.char.add(ID_PREFIX, np.char.zfill(np.arange(1, n + 1).astype(str), 7)).astype(object)


def _birth_dates(n: int, start: np.datetime64, rng: np.random.Generator) -> np.ndarray:
    """Birth dates giving ages spread over life (triangular), every one before the period."""
    ages = rng.triangular(*AGE_RANGE, size=n)
    days = np.ceil(ages * DAYS_PER_YEAR).astype(np.int64)
    return (start - days).astype("datetime64[s]")


def _category_weights(qi: str, values: Sequence[str]) -> np.ndarray:
    """Plausible shares of a categorical QI's values: the generator's race and sex mixes where they apply, else
    uniform."""
    if qi == "race" and tuple(values) == RACES:
        w = np.asarray(RACE_SHARES, dtype=np.float64)
    elif qi == "sex" and set(values) == {"F", "M", "X"}:
        w = np.array([X_SHARE if v == "X" else (1 - X_SHARE) / 2 for v in values])
    else:
        w = np.ones(len(values))
    return w / w.sum()


def _codes(n: int, lengths: Sequence[int], rng: np.random.Generator) -> np.ndarray:
    """Codes of a prefix hierarchy (zip5): a few areas (shared prefixes), then the remaining digits at random."""
    width = int(lengths[0])
    head = int(lengths[1]) if len(lengths) > 1 and 0 < int(lengths[1]) < width else width
    areas = rng.integers(10 ** (head - 1), 10**head, size=max(3, min(50, n // 50 + 1)))
    prefix = areas[rng.integers(0, len(areas), size=n)]
    tail = rng.integers(0, 10 ** (width - head), size=n) if width > head else np.zeros(n, dtype=np.int64)
    codes = prefix * 10 ** (width - head) + tail
    return np.char.zfill(codes.astype(str), width).astype(object)


def qi_values(qi: str, domain: Domain, n: int, rng: np.random.Generator) -> np.ndarray:
    """Generated values of one QI from its hierarchy: categories, numbers in its bands, prefix codes."""
    h = domain.hierarchy(qi)
    if isinstance(h, MappingHierarchy):
        values = list(dict.fromkeys(h.values))
        return np.asarray(values, dtype=object)[rng.choice(len(values), size=n, p=_category_weights(qi, values))]
    if isinstance(h, PrefixHierarchy):
        return _codes(n, h.lengths, rng)
    if isinstance(h, IntervalHierarchy):
        top = float(h.top_code) if h.top_code is not None else h.lower + 100
        return np.floor(rng.uniform(h.lower, max(top, h.lower + 1), size=n))
    if isinstance(h, FlatHierarchy) and qi == "sex":
        return np.asarray(["F", "M"], dtype=object)[rng.integers(0, 2, size=n)]
    labels = np.asarray([f"{qi} {chr(ord('A') + i)}" for i in range(FLAT_VALUES)], dtype=object)
    return labels[rng.integers(0, FLAT_VALUES, size=n)]


def synthetic_people(domain: Domain, n: int, start: np.datetime64, rng: np.random.Generator) -> pd.DataFrame:
    """People with the domain's QIs (age as a birth date before ``start``), flagged synthetic."""
    columns: dict[str, Any] = {schema.PERSON_ID: pd.array(_ids(n), dtype=schema.STRING)}
    for qi in domain.qis:
        if qi == schema.AGE:
            columns[schema.BIRTH_DATE] = _birth_dates(n, start, rng)
        else:
            values = qi_values(qi, domain, n, rng)
            columns[qi] = values if values.dtype.kind == "f" else pd.array(values, dtype=schema.STRING)
    columns[SYNTHETIC] = np.ones(n, dtype=bool)
    return pd.DataFrame(columns)


def _vocabulary(domain: Domain) -> dict[str, tuple[str, ...]]:
    """Event types that have outcomes, with their outcomes."""
    vocabulary = {t: tuple(o) for t, o in domain.event_types.items() if o}
    if not vocabulary:
        raise SyntheticDataError(f"domain {domain.name!r} has no event type with outcomes to draw events from")
    return vocabulary


def outcome_table(vocabulary: Mapping[str, Sequence[str]], spec: SyntheticSpec,
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Per event type, the outcome labels and their cumulative shares (padded: one row per type)."""
    width = max(len(o) for o in vocabulary.values())
    labels = np.full((len(vocabulary), width), None, dtype=object)
    cumulative = np.ones((len(vocabulary), width))
    for i, (t, outs) in enumerate(vocabulary.items()):  # one row per event type
        p, _ = shares((spec.outcome_shares or {}).get(t), list(outs))
        labels[i, :len(outs)] = outs
        cumulative[i, :len(outs)] = np.cumsum([p[o] for o in outs])
        cumulative[i, len(outs) - 1:] = 1.0
    return labels, cumulative


def events_per_person(spec: SyntheticSpec) -> float:
    """The spec's mean events per person, at least 1 and at most MAX_EVENTS_PER_PERSON."""
    try:
        mean = float(spec.events_per_person)
    except (TypeError, ValueError):
        mean = 1.0
    return min(max(mean, 1.0), MAX_EVENTS_PER_PERSON) if math.isfinite(mean) else 1.0


def synthetic_event_table(domain: Domain, spec: SyntheticSpec, person_ids: np.ndarray, first: np.datetime64,
                          last: np.datetime64, rng: np.random.Generator) -> pd.DataFrame:
    """Events: at least one per person, types and outcomes drawn from the spec's shares (vocabulary values
    only), dates uniform inside [first, last], flagged synthetic; ordered by person and date."""
    vocabulary = _vocabulary(domain)
    types = list(vocabulary)
    n = len(person_ids)
    counts = 1 + rng.poisson(events_per_person(spec) - 1.0, size=n)
    who = np.repeat(np.arange(n), counts)
    m = len(who)
    type_p, _ = shares(spec.event_type_shares, types)
    t = rng.choice(len(types), size=m, p=np.asarray([type_p[x] for x in types]))
    labels, cumulative = outcome_table(vocabulary, spec)
    u = rng.random(m)
    o = np.minimum((u[:, None] >= cumulative[t]).sum(axis=1), labels.shape[1] - 1)
    days = rng.integers(0, int((last - first).astype(np.int64)) + 1, size=m)
    dates = (first + days).astype("datetime64[s]")
    order = np.lexsort((dates, who))
    return pd.DataFrame({
        schema.PERSON_ID: pd.array(person_ids[who[order]], dtype=schema.STRING),
        schema.EVENT_TYPE: pd.array(np.asarray(types, dtype=object)[t[order]], dtype=schema.STRING),
        schema.EVENT_DATE: dates[order],
        schema.OUTCOME: pd.array(labels[t[order], o[order]], dtype=schema.STRING),
        SYNTHETIC: np.ones(m, dtype=bool),
    })


def check_synthetic(people: pd.DataFrame, events: pd.DataFrame, domain: Domain, first: np.datetime64,
                    last: np.datetime64) -> None:
    """Raise unless the tables pass validation against the domain with nothing quarantined, every event lies
    inside the period, and every row is flagged synthetic."""
    checked = validate(people, events, domain, as_of=pd.Timestamp(last))
    if len(checked.quarantine) or checked.counts.get("people_duplicates_collapsed", 0):
        reasons = "; ".join(f"{table} {reason}: {n}" for (table, reason), n in checked.reason_counts().items())
        raise SyntheticDataError(f"synthetic data for {domain.name!r} failed validation ({reasons})")
    day = events[schema.EVENT_DATE].to_numpy().astype("datetime64[D]")
    if len(day) and (day.min() < first or day.max() > last):
        raise SyntheticDataError("synthetic events fall outside the requested period")
    if not (people[SYNTHETIC].all() and events[SYNTHETIC].all()):
        raise SyntheticDataError("synthetic rows must all be flagged synthetic")


def synthetic_events(domain: str | Domain | Mapping | Path, spec: SyntheticSpec, period: str,
                     seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Synthetic (people, events) for a domain from its vocabulary and the spec only, dated inside ``period``,
    every row flagged ``synthetic``, validated against the domain (``SyntheticDataError`` otherwise)."""
    dom = get_domain(domain)
    n = int(spec.n_people)
    if n < 1:
        raise SyntheticDataError(f"synthetic data needs at least one person, got n_people={spec.n_people}")
    first, last = period_bounds(period)
    rng = np.random.default_rng(seed)
    people = synthetic_people(dom, n, first, rng)
    events = synthetic_event_table(dom, spec, people[schema.PERSON_ID].to_numpy(dtype=object), first, last, rng)
    check_synthetic(people, events, dom, first, last)
    return people, events

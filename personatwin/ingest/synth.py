"""Seeded synthetic people-events data for the built-in domains (DESIGN §2 data contract).

The embedded default for demos, tests and benchmarks. It is built to be *realistic enough to find
something*: unequal race shares with rare groups, domain-typical ages with a few very old outliers,
a heavy-tailed geography (a few urban zips, a long tail of rural zips holding a handful of people),
heavy-tailed event counts, event sequences per domain (arrest -> charge -> hearing -> ...), seasonal
dates, and outcome probabilities that differ by race and sex so a bias analysis has a disparity to
measure. Everything is vectorized numpy (loops run only over event types / categories), so 1M
people / 10M events take seconds, and one seed gives identical frames.

    >>> data = generate("criminal_justice", n_people=1_000, seed=1)
    >>> table = flat(data)          # one row per event, person columns repeated

Opt-in hard shapes of real agency data (off by default; the default output never changes):
``sensitive_counts`` adds person-level integer counts that are mostly zero with a long tail
(``{"prior_offenses": 0.35, "juvenile_felonies": 0.95}`` maps each column to its zero share), and
``rare_category_share`` moves a share of people into the rare race groups (``RARE_RACES``). Both
draw from child generators of the seed's generator: count columns leave everything else exactly as
without them; moving people keeps every event's person, type and date and everyone else's
outcomes (the moved people's outcomes follow their new race; end dates, values and locations are
drawn after outcomes, so they can shift). ``planted_odds_ratio`` sets the odds ratio of one outcome
between two race (or sex) groups exactly in the outcome probabilities (no extra random draw), so a
research validation has a known effect to recover.

CLI: ``python -m personatwin.ingest.synth --domain criminal_justice --people 1000 --out DIR``.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from personatwin.core import schema
from personatwin.core.domains import BUILTIN_DOMAINS, Domain, get_domain

SEXES = ("F", "M", "X")
RACES = ("White", "Black", "Hispanic", "Asian", "Pacific Islander", "Native American", "Multiracial", "Other")
# Population shares of the synthetic region (before zip mix and domain tilt); some groups are rare.
RACE_SHARES = (0.585, 0.13, 0.18, 0.055, 0.003, 0.01, 0.027, 0.01)
X_SHARE = 0.005  # share of sex X, in every domain
# The uncommon race values of the hierarchy (population share <= 1%): targets of rare_category_share.
RARE_RACES = ("Pacific Islander", "Native American", "Other")
# Non-zero sensitive counts: 1 + gamma-Poisson(COUNT_EXTRA_MEAN * event intensity, shape COUNT_SHAPE),
# capped at COUNT_MAX; COUNT_RHO ties who is non-zero to the person's number of events.
COUNT_EXTRA_MEAN = 2.0
COUNT_SHAPE = 0.5
COUNT_MAX = 40
COUNT_RHO = 0.5
PEOPLE_COLUMNS = (schema.PERSON_ID, schema.BIRTH_DATE, "sex", "race", "zip")
EVENT_COLUMNS = (schema.PERSON_ID, schema.EVENT_TYPE, schema.EVENT_DATE, schema.END_DATE, schema.OUTCOME,
                 schema.LOCATION, schema.VALUE)
DAYS_PER_YEAR = 365.2425


# --------------------------------------------------------------------------------------------
# Domain profiles: the statistical shape of each domain (vocabulary comes from the domain YAML).
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chain:
    """One kind of episode: event types in order, P(next stage | stage), mean days between stages."""

    types: tuple[str, ...]
    weight: float
    cont: tuple[float, ...] = ()
    gaps: tuple[float, ...] = ()


@dataclass(frozen=True)
class Profile:
    """How one domain's synthetic population and events are distributed.

    Outcome disparities are log-odds shifts of the domain's adverse outcomes by race and sex.
    ``durations`` / ``values`` map ``(event_type, outcome or None)`` to ``(median, sigma[, min])``
    of a log-normal: days until ``end_date``, and the event's ``value``.
    """

    female: float
    age_bands: tuple[tuple[float, float, float], ...]  # (low age, high age, weight), age at start
    chains: tuple[Chain, ...]
    outcome_weights: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    continue_outcomes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    race_tilt: Mapping[str, float] = field(default_factory=dict)
    race_effect: Mapping[str, float] = field(default_factory=dict)
    sex_effect: Mapping[str, float] = field(default_factory=dict)
    durations: Mapping[tuple[str, str | None], tuple[float, ...]] = field(default_factory=dict)
    values: Mapping[tuple[str, str | None], tuple[float, float]] = field(default_factory=dict)
    value_tilt: float = 0.0  # values scale by exp(value_tilt * disparity effect)
    season_peak: int = 180  # day of year with the most episode starts
    season_amp: float = 0.1
    weekday: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0, 0.6, 0.6)  # Mon..Sun
    trend: float = 0.0  # yearly log growth of volume
    local_share: float = 0.85  # events located in the person's own zip


_OLD = (90.0, 101.0)  # the very old outliers every domain has a few of
_WORKWEEK = (1.15, 1.15, 1.15, 1.15, 1.1, 0.15, 0.15)

PROFILES: dict[str, Profile] = {
    "criminal_justice": Profile(
        female=0.24,
        age_bands=((12, 18, 0.04), (18, 25, 0.29), (25, 35, 0.31), (35, 45, 0.18), (45, 60, 0.14),
                   (60, 75, 0.031), (75, 90, 0.006), (*_OLD, 0.003)),
        race_tilt={"Black": 2.0, "Native American": 1.6, "Hispanic": 1.1, "Asian": 0.5},
        chains=(
            Chain(("arrest", "charge", "hearing", "disposition", "sentence"), 0.85,
                  (0.72, 0.85, 0.75, 0.6), (2, 21, 45, 30)),
            Chain(("charge", "hearing", "disposition", "sentence"), 0.15, (0.8, 0.7, 0.5), (21, 45, 30)),
        ),
        outcome_weights={
            "arrest": {"booked": 0.6, "cited": 0.3, "released_no_charge": 0.1},
            "charge": {"filed": 0.65, "reduced": 0.2, "dropped": 0.15},
            "hearing": {"detained": 0.3, "released_on_bail": 0.3, "released_own_recognizance": 0.3,
                        "continued": 0.1},
            "disposition": {"convicted": 0.35, "plea": 0.4, "acquitted": 0.08, "dismissed": 0.17},
            "sentence": {"incarceration": 0.3, "probation": 0.45, "fine": 0.15, "community_service": 0.1},
        },
        continue_outcomes={"arrest": ("booked", "cited"), "charge": ("filed", "reduced"),
                           "disposition": ("convicted", "plea")},
        race_effect={"Black": 0.45, "Hispanic": 0.3, "Native American": 0.4, "Pacific Islander": 0.2,
                     "Multiracial": 0.15, "Other": 0.05, "Asian": -0.1},
        sex_effect={"F": -0.2, "M": 0.1},
        durations={("sentence", "incarceration"): (240, 1.0, 1), ("sentence", "probation"): (365, 0.4, 30),
                   ("sentence", "community_service"): (60, 0.5, 7), ("hearing", "detained"): (14, 1.0, 1)},
        values={("sentence", "fine"): (350, 0.8), ("hearing", "released_on_bail"): (2500, 0.9)},
        value_tilt=0.3,
        season_peak=200, season_amp=0.12, weekday=(0.9, 0.9, 0.95, 1.0, 1.15, 1.25, 1.1), trend=-0.02,
    ),
    "healthcare": Profile(
        female=0.53,
        age_bands=((0, 5, 0.06), (5, 18, 0.15), (18, 35, 0.22), (35, 50, 0.19), (50, 65, 0.19),
                   (65, 80, 0.135), (80, 90, 0.05), (*_OLD, 0.005)),
        chains=(
            Chain(("wellness", "diagnosis"), 0.28, (0.35,), (0.3,)),
            Chain(("ambulatory", "diagnosis", "ambulatory", "ambulatory"), 0.32, (0.6, 0.5, 0.4), (0.3, 30, 45)),
            Chain(("outpatient", "outpatient", "diagnosis"), 0.14, (0.4, 0.4), (14, 1)),
            Chain(("urgentcare", "diagnosis"), 0.10, (0.5,), (0.3,)),
            Chain(("emergency", "inpatient", "diagnosis", "outpatient"), 0.16, (0.3, 0.85, 0.5), (0.3, 1, 14)),
        ),
        outcome_weights={
            **{t: {"covered": 0.75, "partial": 0.17, "uncovered": 0.08}
               for t in ("wellness", "ambulatory", "outpatient", "urgentcare", "inpatient")},
            "emergency": {"covered": 0.65, "partial": 0.2, "uncovered": 0.15},
            "diagnosis": {"resolved": 0.65, "ongoing": 0.35},
        },
        race_effect={"Black": 0.35, "Hispanic": 0.5, "Native American": 0.45, "Pacific Islander": 0.3,
                     "Multiracial": 0.1, "Other": 0.2},
        sex_effect={"M": 0.1, "F": -0.05, "X": 0.2},
        durations={("inpatient", None): (4, 0.7, 1)},
        values={("wellness", None): (180, 0.4), ("ambulatory", None): (220, 0.6),
                ("outpatient", None): (650, 0.9), ("urgentcare", None): (280, 0.5),
                ("emergency", None): (1800, 0.9), ("inpatient", None): (14000, 1.0)},
        value_tilt=0.1,
        season_peak=20, season_amp=0.15, weekday=(1.1, 1.1, 1.1, 1.1, 1.05, 0.55, 0.45), trend=0.03,
    ),
    "education": Profile(
        female=0.49,
        age_bands=((4, 6, 0.1), (6, 11, 0.38), (11, 14, 0.24), (14, 18, 0.25), (18, 22, 0.024),
                   (22, 65, 0.005), (*_OLD, 0.001)),
        race_tilt={"Hispanic": 1.3, "Asian": 1.2, "Multiracial": 1.6},
        chains=(
            Chain(("enrolment", "assessment", "assessment", "assessment", "completion"), 0.55,
                  (0.95, 0.85, 0.75, 0.25), (40, 120, 120, 150)),
            Chain(("assessment", "assessment"), 0.25, (0.7,), (120,)),
            Chain(("suspension", "suspension", "expulsion"), 0.20, (0.3, 0.15), (30, 30)),
        ),
        outcome_weights={
            "enrolment": {"enrolled": 0.8, "transferred_in": 0.15, "withdrawn": 0.05},
            "assessment": {"proficient": 0.45, "partially_proficient": 0.3, "not_proficient": 0.25},
            "suspension": {"in_school": 0.55, "out_of_school": 0.45},
            "expulsion": {"expelled": 0.7, "expulsion_overturned": 0.3},
            "completion": {"graduated": 0.85, "dropped_out": 0.1, "ged": 0.05},
        },
        continue_outcomes={"enrolment": ("enrolled", "transferred_in")},
        race_effect={"Black": 0.5, "Hispanic": 0.3, "Native American": 0.45, "Pacific Islander": 0.25,
                     "Multiracial": 0.1, "Other": 0.1, "Asian": -0.3},
        sex_effect={"M": 0.3, "F": -0.2},
        durations={("suspension", None): (3, 0.6, 1), ("expulsion", "expelled"): (180, 0.3, 30)},
        values={("assessment", None): (250, 0.12)},
        value_tilt=-0.1,
        season_peak=15, season_amp=0.5, weekday=(1.2, 1.2, 1.2, 1.2, 1.1, 0.05, 0.05),
    ),
    "social_services": Profile(
        female=0.6,
        age_bands=((0, 18, 0.22), (18, 35, 0.32), (35, 50, 0.21), (50, 65, 0.15), (65, 90, 0.097),
                   (*_OLD, 0.003)),
        race_tilt={"Black": 1.6, "Hispanic": 1.3, "Native American": 1.5, "Asian": 0.7},
        chains=(
            Chain(("application", "assessment", "benefit_start", "case_review", "case_review", "case_closure"),
                  0.8, (0.8, 0.7, 0.8, 0.6, 0.5), (10, 21, 90, 180, 120)),
            Chain(("case_review", "case_review", "case_closure"), 0.2, (0.6, 0.5), (180, 120)),
        ),
        outcome_weights={
            "application": {"approved": 0.6, "denied": 0.25, "pending": 0.15},
            "assessment": {"eligible": 0.65, "ineligible": 0.2, "referred": 0.15},
            "benefit_start": {"snap": 0.45, "tanf": 0.15, "housing": 0.2, "childcare": 0.2},
            "case_review": {"continued": 0.7, "reduced": 0.18, "terminated": 0.12},
            "case_closure": {"self_sufficient": 0.35, "noncompliance": 0.25, "moved": 0.2, "other": 0.2},
        },
        continue_outcomes={"application": ("approved", "pending"), "assessment": ("eligible", "referred"),
                           "case_review": ("continued", "reduced")},
        race_effect={"Black": 0.35, "Hispanic": 0.25, "Native American": 0.35, "Pacific Islander": 0.2,
                     "Asian": 0.05, "Multiracial": 0.1, "Other": 0.1},
        sex_effect={"M": 0.15, "F": -0.05, "X": 0.1},
        durations={("benefit_start", None): (180, 0.6, 30)},
        values={("benefit_start", "snap"): (280, 0.5), ("benefit_start", "tanf"): (450, 0.4),
                ("benefit_start", "housing"): (900, 0.5), ("benefit_start", "childcare"): (600, 0.4)},
        value_tilt=-0.1,
        season_peak=15, season_amp=0.1, weekday=_WORKWEEK, trend=0.02,
    ),
    "employment": Profile(
        female=0.48,
        age_bands=((18, 25, 0.15), (25, 35, 0.28), (35, 45, 0.24), (45, 55, 0.18), (55, 65, 0.117),
                   (65, 71, 0.03), (*_OLD, 0.003)),
        chains=(
            Chain(("application", "interview", "interview", "hire"), 0.75, (0.35, 0.5, 0.45), (14, 10, 14)),
            Chain(("promotion", "promotion"), 0.15, (0.2,), (365,)),
            Chain(("separation",), 0.10),
        ),
        outcome_weights={
            "application": {"screened_in": 0.4, "screened_out": 0.6},
            "interview": {"advanced": 0.45, "rejected": 0.55},
            "hire": {"hired": 0.85, "offer_declined": 0.15},
            "promotion": {"promoted": 0.35, "not_promoted": 0.65},
            "separation": {"voluntary": 0.65, "involuntary": 0.25, "retired": 0.1},
        },
        continue_outcomes={"application": ("screened_in",), "interview": ("advanced",)},
        race_effect={"Black": 0.4, "Hispanic": 0.25, "Native American": 0.3, "Pacific Islander": 0.2,
                     "Asian": 0.1, "Multiracial": 0.1, "Other": 0.1},
        sex_effect={"F": 0.15, "X": 0.3},
        values={("hire", "hired"): (52000, 0.4), ("promotion", "promoted"): (61000, 0.4)},
        value_tilt=-0.15,
        season_peak=60, season_amp=0.1, weekday=_WORKWEEK,
    ),
}


def generic_profile(domain: Domain) -> Profile:
    """A plain profile for a custom domain: all ages, every event type a one-stage episode."""
    return Profile(
        female=0.5,
        age_bands=((0, 18, 0.2), (18, 65, 0.6), (65, 90, 0.195), (*_OLD, 0.005)),
        chains=tuple(Chain((t,), 1.0) for t in domain.event_types),
        race_effect={"Black": 0.3, "Hispanic": 0.2, "Native American": 0.3},
    )


# --------------------------------------------------------------------------------------------
# Geography: fixed synthetic states -> zip3 -> zip5, population heavily concentrated.
# --------------------------------------------------------------------------------------------

_GEO_SEED = 20210101
# (state, first zip digit, population share, number of zip3 areas)
_STATES = (("Aurora", 2, 0.5, 6), ("Bellmont", 5, 0.3, 5), ("Cascadia", 8, 0.2, 4))


@dataclass(frozen=True)
class Geography:
    """Zip codes sorted so each zip3 is a contiguous block ``[lo, hi)``; weights sum to 1."""

    zips: np.ndarray  # zip5 as str
    zip3: np.ndarray
    state: np.ndarray
    weight: np.ndarray
    lo: np.ndarray  # first zip index of each zip's zip3 block
    hi: np.ndarray  # one past the last
    race_mix: np.ndarray  # (n_zip, n_race) race shares of each zip


@functools.cache
def _geography() -> Geography:
    """The fixed synthetic map (independent of the seed, so every data set shares one map)."""
    rng = np.random.default_rng(_GEO_SEED)
    zips: list[int] = []
    weights: list[float] = []
    states: list[str] = []
    for state, digit, share, n3 in _STATES:
        prefixes = digit * 100 + np.sort(rng.choice(100, n3, replace=False))
        w3 = _zipf(n3, 1.1) * share  # the first zip3 of a state is its city
        for prefix, w in zip(prefixes, w3):
            n5 = int(rng.integers(4, 26))
            zips.extend(prefix * 100 + np.sort(rng.choice(100, n5, replace=False)))
            weights.extend(rng.permutation(_zipf(n5, 1.3)) * w)
            states.extend([state] * n5)
    code = np.asarray(zips)
    prefix = code // 100
    lo = np.searchsorted(prefix, prefix, side="left")
    hi = np.searchsorted(prefix, prefix, side="right")
    mix = np.asarray(RACE_SHARES) * rng.lognormal(0.0, 0.6, (len(code), len(RACES)))
    return Geography(
        zips=np.char.zfill(code.astype(str), 5),
        zip3=np.char.zfill(prefix.astype(str), 3),
        state=np.asarray(states),
        weight=np.asarray(weights) / np.sum(weights),
        lo=lo,
        hi=hi,
        race_mix=mix / mix.sum(axis=1, keepdims=True),
    )


def _zipf(n: int, exponent: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** exponent
    return w / w.sum()


def zip_geography() -> pd.DataFrame:
    """The synthetic map: zip, zip3, state and population share of every zip code."""
    geo = _geography()
    return pd.DataFrame({
        "zip": pd.Series(geo.zips, dtype=schema.STRING),
        "zip3": pd.Series(geo.zip3, dtype=schema.STRING),
        "state": pd.Series(geo.state, dtype=schema.STRING),
        "population_share": geo.weight,
    })


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyntheticData:
    """A generated people table, its events table and the domain name."""

    people: pd.DataFrame
    events: pd.DataFrame
    domain: str


def generate(
    domain: str = "criminal_justice",
    n_people: int = 10_000,
    events_per_person: float = 10.0,
    start: str = "2021-01-01",
    end: str = "2024-12-31",
    seed: int = 0,
    *,
    sensitive_counts: Mapping[str, float] | None = None,
    rare_category_share: float | None = None,
    planted_odds_ratio: Mapping | None = None,
) -> SyntheticData:
    """Generate people and their events over ``[start, end]``; identical for an identical seed.

    Opt-in hard shapes (``None``, the default, leaves the output exactly as without them):

    ``sensitive_counts`` maps new people columns to their zero share, e.g.
    ``{"prior_offenses": 0.35, "juvenile_felonies": 0.95}``. Each column is an ``int64`` count per
    person (see ``sensitive_count_columns``): exactly ``round(share * n_people)`` people have 0; the
    others have ``1 + Poisson(2 * intensity * Gamma(0.5, 2))`` capped at 40 (mean about 3, a long
    tail up to 30-40), where ``intensity = sqrt((events + 1) / (mean events + 1))``. Who is non-zero
    and how large the count is both rise with the person's number of events; outcomes play no part.

    ``rare_category_share`` (0 to 1) moves that share of people, chosen at random among those not
    already in a rare group, into the rare race values ``RARE_RACES`` in equal parts, before their
    events are drawn (so their outcomes follow the new race), e.g. 0.005 of 20,000 people puts
    about 33 more people into each of Pacific Islander, Native American and Other.

    ``planted_odds_ratio``, e.g. ``{"attribute": "race", "groups": ("Black", "White"), "outcome": "detained",
    "odds_ratio": 1.8}``, makes the odds of the outcome (against every other outcome of its event type)
    of the first group exactly ``odds_ratio`` times those of the second in every cell of event type x
    other attribute (sex, or race) x whether the case continues; age plays no part in outcomes, so an
    odds ratio adjusted for age band and sex estimates it (for event types whose outcomes do not depend
    on the case continuing, e.g. hearing: pooling cells with different baseline odds would attenuate
    it). Only the first group's probability of that outcome changes; no random draw is added.
    """
    dom = get_domain(domain)
    profile = PROFILES.get(dom.name) or generic_profile(dom)
    if n_people < 0 or events_per_person < 0:
        raise ValueError("n_people and events_per_person must be non-negative")
    count_spec = _check_sensitive_counts(sensitive_counts)
    plant = _check_plant(planted_odds_ratio, dom)
    if rare_category_share is not None and not 0.0 <= float(rare_category_share) <= 1.0:
        raise ValueError(f"rare_category_share must be between 0 and 1, got {rare_category_share!r}")
    if not dom.event_types or not all(dom.event_types.values()):
        raise ValueError(f"domain {dom.name!r} needs event types that each have outcomes")
    t0, t1 = _day(start), _day(end)
    if t1 < t0:
        raise ValueError(f"end {end} is before start {start}")
    rng = np.random.default_rng(seed)
    # Child streams for the opt-in shapes: spawning leaves rng's own stream untouched.
    rare_rng, count_rng = rng.spawn(2)
    geo = _geography()

    sex, race, zip_idx, age = _people_codes(profile, geo, int(n_people), rng)
    counts = event_counts(int(n_people), float(events_per_person), rng)
    if rare_category_share:
        race = move_to_rare_races(race, float(rare_category_share), rare_rng)
    people = _people_frame(sex, race, zip_idx, age, t0, geo)
    for name, column in sensitive_count_columns(counts, count_spec, count_rng).items():
        people[name] = column
    events = _events_frame(dom, profile, geo, counts, sex, race, zip_idx, t0, t1, people[schema.PERSON_ID], rng,
                           plant)
    return SyntheticData(people=people, events=events, domain=dom.name)


@dataclass(frozen=True)
class Plant:
    """A planted odds ratio: ``outcome`` for ``group`` against ``reference`` of ``attribute`` (codes)."""

    attribute: str  # "race" or "sex"
    group: int
    reference: int
    outcome: str
    odds_ratio: float


def _check_plant(spec: Mapping | None, dom: Domain) -> Plant | None:
    """The planted odds ratio checked: race or sex groups of the generator, an outcome of the domain, OR > 0."""
    if spec is None:
        return None
    unknown = set(spec) - {"attribute", "groups", "outcome", "odds_ratio"}
    if unknown:
        raise ValueError(f"planted_odds_ratio has unknown keys {sorted(unknown)}")
    attribute = str(spec.get("attribute", "race"))
    labels = {"race": RACES, "sex": SEXES}.get(attribute)
    if labels is None:
        raise ValueError(f"planted_odds_ratio: attribute must be 'race' or 'sex', got {attribute!r}")
    groups = tuple(spec.get("groups") or ())
    if len(groups) != 2 or groups[0] == groups[1] or not set(groups) <= set(labels):
        raise ValueError(f"planted_odds_ratio: groups must be two different values of {labels}, got {groups!r}")
    outcome = str(spec.get("outcome"))
    if outcome not in dom.outcomes:
        raise ValueError(f"planted_odds_ratio: outcome {outcome!r} is not an outcome of {dom.name}")
    ratio = float(spec.get("odds_ratio", 0))
    if not ratio > 0 or not np.isfinite(ratio):
        raise ValueError(f"planted_odds_ratio: odds_ratio must be positive, got {spec.get('odds_ratio')!r}")
    return Plant(attribute, labels.index(groups[0]), labels.index(groups[1]), outcome, ratio)


def planted_weights(w: np.ndarray, slot: int, plant: Plant) -> np.ndarray:
    """Outcome weights (race, sex, outcome slot) of one event type with the group's weight of ``slot`` set so
    its odds of that outcome against the others are ``odds_ratio`` times the reference's, in every cell."""
    axis = 0 if plant.attribute == "race" else 1
    w = np.moveaxis(w.copy(), axis, 0)
    rest = w.sum(axis=-1) - w[..., slot]
    odds_ref = np.divide(w[plant.reference, :, slot], rest[plant.reference],
                         out=np.zeros(w.shape[1]), where=rest[plant.reference] > 0)
    w[plant.group, :, slot] = plant.odds_ratio * odds_ref * rest[plant.group]
    return np.moveaxis(w, 0, axis)


def sensitive_count_columns(events: np.ndarray, zero_shares: Mapping[str, float],
                            rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Person-level counts (``int64``) with real-world skew, one per ``{column: zero share}``.

    Zeros: exactly ``round(share * n)`` people, those with the lowest
    ``COUNT_RHO * z + sqrt(1 - COUNT_RHO**2) * N(0, 1)``, where ``z`` is the standardized
    ``log(1 + events)``; so people with more events are non-zero more often. Non-zero counts:
    ``1 + Poisson(COUNT_EXTRA_MEAN * intensity * Gamma(COUNT_SHAPE, 1 / COUNT_SHAPE))`` capped at
    ``COUNT_MAX``, with ``intensity = sqrt((events + 1) / (mean events + 1))``: a negative-binomial
    tail whose scale grows with the number of events. Columns are drawn one after another, in the
    mapping's order, from ``rng``.
    """
    n = len(events)
    score = np.log1p(events.astype(float))
    spread = float(score.std()) if n else 0.0
    score = (score - score.mean()) / spread if spread > 0 else np.zeros(n)
    intensity = np.sqrt((events + 1.0) / (float(events.mean()) + 1.0)) if n else np.zeros(0)
    out: dict[str, np.ndarray] = {}
    for name, share in zero_shares.items():
        latent = COUNT_RHO * score + np.sqrt(1 - COUNT_RHO**2) * rng.standard_normal(n)
        rate = COUNT_EXTRA_MEAN * intensity * rng.gamma(COUNT_SHAPE, 1 / COUNT_SHAPE, n)
        count = np.minimum(1 + rng.poisson(rate), COUNT_MAX).astype(np.int64)
        count[np.argsort(latent, kind="stable")[: int(round(share * n))]] = 0
        out[name] = count
    return out


def move_to_rare_races(race: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """Race codes with ``round(share * n)`` random people not in ``RARE_RACES`` moved into them.

    The moved people are split in equal parts (in random order) over the rare races.
    """
    rare = np.array([RACES.index(r) for r in RARE_RACES], dtype=race.dtype)
    movable = np.flatnonzero(~np.isin(race, rare))
    k = min(int(round(share * len(race))), len(movable))
    chosen = rng.choice(movable, size=k, replace=False)
    out = race.copy()
    out[chosen] = rare[np.arange(k) % len(rare)]
    return out


def _check_sensitive_counts(spec: Mapping[str, float] | None) -> dict[str, float]:
    """``{column: zero share}`` checked: new people column names, shares between 0 and 1."""
    out: dict[str, float] = {}
    for name, share in (spec or {}).items():
        if not isinstance(name, str) or not name or name in PEOPLE_COLUMNS:
            raise ValueError(f"sensitive count column {name!r} must be a new, non-empty column name "
                             f"(not one of {PEOPLE_COLUMNS})")
        value = float(share)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"zero share of {name!r} must be between 0 and 1, got {share!r}")
        out[name] = value
    return out


def flat(data: SyntheticData) -> pd.DataFrame:
    """One row per event with the person's columns repeated (people columns first)."""
    people, events = data.people, data.events
    ids = pa.array(people[schema.PERSON_ID].astype(schema.STRING))
    pos = pc.index_in(pa.array(events[schema.PERSON_ID].astype(schema.STRING)), value_set=ids)
    if pos.null_count:
        raise ValueError(f"{pos.null_count} events reference person_ids missing from the people table")
    idx = pos.to_numpy(zero_copy_only=False).astype(np.int64)
    take = people.drop(columns=[schema.PERSON_ID]).iloc[idx].reset_index(drop=True)
    ev = events.reset_index(drop=True)
    cols = {schema.PERSON_ID: ev[schema.PERSON_ID], **{c: take[c] for c in take.columns},
            **{c: ev[c] for c in ev.columns if c != schema.PERSON_ID}}
    return pd.DataFrame(cols)


# --------------------------------------------------------------------------------------------
# People
# --------------------------------------------------------------------------------------------


def _day(value: str) -> np.datetime64:
    """A date given as text (or anything pandas parses) as a numpy day."""
    return pd.Timestamp(value).to_datetime64().astype("datetime64[D]")


def _draw(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Index into a cumulative distribution (last entry 1) for uniforms ``u``."""
    return np.minimum(np.searchsorted(cum, u, side="right"), len(cum) - 1)


def _draw_rows(cum: np.ndarray, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Like ``_draw`` with a different cumulative distribution (a row of ``cum``) per draw."""
    out = np.zeros(len(rows), dtype=np.int64)
    for k in range(cum.shape[1] - 1):
        out += u >= cum[rows, k]
    return out


def _people_codes(profile: Profile, geo: Geography, n: int, rng: np.random.Generator):
    """Codes of sex, race and zip, and age at the start date in years (float)."""
    zip_idx = _draw(np.cumsum(geo.weight), rng.random(n))
    tilt = np.array([profile.race_tilt.get(r, 1.0) for r in RACES])
    mix = geo.race_mix * tilt
    race = _draw_rows(np.cumsum(mix / mix.sum(axis=1, keepdims=True), axis=1), zip_idx, rng.random(n))
    p_sex = np.array([profile.female * (1 - X_SHARE), (1 - profile.female) * (1 - X_SHARE), X_SHARE])
    sex = _draw(np.cumsum(p_sex), rng.random(n))
    bands = np.asarray(profile.age_bands, dtype=float)
    band = _draw(np.cumsum(bands[:, 2] / bands[:, 2].sum()), rng.random(n))
    age = bands[band, 0] + rng.random(n) * (bands[band, 1] - bands[band, 0])
    return sex.astype(np.int8), race.astype(np.int8), zip_idx, age


def _people_frame(sex, race, zip_idx, age, t0: np.datetime64, geo: Geography) -> pd.DataFrame:
    """The people table: zero-padded ids in order, birth date = start date minus age."""
    n = len(sex)
    width = max(7, len(str(n)))
    ids = "P" + pd.Series(np.arange(1, n + 1)).astype(schema.STRING).str.zfill(width)
    birth = t0 - np.floor(age * DAYS_PER_YEAR).astype(np.int64).astype("timedelta64[D]")
    return pd.DataFrame({
        schema.PERSON_ID: ids,
        schema.BIRTH_DATE: pd.Series(birth.astype(schema.DATE)),
        "sex": _strings(sex, SEXES),
        "race": _strings(race, RACES),
        "zip": _strings(zip_idx, geo.zips),
    })


def _strings(codes: np.ndarray, labels: Sequence[str] | np.ndarray) -> pd.Series:
    """Arrow-backed string column from integer codes (decoded in C++, not per row in Python)."""
    arr = pa.array(np.asarray(labels, dtype=str), type=pa.large_string()).take(pa.array(codes))
    return pd.Series(arr, dtype=schema.STRING)


# --------------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------------


def event_counts(n: int, mean: float, rng: np.random.Generator) -> np.ndarray:
    """Heavy-tailed events per person with the requested mean.

    A gamma-Poisson (negative binomial) mixture with 10% "frequent" people at 3x the rate; for
    means >= 2 everyone has at least one event except a rare 1% with none.
    """
    if mean <= 0:
        return np.zeros(n, dtype=np.int64)
    shift, zero = (1, 0.01) if mean >= 2 else (0, 0.0)
    mu = mean / (1 - zero) - shift
    scale = np.where(rng.random(n) < 0.1, 3.0, 1.0) / 1.2
    counts = rng.poisson(mu * scale * rng.gamma(1.5, 1 / 1.5, n)) + shift
    counts[rng.random(n) < zero] = 0
    return counts.astype(np.int64)


def _chain_tables(profile: Profile, types: Sequence[str]):
    """Chains as arrays: type code per (chain, stage), continuation and gap per stage."""
    chains = [c for c in profile.chains if all(t in types for t in c.types)] or [Chain((t,), 1.0) for t in types]
    depth = max(len(c.types) for c in chains)
    type_code = np.zeros((len(chains), depth), dtype=np.int64)
    cont = np.zeros((len(chains), max(depth - 1, 1)))
    gaps = np.zeros((len(chains), max(depth - 1, 1)))
    for i, c in enumerate(chains):
        type_code[i, : len(c.types)] = [types.index(t) for t in c.types]
        k = len(c.types) - 1
        cont[i, : min(k, len(c.cont))] = c.cont[:k]
        gaps[i, : min(k, len(c.gaps))] = c.gaps[:k]
    weight = np.array([c.weight for c in chains], dtype=float)
    return type_code, cont, gaps, weight / weight.sum()


def _episode_stream(cont: np.ndarray, weight: np.ndarray, total: int, rng: np.random.Generator):
    """A stream of ``total`` events made of whole episodes: (chain, stage) of each event.

    Episode length follows the chain's continuation probabilities, so later stages are rarer.
    Cutting the stream into people later may start a person mid-episode, like a case begun before
    the data window.
    """
    if total == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    expected = float(weight @ np.cumprod(cont, axis=1).sum(axis=1)) + 1.0
    chain_parts, length_parts, have = [], [], 0
    while have < total:  # one or two passes: draws whole episodes until the stream is long enough
        m = int((total - have) / expected * 1.05) + 16
        chain = _draw(np.cumsum(weight), rng.random(m))
        length = 1 + np.cumprod(rng.random((m, cont.shape[1])) < cont[chain], axis=1).sum(axis=1)
        chain_parts.append(chain)
        length_parts.append(length)
        have += int(length.sum())
    chain = np.concatenate(chain_parts)
    length = np.concatenate(length_parts)
    episode = np.repeat(np.arange(len(length)), length)[:total]
    first = np.cumsum(length) - length
    stage = np.arange(total) - first[episode]
    return chain[episode], stage, episode


def _daily_weights(profile: Profile, t0: np.datetime64, n_days: int) -> np.ndarray:
    """Relative volume per day: yearly season, day of week and a slow trend."""
    days = t0 + np.arange(n_days)
    doy = (days - days.astype("datetime64[Y]")).astype(np.int64)
    dow = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    season = 1 + profile.season_amp * np.cos(2 * np.pi * (doy - profile.season_peak) / DAYS_PER_YEAR)
    trend = np.exp(profile.trend * np.arange(n_days) / DAYS_PER_YEAR)
    return season * np.asarray(profile.weekday)[dow] * trend


def _event_days(profile, chain, stage, new_episode, gaps, t0, n_days, rng) -> np.ndarray:
    """Day offset (from start) of every event: episode start + cumulative stage gaps.

    Episodes start on seasonal days chosen so the whole episode fits before ``end``.
    """
    gap = np.where(new_episode, 0.0,
                   np.floor(rng.exponential(1.0, len(stage)) * gaps[chain, np.maximum(stage - 1, 0)]))
    starts = np.flatnonzero(new_episode)
    episode = np.cumsum(new_episode) - 1
    csum = np.cumsum(gap)
    offset = csum - csum[starts][episode]
    last = np.append(starts[1:], len(stage))[: len(starts)] - 1
    span = offset[last]
    horizon = n_days - 1
    squeeze = span > horizon  # episodes longer than the window are compressed into it
    if squeeze.any():
        factor = np.where(squeeze, horizon / np.maximum(span, 1), 1.0)
        offset = np.floor(offset * factor[episode])
        span = np.minimum(span, horizon)
    cdf = np.cumsum(_daily_weights(profile, t0, n_days))
    cdf /= cdf[-1]
    limit = cdf[(horizon - span).astype(np.int64)]
    first_day = _draw(cdf, rng.random(len(starts)) * limit)
    return (first_day[episode] + offset).astype(np.int64)


def _outcome_tables(profile: Profile, dom: Domain, types: Sequence[str], outcomes: Sequence[str],
                    plant: Plant | None = None):
    """Cumulative outcome probabilities per (type, race, sex, continues) and slot -> outcome code.

    Adverse outcomes get the profile's race + sex log-odds shift; an event followed by a later
    stage of its episode draws only outcomes that let the case continue (no hearing after a
    dropped charge). A ``plant`` then sets one group's odds of one outcome (``planted_weights``).
    """
    depth = max((len(dom.event_types[t]) for t in types), default=1)
    eff = (np.array([profile.race_effect.get(r, 0.0) for r in RACES])[:, None]
           + np.array([profile.sex_effect.get(s, 0.0) for s in SEXES])[None, :])
    cum = np.ones((len(types), len(RACES), len(SEXES), 2, depth))
    slot_code = np.zeros((len(types), depth), dtype=np.int64)
    n_out = np.zeros(len(types), dtype=np.int64)
    for t, name in enumerate(types):
        outs = dom.event_types[name]
        n_out[t] = len(outs)
        slot_code[t, : len(outs)] = [outcomes.index(o) for o in outs]
        given = profile.outcome_weights.get(name, {})
        base = np.array([given.get(o, 1.0 / max(len(outs), 1)) for o in outs])
        adverse = np.array([o in dom.adverse_outcomes for o in outs], dtype=float)
        full = base * np.exp(adverse * eff[..., None])
        allowed = np.array([o in profile.continue_outcomes.get(name, outs) for o in outs], dtype=float)
        cont = full * allowed if allowed.any() else full
        if plant is not None and plant.outcome in outs:
            slot = list(outs).index(plant.outcome)
            full, cont = planted_weights(full, slot, plant), planted_weights(cont, slot, plant)
        for c, w in enumerate((full, cont)):
            cum[t, :, :, c, : len(outs)] = np.cumsum(w / w.sum(axis=-1, keepdims=True), axis=-1)
    return cum.reshape(-1, depth), slot_code, n_out, eff


def _lognormal_table(spec: Mapping, types: Sequence[str], outcomes: Sequence[str]) -> np.ndarray:
    """(type, outcome or None = all) -> (median, sigma, minimum) as a (type, outcome, 3) array.

    The median is NaN where the spec gives nothing; the minimum defaults to 0.
    """
    table = np.full((len(types), len(outcomes), 3), np.nan)
    table[..., 2] = 0.0
    for (t, o), params in spec.items():
        if t in types and (o is None or o in outcomes):
            table[types.index(t), slice(None) if o is None else outcomes.index(o), : len(params)] = params
    return table


def _draw_lognormal(table: np.ndarray, etype: np.ndarray, outcome: np.ndarray, rng: np.random.Generator):
    """Log-normal draws for the events whose (type, outcome) has parameters: (mask, draws)."""
    has = ~np.isnan(table[etype, outcome, 0])
    p = table[etype[has], outcome[has]]
    return has, np.maximum(p[:, 0] * np.exp(p[:, 1] * rng.standard_normal(len(p))), p[:, 2])


def _locations(zip_idx: np.ndarray, local_share: float, geo: Geography, rng) -> np.ndarray:
    """Mostly the person's zip; otherwise a population-weighted zip of the same zip3."""
    u = rng.random(len(zip_idx))
    away = u >= local_share
    z = zip_idx[away]
    cw = np.concatenate([[0.0], np.cumsum(geo.weight)])
    v = cw[geo.lo[z]] + rng.random(len(z)) * (cw[geo.hi[z]] - cw[geo.lo[z]])
    out = zip_idx.copy()
    out[away] = np.clip(np.searchsorted(cw, v, side="right") - 1, geo.lo[z], geo.hi[z] - 1)
    return out


def _event_skeleton(profile: Profile, types: Sequence[str], counts: np.ndarray, t0: np.datetime64,
                    n_days: int, rng: np.random.Generator):
    """Person, event type code, day offset and "case continues" flag of every event.

    Returned already sorted by person then date (then stage), so the attributes drawn afterwards
    need no reordering and the big intermediates die with this frame.
    """
    total = int(counts.sum())
    type_table, cont, gaps, weight = _chain_tables(profile, types)
    person = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
    chain, stage, episode = _episode_stream(cont, weight, total, rng)
    new_episode = np.ones(total, dtype=bool)
    new_episode[1:] = (episode[1:] != episode[:-1]) | (person[1:] != person[:-1])
    del episode
    continues = np.append(~new_episode[1:], False)
    day = _event_days(profile, chain, stage, new_episode, gaps, t0, n_days, rng)
    etype = type_table[chain, stage].astype(np.int32)
    del chain, new_episode
    order = np.argsort((person.astype(np.int64) * n_days + day) * type_table.shape[1] + stage, kind="stable")
    return person[order], etype[order], day[order].astype(np.int32), continues[order]


def _events_frame(dom: Domain, profile: Profile, geo: Geography, counts, sex, race, zip_idx,
                  t0: np.datetime64, t1: np.datetime64, person_ids: pd.Series, rng,
                  plant: Plant | None = None) -> pd.DataFrame:
    """All events of all people, sorted by person_id then event_date."""
    types = list(dom.event_types)
    outcomes = list(dom.outcomes)
    n_days = int((t1 - t0).astype(np.int64)) + 1
    person, etype, day, continues = _event_skeleton(profile, types, counts, t0, n_days, rng)
    total = len(person)

    cum, slot_code, n_out, eff = _outcome_tables(profile, dom, types, outcomes, plant)
    r, s = race[person], sex[person]
    row = ((etype * len(RACES) + r) * len(SEXES) + s) * 2 + continues
    slot = np.minimum(_draw_rows(cum, row, rng.random(total)), n_out[etype] - 1)
    del row
    outcome = slot_code[etype, slot].astype(np.int32)
    del slot

    has_end, duration = _draw_lognormal(_lognormal_table(profile.durations, types, outcomes), etype, outcome, rng)
    end_day = day[has_end] + np.floor(duration).astype(np.int64)
    end_date = np.full(total, np.datetime64("NaT"), dtype=schema.DATE)
    open_ = end_day >= n_days  # still open when the data were extracted: no end date
    end_date[np.flatnonzero(has_end)[~open_]] = t0 + end_day[~open_]

    has_value, value_draw = _draw_lognormal(_lognormal_table(profile.values, types, outcomes), etype, outcome, rng)
    value = np.full(total, np.nan)
    value[has_value] = np.round(value_draw * np.exp(profile.value_tilt * eff[r[has_value], s[has_value]]), 2)
    del r, s

    location = _locations(zip_idx[person], profile.local_share, geo, rng)
    return pd.DataFrame({
        schema.PERSON_ID: pd.Series(pa.array(person_ids).take(pa.array(person)), dtype=schema.STRING),
        schema.EVENT_TYPE: _strings(etype, types),
        schema.EVENT_DATE: pd.Series((t0 + day).astype(schema.DATE)),
        schema.END_DATE: pd.Series(end_date),
        schema.OUTCOME: _strings(outcome, outcomes),
        schema.LOCATION: _strings(location, geo.zips),
        schema.VALUE: pd.Series(value),
    })


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def write(data: SyntheticData, out: str | Path, fmt: str = "parquet") -> tuple[Path, Path]:
    """Write ``people.<fmt>`` and ``events.<fmt>`` into directory ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = (out / f"people.{fmt}", out / f"events.{fmt}")
    for frame, path in zip((data.people, data.events), paths):
        if fmt == "parquet":
            frame.to_parquet(path, index=False)
        elif fmt == "csv":
            frame.to_csv(path, index=False, date_format="%Y-%m-%d")
        else:
            raise ValueError(f"unknown format {fmt!r} (use parquet or csv)")
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m personatwin.ingest.synth``: generate one domain's data set into a directory."""
    parser = argparse.ArgumentParser(prog="python -m personatwin.ingest.synth", description=__doc__.splitlines()[0])
    parser.add_argument("--domain", default="criminal_justice", help=f"one of {', '.join(BUILTIN_DOMAINS)}")
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--events-per-person", type=float, default=10.0)
    parser.add_argument("--start", default="2021-01-01")
    parser.add_argument("--end", default="2024-12-31")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    parser.add_argument("--sensitive-count", action="append", default=[], metavar="COLUMN=ZERO_SHARE",
                        help="add a skewed person-level count column, e.g. prior_offenses=0.35 (repeatable)")
    parser.add_argument("--rare-category-share", type=float, default=None,
                        help="share of people moved into the rare race groups, e.g. 0.005")
    args = parser.parse_args(argv)
    counts: dict[str, float] = {}
    for item in args.sensitive_count:
        name, sep, share = item.partition("=")
        try:
            counts[name.strip()] = float(share)
        except ValueError:
            sep = ""
        if not sep:
            parser.error(f"--sensitive-count takes COLUMN=ZERO_SHARE, got {item!r}")
    data = generate(args.domain, args.people, args.events_per_person, args.start, args.end, args.seed,
                    sensitive_counts=counts or None, rare_category_share=args.rare_category_share)
    people_path, events_path = write(data, args.out, args.format)
    print(f"{len(data.people):,} people -> {people_path}\n{len(data.events):,} events -> {events_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One protection pass: merge -> noise -> risk -> utility at fixed policy parameters.

``prepare`` puts validated people and events in a canonical order once (so the output never
depends on input row order) and encodes them as integer codes; ``protect`` runs one pass on those
codes and is what the auto-adjust loop repeats. Strings are only built for the released tables.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from personatwin import diversity, linkage, noise, risk, utility
from personatwin.codes import dense_codes
from personatwin.domains import Domain
from personatwin.keys import ReleaseKey
from personatwin.merge import Grouping, factorize, group_people, information_loss, person_features
from personatwin.personas import PersonaAttributes, generalized_codes, persona_attributes, start_level, start_levels
from personatwin.policy import PrivacyPolicy
from personatwin.schema import (
    END_DATE, EVENT_DATE, EVENT_PERIOD, EVENT_TYPE, LOCATION, OUTCOME, PERSON_ID, PERSONA_ID, PERSONA_SIZE, VALUE,
)


@dataclass(frozen=True)
class PreparedData:
    """Validated people and events in canonical order, as codes, with the merge features.

    Events are held as arrays in canonical order (person, day, type, outcome, then the other
    released columns as tie-breakers), never as a reordered frame: every pass works on codes.
    """

    people: pd.DataFrame  # row i = person i, sorted by person_id
    event_person: np.ndarray  # person index of each event
    event_day: np.ndarray  # datetime64[D]
    type_codes: np.ndarray
    type_names: tuple[str, ...]
    outcome_codes: np.ndarray
    outcome_names: tuple[str, ...]
    domain: Domain
    features: np.ndarray
    end_day: np.ndarray | None = None  # datetime64[D], NaT where absent
    location_codes: np.ndarray | None = None  # codes into location_names, -1 where missing
    location_names: tuple[str, ...] = ()
    values: np.ndarray | None = None  # float64, NaN where absent

    @property
    def n_people(self) -> int:
        return len(self.people)

    @property
    def n_events(self) -> int:
        return len(self.event_person)


@dataclass(frozen=True)
class Protection:
    """The result of one pass: release tables plus every risk and utility figure."""

    policy: PrivacyPolicy
    personas: pd.DataFrame
    events: pd.DataFrame
    sensitive: pd.DataFrame  # person-level sensitive attributes per persona (persona_id, attribute, value, count)
    pram: noise.PramMatrix
    risk: risk.RiskReport
    utility: utility.UtilityReport
    grouping: Grouping = field(repr=False)
    attributes: PersonaAttributes = field(repr=False)
    person_persona: np.ndarray = field(repr=False)  # internal only: never exported
    suppressed_events: int = 0
    timings: dict = field(default_factory=dict, repr=False)  # seconds per stage of this pass

    def failures(self) -> tuple[str, ...]:
        """Targets this pass misses, each with the amount."""
        p, r = self.policy, self.risk
        out = []
        if r.k_anonymity < p.k:
            out.append(f"k-anonymity {r.k_anonymity} < k={p.k}")
        if r.population_average_risk > p.target_risk:
            out.append(f"population average risk {r.population_average_risk:.4f} > target {p.target_risk} "
                       f"(by {r.population_average_risk - p.target_risk:.4f})")
        if r.external_linkage_risk > p.target_risk:
            out.append(f"external linkage risk {r.external_linkage_risk:.4f} > target {p.target_risk} "
                       f"(by {r.external_linkage_risk - p.target_risk:.4f}, m={p.attacker_knowledge})")
        if not np.isnan(r.l_diversity_distinct) and r.l_diversity_distinct < p.l_diversity:
            out.append(f"l-diversity {r.l_diversity_distinct:.0f} < l={p.l_diversity}")
        return tuple(out)


def person_index(people_ids: pd.Series, event_ids: pd.Series) -> np.ndarray:
    """Row of each event's person in ``people_ids`` (-1 if absent), hashed in Arrow, not Python."""
    import pyarrow as pa
    import pyarrow.compute as pc

    found = pc.index_in(pa.array(event_ids.astype("string"), type=pa.string()),
                        value_set=pa.array(people_ids.astype("string"), type=pa.string()))
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def _tie_key(events: pd.DataFrame) -> np.ndarray:
    """One int64 per event from the released columns beyond person, day, type and outcome."""
    key = np.zeros(len(events), dtype=np.int64)
    for col in (VALUE, LOCATION, END_DATE):
        if col in events.columns:
            codes, cats = factorize(events[col])
            key = key * (len(cats) + 1) + codes
    return key


def prepare(people: pd.DataFrame, events: pd.DataFrame, domain: Domain) -> PreparedData:
    """Canonical order, integer codes and merge features, computed once per release."""
    people = people.sort_values(PERSON_ID, kind="stable").reset_index(drop=True)
    person_idx = person_index(people[PERSON_ID], events[PERSON_ID]) if len(events) else np.zeros(0, np.int64)
    if (person_idx < 0).any():
        raise ValueError("events reference person_ids that are not among the valid people; validate first")
    type_codes, type_names = factorize(events[EVENT_TYPE])
    outcome_codes, outcome_names = factorize(events[OUTCOME])
    day = events[EVENT_DATE].to_numpy().astype("datetime64[D]")
    # One composite key (person, day, type, outcome) plus the other released columns as
    # tie-breakers: events equal on the first four still get one canonical order, so the output
    # never depends on input row order.
    d = day.astype(np.int64)
    d0 = int(d.min()) if len(d) else 0
    primary = ((person_idx * (int(d.max()) - d0 + 1 if len(d) else 1) + (d - d0)) * len(type_names) + type_codes) \
        * len(outcome_names) + outcome_codes
    order = np.lexsort((_tie_key(events), primary))
    end_day = events[END_DATE].to_numpy().astype("datetime64[D]")[order] if END_DATE in events.columns else None
    if LOCATION in events.columns:
        loc_codes, loc_names = pd.factorize(events[LOCATION], sort=True)
        location = (loc_codes[order].astype(np.int64), tuple(map(str, loc_names)))
    else:
        location = (None, ())
    values = events[VALUE].to_numpy(dtype=np.float64, na_value=np.nan)[order] if VALUE in events.columns else None
    person_idx, type_codes, outcome_codes, day = person_idx[order], type_codes[order], outcome_codes[order], day[order]
    feats = person_features(people, person_idx, type_codes, np.asarray(type_names, dtype=object), outcome_codes,
                            np.asarray(outcome_names, dtype=object), day, domain)
    return PreparedData(people, person_idx, day, type_codes, tuple(map(str, type_names)), outcome_codes,
                        tuple(map(str, outcome_names)), domain, feats, end_day, location[0], location[1], values)


def persona_ids(n: int, rng: np.random.Generator) -> np.ndarray:
    """Random, unique persona ids, never derived from person ids."""
    ids = rng.integers(0, 2**62, size=n, dtype=np.int64)
    while len(np.unique(ids)) < n:
        ids = rng.integers(0, 2**62, size=n, dtype=np.int64)
    return np.char.add("PT", np.char.zfill(np.char.mod("%x", ids), 16)).astype(object)


def _event_location(data: PreparedData, ev_persona: np.ndarray, attrs: PersonaAttributes,
                    policy: PrivacyPolicy) -> pd.Categorical:
    """Event locations generalized to the policy level, never finer than the persona's own location."""
    loc_qi = data.domain.location_qi
    codes = data.location_codes
    if not loc_qi:
        return pd.Categorical.from_codes(np.zeros(len(codes), dtype=np.int64), categories=["*"])
    h = data.domain.hierarchy(loc_qi)
    floor = attrs.levels[loc_qi].to_numpy()[ev_persona] if loc_qi in attrs.levels else np.zeros(len(codes), int)
    level = np.maximum(floor, policy.location_level)
    labels: dict[str, int] = {}
    out = np.empty(len(codes), dtype=np.int64)
    names = pd.Series(list(data.location_names) + [None], dtype="object")  # code -1 (missing) -> last
    for lv in np.unique(level):  # a loop over hierarchy levels
        lab = h.generalize(names, int(lv)).astype(str).to_numpy()
        lut = np.array([labels.setdefault(x, len(labels)) for x in lab], dtype=np.int64)
        sel = level == lv
        out[sel] = lut[codes[sel]]
    return pd.Categorical.from_codes(out, categories=list(labels))


def released_outcomes(data: PreparedData, policy: PrivacyPolicy, key: ReleaseKey,
                      salt: str) -> tuple[noise.PramMatrix, np.ndarray]:
    """PRAM matrix and randomized outcome code of each (canonically ordered) event.

    Draws are per event, independent of the grouping, so the merge stage can see released values."""
    pram = noise.pram_matrix(data.type_codes, data.outcome_codes, data.type_names, data.outcome_names, policy.pram_p)
    return pram, noise.apply_pram(data.type_codes, data.outcome_codes, pram, key.rng(salt, "pram"))


def released_sensitive(data: PreparedData, policy: PrivacyPolicy, key: ReleaseKey,
                       salt: str) -> list[tuple[str, pd.Index, np.ndarray]]:
    """Per person-level sensitive column: its categories and each person's PRAM-randomized code."""
    out = []
    for col in data.domain.sensitive:
        if col not in data.people.columns:
            continue
        codes, cats = factorize(data.people[col].astype(str))
        zeros = np.zeros(len(codes), dtype=np.int64)
        pram = noise.pram_matrix(zeros, codes, [col], cats, policy.pram_p)
        out.append((col, cats, noise.apply_pram(zeros, codes, pram, key.rng(salt, "pram-sensitive", col))))
    return out


def _sensitive_people(data: PreparedData, person_persona: np.ndarray, ids: np.ndarray, policy: PrivacyPolicy,
                      key: ReleaseKey, salt: str) -> tuple[pd.DataFrame, list[tuple[np.ndarray, int]]]:
    """Person-level sensitive attributes, PRAM-randomized, released as counts per persona."""
    frames, coded = [], []
    for col, cats, rand in released_sensitive(data, policy, key, salt):
        coded.append((rand, len(cats)))
        counts = np.bincount(person_persona * len(cats) + rand, minlength=len(ids) * len(cats))
        nz = np.flatnonzero(counts)
        frames.append(pd.DataFrame({PERSONA_ID: ids[nz // len(cats)], "attribute": col,
                                    "value": np.asarray(cats, dtype=object)[nz % len(cats)], "count": counts[nz]}))
    if not frames:
        return pd.DataFrame(columns=[PERSONA_ID, "attribute", "value", "count"]), coded
    out = pd.concat(frames, ignore_index=True).sort_values([PERSONA_ID, "attribute", "value"]).reset_index(drop=True)
    return out, coded


def repair_diversity(data: PreparedData, policy: PrivacyPolicy, key: ReleaseKey, salt: str,
                     grouping: Grouping) -> Grouping:
    """Grouping after l-diversity member swaps on the released values (personatwin.diversity)."""
    if policy.l_diversity <= 1 or grouping.stratum is None:
        return grouping
    observed = []
    if data.n_events:
        _, rand_out = released_outcomes(data, policy, key, salt)
        observed.append(diversity.Observed(data.event_person, rand_out, len(data.outcome_names)))
    people = np.arange(data.n_people)
    observed += [diversity.Observed(people, rand, len(cats)) for _, cats, rand in released_sensitive(data, policy, key, salt)]
    wider = np.zeros(data.n_people, dtype=np.int64)  # same bias attributes: they stay exact
    for a in data.domain.bias_attributes:
        if a in data.people.columns:
            codes, cats = factorize(data.people[a])
            wider = wider * (len(cats) + 1) + codes
    result = diversity.repair_l_diversity(grouping.persona_index, grouping.stratum, data.features, observed,
                                          policy.l_diversity, policy.k, wider)
    if not result.repaired:
        return grouping
    return replace(grouping, persona_index=result.persona_index,
                   information_loss=information_loss(data.features, result.persona_index))


@dataclass(frozen=True)
class Merged:
    """The merge stage: who is in which persona, and what each persona publishes."""

    grouping: Grouping
    person_persona: np.ndarray  # persona index of each person (internal only: never exported)
    attributes: PersonaAttributes
    ids: np.ndarray  # persona id of each persona index
    id_rank: np.ndarray  # position of each persona in id order (release row order)

    @property
    def personas(self) -> pd.DataFrame:
        table = self.attributes.table.copy()
        table.insert(0, PERSONA_ID, pd.array(self.ids.astype(str), dtype="string"))
        return table.iloc[np.argsort(self.id_rank)].reset_index(drop=True)

    def membership(self, people: pd.DataFrame) -> pd.DataFrame:
        """person_id -> persona_id: sensitive, kept with the source data, never released."""
        return pd.DataFrame({PERSON_ID: people[PERSON_ID].to_numpy(), PERSONA_ID: self.ids[self.person_persona]})


@dataclass(frozen=True)
class Noised:
    """The noise stage: released events (and person-level sensitive counts) of one pass."""

    events: pd.DataFrame
    sensitive: pd.DataFrame
    pram: noise.PramMatrix
    ev_persona: np.ndarray
    starts: np.ndarray  # released period start of each (canonically ordered) input event
    outcomes: np.ndarray  # randomized outcome code of each input event
    sensitive_codes: list
    order: np.ndarray  # release row order: input event positions sorted by persona, period, type
    period_values: np.ndarray  # distinct released period starts (days since epoch), sorted


def merge_stage(data: PreparedData, policy: PrivacyPolicy, key: ReleaseKey, salt: str,
                grouping: Grouping | None = None) -> Merged:
    """Microaggregate people into personas and generalize their QIs (DESIGN §4, merge)."""
    if grouping is None:
        grouping = group_people(data.people, None, data.domain, policy.k, start_levels(data.domain, policy),
                                data.features)
    grouping = repair_diversity(data, policy, key, salt, grouping)
    # Persona numbering follows a keyed random permutation: order reveals nothing about people.
    perm = key.rng(salt, "persona-order").permutation(grouping.n_personas)
    return merged_from_assignment(data, policy, key, salt, perm[grouping.persona_index], grouping)


def merged_from_assignment(data: PreparedData, policy: PrivacyPolicy, key: ReleaseKey, salt: str,
                           person_persona: np.ndarray, grouping: Grouping | None = None) -> Merged:
    """Rebuild the merge stage from a person -> persona assignment (e.g. one stored by a pipeline)."""
    n_personas = int(person_persona.max()) + 1 if len(person_persona) else 0
    if grouping is None:
        grouping = Grouping(person_persona, n_personas, information_loss(data.features, person_persona), 0)
    attrs = persona_attributes(data.people, person_persona, n_personas, data.domain, policy)
    ids = persona_ids(n_personas, key.rng(salt, "persona-ids"))
    id_rank = np.argsort(np.argsort(ids.astype(str), kind="stable"), kind="stable")
    return Merged(grouping, person_persona, attrs, ids, id_rank)


def assignment_from_membership(data: PreparedData, membership: pd.DataFrame, key: ReleaseKey, salt: str) -> np.ndarray:
    """Persona index of each prepared person from a stored person_id -> persona_id table."""
    pos = pd.Index(membership[PERSON_ID].astype(str)).get_indexer(data.people[PERSON_ID].astype(str))
    if (pos < 0).any():
        raise ValueError("the stored persona membership does not cover every valid person; rerun the merge stage")
    persona_id = membership[PERSONA_ID].astype(str).to_numpy()[pos]
    codes, uniq = pd.factorize(persona_id)
    n = len(uniq)
    ids = persona_ids(n, key.rng(salt, "persona-ids"))
    lookup = pd.Index(ids.astype(str)).get_indexer(np.asarray(uniq, dtype=str))
    if (lookup < 0).any():
        raise ValueError("the stored persona membership was made with another key or salt; rerun the merge stage")
    return lookup[codes]


def noise_stage(data: PreparedData, policy: PrivacyPolicy, key: ReleaseKey, salt: str, merged: Merged) -> Noised:
    """Blur dates, randomize outcomes (PRAM), generalize locations, coarsen values (DESIGN §4, noise)."""
    ids, id_rank, attrs = merged.ids, merged.id_rank, merged.attributes
    ev_persona = merged.person_persona[data.event_person]
    shifted = noise.shift_dates(data.event_day, ev_persona, policy.date_shift_days, key.rng(salt, "date-shift"))
    starts = noise.period_start(shifted, policy.date_precision)
    period_code, period_values = dense_codes(starts.astype(np.int64))
    period_days = period_values.astype("datetime64[D]")
    pram, rand_out = released_outcomes(data, policy, key, salt)

    # Release row order: persona id, period, type, outcome (one composite key, one stable sort);
    # equal rows keep the canonical input order, so the output never depends on input row order.
    T, O = len(data.type_names), len(data.outcome_names)
    composite = ((id_rank[ev_persona] * len(period_values) + period_code) * T + data.type_codes) * O + rand_out
    order = np.argsort(composite, kind="stable")
    released = {
        PERSONA_ID: pd.Categorical.from_codes(id_rank[ev_persona][order], categories=np.sort(ids.astype(str))),
        EVENT_TYPE: pd.Categorical.from_codes(data.type_codes[order], categories=list(data.type_names)),
        EVENT_DATE: starts[order].astype("datetime64[s]"),
        EVENT_PERIOD: pd.Categorical.from_codes(period_code[order],
                                                categories=list(noise.period_label(period_days, policy.date_precision))),
    }
    if data.end_day is not None:
        end = noise.shift_dates(data.end_day, ev_persona, policy.date_shift_days, key.rng(salt, "date-shift"))
        released[END_DATE] = noise.period_start(end, policy.date_precision)[order].astype("datetime64[s]")
    released[OUTCOME] = pd.Categorical.from_codes(rand_out[order], categories=list(data.outcome_names))
    if data.location_codes is not None:
        loc = _event_location(data, ev_persona, attrs, policy)
        released[LOCATION] = pd.Categorical.from_codes(loc.codes[order], categories=loc.categories)
    if data.values is not None:
        vals = noise.coarsen_values(data.values, data.type_codes, policy.value_rounding, policy.value_top_code_quantile)
        released[VALUE] = vals[order]
    sensitive, sens_codes = _sensitive_people(data, merged.person_persona, ids, policy, key, salt)
    return Noised(pd.DataFrame(released), sensitive, pram, ev_persona, starts, rand_out, sens_codes, order,
                  period_values)


def protect(data: PreparedData, policy: PrivacyPolicy, key: ReleaseKey, salt: str,
            grouping: Grouping | None = None) -> Protection:
    """One protection pass at fixed parameters; the key and salt drive every random draw."""
    clock = _Clock()
    merged = merge_stage(data, policy, key, salt, grouping)
    clock.lap("merge")
    noised = noise_stage(data, policy, key, salt, merged)
    clock.lap("noise")
    risk_report, util = evaluate(data, policy, key, salt, merged, noised, clock)
    return Protection(policy, merged.personas, noised.events, noised.sensitive, noised.pram, risk_report, util,
                      merged.grouping, merged.attributes, merged.person_persona, timings=clock.laps)


def evaluate(data: PreparedData, policy: PrivacyPolicy, key: ReleaseKey, salt: str, merged: Merged,
             noised: Noised, clock: "_Clock | None" = None) -> tuple[risk.RiskReport, utility.UtilityReport]:
    """Risk (DESIGN §5) and utility (§6) of one pass."""
    clock = clock or _Clock()
    risk_report = assess(data, policy, key, salt, merged.person_persona, merged.attributes, noised)
    clock.lap("risk")
    util = measure(data, policy, merged.person_persona, merged.attributes, noised.starts, noised.outcomes,
                   noised.pram, merged.grouping)
    clock.lap("utility")
    return risk_report, util


class _Clock:
    """Wall time per stage of a pass (for benchmarks and run metadata)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + now - self._t
        self._t = now


def assess(data: PreparedData, policy: PrivacyPolicy, key: ReleaseKey, salt: str, person_persona: np.ndarray,
           attrs: PersonaAttributes, noised: Noised) -> risk.RiskReport:
    """Every §5 risk metric of this pass."""
    ev_persona, rand_out, sens_codes = noised.ev_persona, noised.outcomes, noised.sensitive_codes
    n = data.n_people
    f, n_ec = risk.class_sizes(attrs)
    size = attrs.table[PERSONA_SIZE].to_numpy()
    k_anon = int(f.min()) if len(f) else 0
    t = policy.records_at_risk_threshold
    at_risk = float(size[(1.0 / f) > t].sum()) / n if n else 0.0
    journalist, marketer = risk.population_risks(f, size, n, policy.population_size)
    P = len(size)
    observations = []
    if len(rand_out):
        observations.append(risk.value_counts_matrix(ev_persona, rand_out, P, len(data.outcome_names)))
    for codes, n_values in sens_codes:
        observations.append(risk.value_counts_matrix(person_persona, codes, P, n_values))
    l_distinct, l_entropy, t_close = risk.diversity(observations)
    demo, outliers = risk.demographic_concentration(data.people, person_persona, attrs, policy.k)
    inputs = linkage.AttackInputs(
        people=data.people, person_persona=person_persona, attributes=attrs, event_person=data.event_person,
        event_type_code=data.type_codes, event_date=data.event_day,
        released_persona=ev_persona[noised.order], released_type_code=data.type_codes[noised.order],
        released_period=noised.starts[noised.order], precision=policy.date_precision,
        released_sorted=True, period_values=noised.period_values,
    )
    m = policy.attacker_knowledge
    cells = linkage.released_cells(inputs, m)  # shared by both attacks
    link = linkage.simulate(inputs, data.domain, m, policy.linkage_targets, key.rng(salt, "attack-linkage"),
                            use_qis=True, released=cells)
    conc = linkage.simulate(inputs, data.domain, m, policy.linkage_targets, key.rng(salt, "attack-pattern"),
                            use_qis=False, released=cells)
    return risk.RiskReport(
        n_people=n, n_personas=P, n_equivalence_classes=n_ec, k_anonymity=k_anon,
        prosecutor_risk_max=1.0 / k_anon if k_anon else 1.0, records_at_risk=at_risk, records_at_risk_threshold=t,
        population_average_risk=n_ec / n if n else 0.0, journalist_risk=journalist, marketer_risk=marketer,
        l_diversity_distinct=l_distinct, l_diversity_entropy=l_entropy, t_closeness=t_close,
        demographic_concentration_risk=demo, demographic_outliers=outliers,
        event_pattern_concentration_risk=conc.mean, external_linkage_risk=link.mean,
        external_linkage_ci_low=link.ci_low, external_linkage_ci_high=link.ci_high,
        attacker_knowledge=m, linkage_targets=link.n_targets,
    )


def group_codes(data: PreparedData, person_persona: np.ndarray, attrs: PersonaAttributes):
    """Per bias attribute (and their cross): group code of each person, original vs published."""
    out = []
    bias = [a for a in data.domain.bias_attributes if a in data.people.columns]
    coded = {}
    for a in bias:
        o_codes, o_names = factorize(data.people[a].astype(str))
        r_codes, r_names = factorize(attrs.table[a].astype(str))
        names = pd.Index(o_names).append(pd.Index(r_names)).unique()
        o = names.get_indexer(o_names)[o_codes]
        r = names.get_indexer(r_names)[r_codes][person_persona]
        coded[a] = (o, r, np.asarray(names, dtype=object))
        out.append((a,) + coded[a])
    if len(bias) >= 2:
        o, r, names = coded[bias[0]]
        for a in bias[1:]:
            o2, r2, n2 = coded[a]
            o, r = o * len(n2) + o2, r * len(n2) + r2
            names = (names[:, None] + " | " + n2[None, :]).reshape(-1)
        out.append((" x ".join(bias), o, r, names))
    return out


def measure(data: PreparedData, policy: PrivacyPolicy, person_persona: np.ndarray, attrs: PersonaAttributes,
            starts: np.ndarray, rand_out: np.ndarray, pram: noise.PramMatrix, grouping: Grouping) -> utility.UtilityReport:
    """Every §6 utility figure of this pass."""
    true_starts = noise.period_start(data.event_day, policy.date_precision)
    counts = utility.event_counts(data.type_codes, data.type_names, true_starts, starts, policy.date_precision)
    preserved = bool((counts["original"] == counts["released"]).all()) if policy.date_shift_days == 0 else \
        int(counts["original"].sum()) == int(counts["released"].sum())
    qi_tvd = {}
    weights = attrs.table[PERSONA_SIZE].to_numpy()
    for qi in attrs.qi_columns:
        codes, labels = generalized_codes(data.people[qi], data.domain.hierarchy(qi), start_level(data.domain, policy, qi))
        qi_tvd[qi] = utility.tvd_codes(codes, labels, attrs.table[qi].astype(str).to_numpy(dtype=object), weights)
    outcome_tvd = utility.tvd_counts(np.bincount(data.outcome_codes, minlength=len(data.outcome_names)),
                                     np.bincount(rand_out, minlength=len(data.outcome_names)))
    rates = utility.group_rates(group_codes(data, person_persona, attrs), data.event_person, data.type_codes,
                                data.type_names, data.outcome_codes, rand_out, data.outcome_names, pram, policy.gates)
    disp = utility.disparity(rates, data.domain.adverse_outcomes)
    fails = utility.gate_failures(rates, policy.gates, preserved)
    return utility.UtilityReport(counts, preserved, qi_tvd, outcome_tvd, rates, disp, grouping.information_loss, fails)

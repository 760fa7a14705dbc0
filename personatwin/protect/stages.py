"""The merge and noise stages of one protection pass (DESIGN §4) on prepared data."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from personatwin.core.codes import dense_codes
from personatwin.core.policy import PrivacyPolicy
from personatwin.core.schema import (
    END_DATE,
    EVENT_DATE,
    EVENT_PERIOD,
    EVENT_TYPE,
    LOCATION,
    OUTCOME,
    PERSON_ID,
    PERSONA_ID,
    VALUE,
)
from personatwin.protect import diversity, noise
from personatwin.protect.merge import Grouping, factorize, group_people, information_loss
from personatwin.protect.personas import PersonaAttributes, persona_attributes, start_levels
from personatwin.protect.prepared import PassContext, PreparedData


def persona_ids(n: int, rng: np.random.Generator) -> np.ndarray:
    """Random, unique persona ids, never derived from person ids."""
    ids = rng.integers(0, 2**62, size=n, dtype=np.int64)
    while len(np.unique(ids)) < n:
        ids = rng.integers(0, 2**62, size=n, dtype=np.int64)
    return np.char.add("PT", np.char.zfill(np.char.mod("%x", ids), 16)).astype(object)


def _event_location(data: PreparedData, ev_persona: np.ndarray, attrs: PersonaAttributes,
                    policy: PrivacyPolicy, source: np.ndarray | None = None) -> pd.Categorical:
    """Event locations generalized to the policy level, never finer than the persona's own location."""
    loc_qi = data.domain.location_qi
    codes = data.location_codes
    assert codes is not None  # only called when the events carry a location
    if source is not None:  # the location travels with the released outcome (joint PRAM)
        codes = codes[source]
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


def _event_details(ctx: PassContext, ev_persona: np.ndarray, attrs: PersonaAttributes, source: np.ndarray,
                   released_end: np.ndarray | None, released_vals: tuple[np.ndarray, np.ndarray] | None,
                   released_loc: pd.Categorical | None) -> tuple[np.ndarray, np.ndarray]:
    """Codes of (end-date period, amount, location) per event, as a source record shows them at the
    release's precision (true values) and as released; equal codes mean equal released columns."""
    data, policy = ctx.data, ctx.policy
    n = data.n_events
    true_cols, rel_cols = [], []
    if released_end is not None and data.end_day is not None:
        true_cols.append(noise.period_start(data.end_day, policy.date_precision).astype(np.int64))
        rel_cols.append(released_end.astype(np.int64))  # NaT is the same int64 on both sides
    if released_vals is not None and data.values is not None:
        raw, released = released_vals
        types = data.type_codes
        cap = np.full(len(data.type_names), np.inf)
        for t in np.unique(types):  # a loop over event types: the release's top code per type
            vals = raw[types == t]
            if np.isfinite(vals).any():
                cap[t] = np.nanquantile(vals, policy.value_top_code_quantile)
        true = np.minimum(data.values, cap[types])
        if policy.value_rounding > 0:
            true = np.round(true / policy.value_rounding) * policy.value_rounding
        true_cols.append(np.nan_to_num(true, nan=-1.0))
        rel_cols.append(np.nan_to_num(released, nan=-1.0))
    if released_loc is not None:
        # the event's own location at the same levels; the released one already is, unless it travels
        # with the outcome (joint PRAM), so it is computed again only then
        own = released_loc if LOCATION not in data.domain.outcome_dependent else \
            _event_location(data, ev_persona, attrs, policy)
        labels = pd.Index(released_loc.categories).append(pd.Index(own.categories)).unique()
        true_cols.append(labels.get_indexer(own.categories)[own.codes])
        rel_cols.append(labels.get_indexer(released_loc.categories)[released_loc.codes])
    if not true_cols:
        return np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    detail = np.zeros(2 * n, dtype=np.int64)
    for a, b in zip(true_cols, rel_cols):
        codes, uniq = pd.factorize(np.concatenate([a, b]))
        detail, _ = dense_codes(detail * (len(uniq) + 1) + codes)  # re-densified: never overflows
    return detail[:n], detail[n:]


def keyed_order(block: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Positions sorted by ``block`` (int64 >= 0), ties in a random order drawn from ``rng`` (the release key)."""
    n = len(block)
    tie = rng.permutation(n).astype(np.int64)
    if n and int(block.max()) < (2**62) // n:
        return np.argsort(block * n + tie)  # one key, unique per row: any sort gives the same order
    return np.lexsort((tie, block))


def released_sources(ctx: PassContext) -> np.ndarray:
    """For each (canonically ordered) event, the event whose outcome and outcome-dependent columns it
    releases: itself with probability p, else a keyed draw from its event type (joint invariant PRAM).

    Draws are per event, independent of the grouping, so the merge stage can see released values."""
    return noise.joint_pram_sources(ctx.data.type_codes, ctx.policy.pram_p, ctx.rng("pram"))


def released_outcomes(ctx: PassContext) -> tuple[noise.PramMatrix, np.ndarray]:
    """Published PRAM parameters and the randomized outcome code of each (canonically ordered) event.

    The published pi is the released outcome marginal per event type, which anyone can compute from
    the events file; the true marginal is never published: with the exact per-type event counts it
    would give back the original outcome counts (DESIGN §4)."""
    data = ctx.data
    released = data.outcome_codes[released_sources(ctx)]
    pram = noise.pram_matrix(data.type_codes, released, data.type_names, data.outcome_names, ctx.policy.pram_p)
    return pram, released


def released_sensitive(ctx: PassContext) -> list[tuple[str, pd.Index, np.ndarray]]:
    """Per person-level sensitive column: its categories and each person's PRAM-randomized code."""
    data, policy = ctx.data, ctx.policy
    out = []
    for col in data.domain.sensitive:
        if col not in data.people.columns:
            continue
        codes, cats = factorize(data.people[col].astype(str))
        zeros = np.zeros(len(codes), dtype=np.int64)
        pram = noise.pram_matrix(zeros, codes, [col], cats, policy.pram_p)
        out.append((col, cats, noise.apply_pram(zeros, codes, pram, ctx.rng("pram-sensitive", col))))
    return out


def _sensitive_people(ctx: PassContext, person_persona: np.ndarray,
                      ids: np.ndarray) -> tuple[pd.DataFrame, list[tuple[np.ndarray, int]]]:
    """Person-level sensitive attributes, PRAM-randomized, released as counts per persona."""
    frames, coded = [], []
    for col, cats, rand in released_sensitive(ctx):
        coded.append((rand, len(cats)))
        counts = np.bincount(person_persona * len(cats) + rand, minlength=len(ids) * len(cats))
        nz = np.flatnonzero(counts)
        frames.append(pd.DataFrame({PERSONA_ID: ids[nz // len(cats)], "attribute": col,
                                    "value": np.asarray(cats, dtype=object)[nz % len(cats)], "count": counts[nz]}))
    if not frames:
        return pd.DataFrame(columns=[PERSONA_ID, "attribute", "value", "count"]), coded
    out = pd.concat(frames, ignore_index=True).sort_values([PERSONA_ID, "attribute", "value"]).reset_index(drop=True)
    return out, coded


def sensitive_observations(data: PreparedData, policy: PrivacyPolicy) -> list[diversity.Observed]:
    """The sensitive attributes diversity is judged on, with true values: each event type's outcomes
    (a persona counts for a type once it holds at least k events of it) and each person-level
    sensitive column."""
    out = []
    if data.n_events:
        order = np.argsort(data.type_codes, kind="stable")
        bounds = np.searchsorted(data.type_codes[order], np.arange(len(data.type_names) + 1))
        for t, name in enumerate(data.type_names):
            rows = order[bounds[t]:bounds[t + 1]]
            out.append(diversity.Observed(data.event_person[rows], data.outcome_codes[rows], len(data.outcome_names),
                                          policy.k, name))
    people = np.arange(data.n_people)
    for col in data.domain.sensitive:
        if col in data.people.columns:
            codes, cats = factorize(data.people[col].astype(str))
            out.append(diversity.Observed(people, codes, len(cats), 1, col))
    return out


def repair_diversity(ctx: PassContext,
                     grouping: Grouping) -> Grouping:
    """Grouping after l-diversity member swaps on the true sensitive values (personatwin.protect.diversity)."""
    data, policy = ctx.data, ctx.policy
    if policy.l_diversity <= 1 or grouping.stratum is None:
        return grouping
    observed = sensitive_observations(data, policy)
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
    pram: noise.PramMatrix  # published: p and pi estimated from the released outcomes
    ev_persona: np.ndarray
    starts: np.ndarray  # released period start of each (canonically ordered) input event
    outcomes: np.ndarray  # randomized outcome code of each input event
    sensitive_codes: list
    order: np.ndarray  # release row order: input event positions sorted by persona, period, type
    period_values: np.ndarray  # distinct released period starts (days since epoch), sorted
    # Attacker-visible event columns beyond type and period (end-date period, amount, location at their
    # released precision), one code per (canonically ordered) event: what a source record of the event
    # shows (true values) and what the release shows for it; the linkage attack matches on both.
    detail_true: np.ndarray
    detail_released: np.ndarray


def merge_stage(ctx: PassContext,
                grouping: Grouping | None = None) -> Merged:
    """Microaggregate people into personas and generalize their QIs (DESIGN §4, merge)."""
    data, policy = ctx.data, ctx.policy
    if grouping is None:
        grouping = group_people(data.people, None, data.domain, policy.k, start_levels(data.domain, policy),
                                data.features)
    grouping = repair_diversity(ctx, grouping)
    # Persona numbering follows a keyed random permutation: order reveals nothing about people.
    perm = ctx.rng("persona-order").permutation(grouping.n_personas)
    return merged_from_assignment(ctx, perm[grouping.persona_index], grouping)


def merged_from_assignment(ctx: PassContext,
                           person_persona: np.ndarray, grouping: Grouping | None = None) -> Merged:
    """Rebuild the merge stage from a person -> persona assignment (e.g. one stored by a pipeline)."""
    data, policy = ctx.data, ctx.policy
    n_personas = int(person_persona.max()) + 1 if len(person_persona) else 0
    if grouping is None:
        grouping = Grouping(person_persona, n_personas, information_loss(data.features, person_persona), 0)
    attrs = persona_attributes(data.people, person_persona, n_personas, data.domain, policy)
    ids = persona_ids(n_personas, ctx.rng("persona-ids"))
    id_rank = np.argsort(np.argsort(ids.astype(str), kind="stable"), kind="stable")
    return Merged(grouping, person_persona, attrs, ids, id_rank)


def assignment_from_membership(ctx: PassContext, membership: pd.DataFrame) -> np.ndarray:
    """Persona index of each prepared person from a stored person_id -> persona_id table."""
    data = ctx.data
    pos = pd.Index(membership[PERSON_ID].astype(str)).get_indexer(data.people[PERSON_ID].astype(str))
    if (pos < 0).any():
        raise ValueError("the stored persona membership does not cover every valid person; rerun the merge stage")
    persona_id = membership[PERSONA_ID].astype(str).to_numpy()[pos]
    codes, uniq = pd.factorize(persona_id)
    n = len(uniq)
    ids = persona_ids(n, ctx.rng("persona-ids"))
    lookup = pd.Index(ids.astype(str)).get_indexer(np.asarray(uniq, dtype=str))
    if (lookup < 0).any():
        raise ValueError("the stored persona membership was made with another key or salt; rerun the merge stage")
    return lookup[codes]


def noise_stage(ctx: PassContext, merged: Merged) -> Noised:
    """Blur dates, randomize outcomes (PRAM), generalize locations, coarsen values (DESIGN §4, noise)."""
    data, policy = ctx.data, ctx.policy
    ids, id_rank, attrs = merged.ids, merged.id_rank, merged.attributes
    ev_persona = merged.person_persona[data.event_person]
    shifted = noise.shift_dates(data.event_day, ev_persona, policy.date_shift_days, ctx.rng("date-shift"))
    starts = noise.period_start(shifted, policy.date_precision)
    period_code, period_values = dense_codes(starts.astype(np.int64))
    period_days = period_values.astype("datetime64[D]")
    source = released_sources(ctx)
    rand_out = data.outcome_codes[source]
    pram = noise.pram_matrix(data.type_codes, rand_out, data.type_names, data.outcome_names, policy.pram_p)
    dependent = set(data.domain.outcome_dependent)
    released_end: np.ndarray | None = None
    released_vals: tuple[np.ndarray, np.ndarray] | None = None
    released_loc: pd.Categorical | None = None

    # Release row order: persona id, period, type, released outcome, then a keyed random order inside
    # each block, so nothing in the files follows source person ids, true dates or other hidden values.
    T, n_out = len(data.type_names), len(data.outcome_names)
    composite = ((id_rank[ev_persona] * len(period_values) + period_code) * T + data.type_codes) * n_out + rand_out
    order = keyed_order(composite, ctx.rng("row-order"))
    released = {
        PERSONA_ID: pd.Categorical.from_codes(id_rank[ev_persona][order], categories=np.sort(ids.astype(str))),
        EVENT_TYPE: pd.Categorical.from_codes(data.type_codes[order], categories=list(data.type_names)),
        EVENT_DATE: starts[order].astype("datetime64[s]"),
        EVENT_PERIOD: pd.Categorical.from_codes(
            period_code[order], categories=list(noise.period_label(period_days, policy.date_precision))),
    }
    if data.end_day is not None:
        end_day = data.end_day
        if END_DATE in dependent:  # the duration travels with the released outcome (joint PRAM)
            end_day = data.event_day + (data.end_day - data.event_day)[source]
        end = noise.shift_dates(end_day, ev_persona, policy.date_shift_days, ctx.rng("date-shift"))
        released_end = noise.period_start(end, policy.date_precision)
        released[END_DATE] = released_end[order].astype("datetime64[s]")
    released[OUTCOME] = pd.Categorical.from_codes(rand_out[order], categories=list(data.outcome_names))
    if data.location_codes is not None:
        loc = _event_location(data, ev_persona, attrs, policy, source if LOCATION in dependent else None)
        released_loc = loc
        released[LOCATION] = pd.Categorical.from_codes(loc.codes[order], categories=loc.categories)
    if data.values is not None:
        raw = data.values[source] if VALUE in dependent else data.values  # the amount travels with the outcome
        vals = noise.coarsen_values(raw, data.type_codes, policy.value_rounding, policy.value_top_code_quantile)
        released_vals = (raw, vals)
        released[VALUE] = vals[order]
    sensitive, sens_codes = _sensitive_people(ctx, merged.person_persona, ids)
    detail_true, detail_released = _event_details(ctx, ev_persona, attrs, source, released_end, released_vals,
                                                  released_loc)
    return Noised(pd.DataFrame(released), sensitive, pram, ev_persona, starts, rand_out, sens_codes, order,
                  period_values, detail_true, detail_released)

"""The merge and noise stages of one protection pass (DESIGN §4) on prepared data."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from personatwin.core.codes import dense_codes, grouped, tuple_codes
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
from personatwin.core.sensitive import SensitiveAttribute, coded
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


def _location_table(data: PreparedData, ev_persona: np.ndarray, attrs: PersonaAttributes,
                    policy: PrivacyPolicy) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Where event locations are generalized to the policy level, never finer than the persona's own
    location: each event's level, a (level, location code) -> label code table (code -1, missing, is
    the last column) and the labels. An event's released location is ``table[level, code]``."""
    level = event_location_levels(data, ev_persona, attrs, policy)
    present = np.flatnonzero(np.bincount(level)) if len(level) else np.zeros(0, dtype=np.int64)
    table, labels = location_table(data, present)
    return level, table, labels


def event_location_levels(data: PreparedData, ev_persona: np.ndarray, attrs: PersonaAttributes,
                          policy: PrivacyPolicy) -> np.ndarray:
    """The hierarchy level each event's location is released at: the policy's, never finer than its persona's."""
    loc_qi = data.domain.location_qi
    if not loc_qi:
        return np.zeros(len(ev_persona), dtype=np.int64)
    if loc_qi in attrs.levels:
        return np.maximum(attrs.levels[loc_qi].to_numpy(), policy.location_level)[ev_persona]
    return np.full(len(ev_persona), policy.location_level, dtype=np.int64)


def location_table(data: PreparedData, present: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The (level, location code) -> label code table of the levels ``present`` (ascending) and the labels, coded
    by first appearance level by level."""
    loc_qi = data.domain.location_qi
    n_names = len(data.location_names) + 1
    if not loc_qi:
        return np.zeros((1, n_names), dtype=np.int32), ["*"]
    h = data.domain.hierarchy(loc_qi)
    labels: dict[str, int] = {}
    table = np.zeros((int(present.max(initial=0)) + 1, n_names), dtype=np.int64)
    names = pd.Series(list(data.location_names) + [None], dtype="object")  # code -1 (missing) -> last
    for lv in present:  # a loop over hierarchy levels
        lab = h.generalize(names, int(lv)).astype(str).to_numpy()
        table[lv] = [labels.setdefault(x, len(labels)) for x in lab]
    # label codes of each event are looked up in it: int32 (100M events' own and released labels: 0.8 GB less)
    return table.astype(np.int32), list(labels)


def _day_keys(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """Keys 0..span-1 of the days of two datetime64[D] arrays (NaT the last key), as a details column."""
    day_a, day_b, nat_a, nat_b = a.view(np.int64), b.view(np.int64), np.isnat(a), np.isnat(b)
    (lo_a, hi_a), (lo_b, hi_b) = noise.valid_day_range(day_a, nat_a), noise.valid_day_range(day_b, nat_b)
    hi = max(hi_a, hi_b)
    lo = min(lo_a, lo_b, hi)  # every day NaT: lo > hi
    small = np.int32 if hi - lo + 2 < 2**31 else np.int64
    key_a = np.subtract(day_a, lo, out=np.empty(len(day_a), dtype=small), casting="unsafe")
    key_b = np.subtract(day_b, lo, out=np.empty(len(day_b), dtype=small), casting="unsafe")
    key_a[nat_a] = key_b[nat_b] = hi - lo + 1  # NaT's wrapped differences replaced
    return key_a, key_b, hi - lo + 2, False


def _amount_keys(true: np.ndarray, source: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, int]:
    """Keys of the true amounts and of the released ones (``true[source]``, or the true ones) by the
    value a source record shows (missing as -1, as np.nan_to_num writes it): the classes of
    ``pd.factorize(np.nan_to_num(true, nan=-1.0))``, from a factorization that skips missing amounts."""
    codes, uniq = pd.factorize(true)  # missing -> -1
    shown = np.append(np.nan_to_num(np.asarray(uniq, dtype=np.float64), nan=-1.0), -1.0)
    classes, found = pd.factorize(shown)  # -1.0 may be a real amount too: one class with the missing ones
    keys = classes.astype(np.int32)[codes]  # code -1 takes the last entry: the missing amounts' class
    return keys, keys if source is None else keys[source], len(found)


def _event_details(data: PreparedData, policy: PrivacyPolicy, source: np.ndarray, released_end: np.ndarray | None,
                   values: tuple[np.ndarray, bool] | None,
                   locations: tuple[np.ndarray, np.ndarray, int] | None) -> tuple[np.ndarray, np.ndarray]:
    """Codes of (end-date period, amount, location) per event, as a source record shows them at the
    release's precision (true values) and as released; equal codes mean equal released columns.

    ``values``: the true amounts at the release's precision and whether the released ones are theirs
    through ``source`` (joint PRAM); ``locations``: true and released location label codes, and the
    number of labels. Each column is coded by first appearance over the true then the released
    values, the tuples of those codes by their order (``tuple_codes``: integer keys, no factorizing
    of the concatenated columns)."""
    n = data.n_events
    columns: list[tuple[np.ndarray, np.ndarray, int, bool]] = []  # (true keys, released keys, span, ordered)
    if released_end is not None and data.end_day is not None:
        columns.append(_day_keys(noise.period_start(data.end_day, policy.date_precision), released_end))
    if values is not None:
        true, through_source = values  # every released amount is a true one: coded by first appearance there
        columns.append((*_amount_keys(true, source if through_source else None), False))
    if locations is not None:
        columns.append((*locations, False))
    if not columns or n == 0:
        return np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    return tuple_codes(columns)


def _small_int(n_categories: int) -> type:
    """The integer type pandas keeps codes of ``n_categories`` in."""
    return np.int8 if n_categories < 127 else np.int16 if n_categories < 32767 else np.int32


def _in_release_order(codes: np.ndarray, order: np.ndarray, n_categories: int) -> np.ndarray:
    """Category codes in release row order, gathered in the integer type pandas keeps them in: the
    same codes, a smaller gather than int64's."""
    return codes.astype(_small_int(n_categories), copy=False)[order]


def _row_order(ctx: PassContext, ev_rank: np.ndarray, n_ids: int, minor: np.ndarray) -> np.ndarray:
    """The release's row order (``keyed_order_bucketed``); the rows' buckets are made here, so they are dropped as
    soon as their ties are drawn, before the sort."""
    from personatwin.protect.row_order import keyed_order_bucketed  # numba: imported on first use only

    return keyed_order_bucketed(ev_rank, n_ids, minor, ctx.person_buckets()[ctx.data.event_person]
                                if ctx.n_buckets > 1 else np.zeros(0, dtype=np.int64), ctx.n_buckets,
                                ctx.bucket_rng("row-order"))


def released_sources(ctx: PassContext, groups: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """For each (canonically ordered) event, the event whose outcome and outcome-dependent columns it
    releases: itself with probability p, else a keyed draw from its event type (joint invariant PRAM).

    Drawn bucket by bucket (``personatwin.protect.buckets``: an event is in its person's bucket), each source
    from the whole release. ``groups``: the events grouped by type (``grouped``), when the caller has them."""
    data = ctx.data
    event_bucket = ctx.person_buckets()[data.event_person] if ctx.n_buckets > 1 else np.zeros(0, dtype=np.int64)
    return noise.bucketed_pram_sources(data.type_codes, len(data.type_names), ctx.policy.pram_p, event_bucket,
                                       ctx.n_buckets, ctx.bucket_rng("pram"), groups)


def sensitive_coded(values: pd.Series, spec: SensitiveAttribute) -> tuple[np.ndarray, pd.Index]:
    """Codes and labels of a person-level sensitive column: categories, or ordered ranges when numeric."""
    if not spec.ordered:
        return factorize(values.astype(str))
    codes, labels = coded(values, spec)
    return codes, pd.Index(labels)


def released_sensitive(ctx: PassContext) -> list[tuple[str, pd.Index, np.ndarray]]:
    """Per person-level sensitive column: its categories and each person's PRAM-randomized code (drawn bucket by
    bucket)."""
    data, policy = ctx.data, ctx.policy
    out = []
    person_bucket = ctx.person_buckets() if ctx.n_buckets > 1 else np.zeros(0, dtype=np.int64)
    for col in data.domain.sensitive:
        if col not in data.people.columns:
            continue
        codes, cats = sensitive_coded(data.people[col], data.domain.sensitive_attribute(col))
        zeros = np.zeros(len(codes), dtype=np.int64)
        pram = noise.pram_matrix(zeros, codes, [col], cats, policy.pram_p)
        out.append((col, cats, noise.bucketed_pram(zeros, codes, pram, person_bucket, ctx.n_buckets,
                                                   ctx.bucket_rng("pram-sensitive", col))))
    return out


def _sensitive_people(ctx: PassContext, merged: Merged) -> tuple[pd.DataFrame, list[tuple[np.ndarray, int]]]:
    """Person-level sensitive attributes, PRAM-randomized, released as counts per persona."""
    frames, coded = [], []
    person_persona, ids = merged.person_persona, merged.ids
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


def sensitive_observations(data: PreparedData, policy: PrivacyPolicy, events: bool = True) -> list[diversity.Observed]:
    """The sensitive attributes diversity is judged on, with true values and the policy's limits for each: each
    event type's outcomes (a persona counts for a type once it holds at least k events of it; first, in type
    order) and each person-level sensitive column. ``events=False``: the event types' limits only (no values;
    their counts come from the pass's sums)."""
    out = []
    if data.n_events:
        order, bounds = grouped(data.type_codes, len(data.type_names)) if events else (None, None)
        none = np.zeros(0, dtype=np.int64)
        for t, name in enumerate(data.type_names):
            rows = order[bounds[t]:bounds[t + 1]] if order is not None and bounds is not None else none
            out.append(_with_limits(diversity.Observed(data.event_person[rows], data.outcome_codes[rows],
                                                       len(data.outcome_names), policy.k, name), policy))
    people = np.arange(data.n_people)
    for col in data.domain.sensitive:
        if col in data.people.columns:
            spec = data.domain.sensitive_attribute(col)
            codes, cats = sensitive_coded(data.people[col], spec)
            out.append(_with_limits(diversity.Observed(people, codes, len(cats), 1, col, spec.ordered), policy))
    return out


def _with_limits(obs: diversity.Observed, policy: PrivacyPolicy) -> diversity.Observed:
    """An attribute with the policy's limits for it: its own where set, else the policy-wide l and t."""
    name = obs.name
    return replace(obs, l=int(policy.l_diversity_by_attribute.get(name, policy.l_diversity)),
                   t_limit=policy.max_t_closeness_by_attribute.get(name, policy.max_t_closeness),
                   min_entropy_l=policy.min_entropy_l_by_attribute.get(name),
                   max_recursive_c=policy.max_recursive_c_by_attribute.get(name))


def repair_diversity(ctx: PassContext,
                     grouping: Grouping) -> Grouping:
    """Grouping after member swaps on the true sensitive values (personatwin.protect.diversity): every persona
    failing an attribute's distinct l (categorical attributes), t limit, or entropy l / recursive c limit where
    the policy sets one, repaired where a swap or re-cut with a neighbour passes both."""
    data, policy = ctx.data, ctx.policy
    gated = (policy.l_diversity > 1 or any(v > 1 for v in policy.l_diversity_by_attribute.values())
             or policy.max_t_closeness is not None or bool(policy.max_t_closeness_by_attribute)
             or bool(policy.min_entropy_l_by_attribute) or bool(policy.max_recursive_c_by_attribute))
    if grouping.stratum is None or not gated:
        return grouping
    observed = sensitive_observations(data, policy)  # distinct l applies to categorical attributes only
    wider = np.zeros(data.n_people, dtype=np.int64)  # bias group (sex x race): people trade places only within it
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
    # the pass's event-level sums when its shards made them (``personatwin.measure.assess.PassCounts``); None: the
    # figures count them from the events above
    counts: Any = None


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


@dataclass(frozen=True)
class NoisedCodes:
    """The noise stage's draws as codes, without the released tables: what an evaluation release needs."""

    ev_persona: np.ndarray  # persona index of each (canonically ordered) event
    starts: np.ndarray  # released period start of each event (datetime64[D])
    outcomes: np.ndarray  # PRAM-randomized outcome code of each event
    source: np.ndarray  # the event whose outcome (and dependent columns) each event releases (joint PRAM)
    sensitive_codes: list  # per person-level sensitive column: (each person's PRAM code, number of values)


def noise_codes(ctx: PassContext, merged: Merged) -> NoisedCodes:
    """Dates blurred to periods, outcomes and person-level sensitive values PRAM-randomized: the same draws as
    ``noise_stage`` (same keyed generators), as codes only (an attack evaluation's release needs no tables)."""
    ev_persona, starts, source, _ = _event_draws(ctx, merged,
                                                 grouped(ctx.data.type_codes, len(ctx.data.type_names)))
    sensitive = [(rand, len(cats)) for _, cats, rand in released_sensitive(ctx)]
    return NoisedCodes(ev_persona, starts, ctx.data.outcome_codes[source], source, sensitive)


def persona_offsets(ctx: PassContext, n_personas: int) -> np.ndarray:
    """Each persona's date offset in [-date_shift_days, date_shift_days] (empty when dates are not shifted)."""
    d = ctx.policy.date_shift_days
    if d <= 0:
        return np.zeros(0, dtype=np.int64)
    return ctx.rng("date-shift").integers(-d, d + 1, size=n_personas)


def _event_draws(ctx: PassContext, merged: Merged,
                 groups: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each event's persona, released period start (dates shifted, then blurred) and PRAM source event, and each
    persona's date offset: the draws both ``noise_stage`` and ``noise_codes`` release."""
    data, policy = ctx.data, ctx.policy
    ev_persona = merged.person_persona[data.event_person]
    offsets = persona_offsets(ctx, len(merged.ids))
    shifted = noise.shift_by(data.event_day, ev_persona, offsets)
    return ev_persona, noise.period_start(shifted, policy.date_precision), released_sources(ctx, groups), \
        offsets


def noise_stage(ctx: PassContext, merged: Merged) -> Noised:
    """Blur dates, randomize outcomes (PRAM), generalize locations, coarsen values (DESIGN §4, noise)."""
    data, policy = ctx.data, ctx.policy
    ids, id_rank, attrs = merged.ids, merged.id_rank, merged.attributes
    groups = grouped(data.type_codes, len(data.type_names))  # events by type: PRAM draws and top codes
    ev_persona, starts, source, offsets = _event_draws(ctx, merged, groups)
    period_code, period_values = dense_codes(starts.view(np.int64))
    period_code = period_code.astype(_small_int(len(period_values)))  # 100M events: 0.6 GB less
    rand_out = data.outcome_codes[source]
    pram = noise.pram_matrix(data.type_codes, rand_out, data.type_names, data.outcome_names, policy.pram_p)
    dependent = set(data.domain.outcome_dependent)
    released_end: np.ndarray | None = None
    true_vals: tuple[np.ndarray, bool] | None = None
    locations: tuple[np.ndarray, np.ndarray, int] | None = None

    # Release row order: persona id, period, type, released outcome, then a keyed random order inside
    # each block, so nothing in the files follows source person ids, true dates or other hidden values.
    # Sorted on a thread (a compiled kernel without the GIL) while the order-free columns are drawn here.
    T, n_out = len(data.type_names), len(data.outcome_names)
    ev_rank = id_rank[ev_persona]
    minor = period_code.astype(np.int64)  # ((period * T + type) * n_out + outcome), in place
    minor *= T
    minor += data.type_codes
    minor *= n_out
    minor += rand_out
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="row-order") as pool:
        ordering = pool.submit(_row_order, ctx, ev_rank, len(ids), minor)
        del minor  # 10M keys: freed when the sort is done, before the released columns are built
        if data.end_day is not None:
            end_day = data.end_day
            if END_DATE in dependent:  # the duration travels with the released outcome (joint PRAM)
                duration = (data.end_day - data.event_day)[source]
                end_day = np.add(data.event_day, duration, out=duration.view("datetime64[D]"))  # in its place
            end = noise.shift_by(end_day, ev_persona, offsets)
            del end_day  # 100M events: every event-long temporary is 0.8 GB, so each goes as soon as it is used
            released_end = noise.period_start(end, policy.date_precision)
            del end
        if data.location_codes is not None:
            level, table, labels = _location_table(data, ev_persona, attrs, policy)
            own = table[level, data.location_codes]
            # the location travels with the released outcome (joint PRAM) only if the domain says so
            loc = table[level, data.location_codes[source]] if LOCATION in dependent else own
            locations = (own, loc, len(labels))
            del level, own, loc
        if data.values is not None:
            # top codes from the released amounts (they travel with the outcome), applied to every true amount
            travels = VALUE in dependent
            raw = data.values[source] if travels else data.values
            caps = noise.value_caps(raw, groups, policy.value_top_code_quantile)
            del raw
            true = noise.capped_values(data.values, data.type_codes, caps, policy.value_rounding)
            true_vals = (true, travels)
        del groups
        sensitive, sens_codes = _sensitive_people(ctx, merged)
        detail_true, detail_released = _event_details(data, policy, source, released_end, true_vals, locations)
        order = ordering.result()
    released_values = None
    if true_vals is not None:
        true, travels = true_vals
        released_values = true[source] if travels else true
        del true
    # only the released columns go on: the true ones and the sources are done with
    released_loc = (locations[1], labels) if locations is not None else None
    del source, true_vals, locations
    events = released_frame(data, policy, order, ev_rank, ids, starts, period_code, period_values, rand_out,
                            released_end, released_loc, released_values)
    return Noised(events, sensitive, pram, ev_persona, starts, rand_out, sens_codes, order,
                  period_values, detail_true, detail_released)


@dataclass(frozen=True)
class EventNames:
    """What ``released_frame`` needs of the data: the names the codes stand for (a shard's, without its data)."""

    type_names: tuple[str, ...]
    outcome_names: tuple[str, ...]
    type_codes: np.ndarray


def released_frame(data: PreparedData | EventNames, policy: PrivacyPolicy, order: np.ndarray, ev_rank: np.ndarray,
                   ids: np.ndarray, starts: np.ndarray, period_code: np.ndarray, period_values: np.ndarray,
                   rand_out: np.ndarray, released_end: np.ndarray | None,
                   locations: tuple[np.ndarray, list[str]] | None, values: np.ndarray | None,
                   type_codes: np.ndarray | None = None, sorted_ids: pd.CategoricalDtype | None = None
                   ) -> pd.DataFrame:
    """The released events table: each column of the (canonically ordered) events gathered in release row order,
    categories as the files show them (persona ids sorted, types, periods, outcomes, location labels).
    ``type_codes``: the events' (a shard's), when not all of ``data``'s; ``sorted_ids``: the ids' categories, made
    once for tables written a chunk at a time."""
    T, n_out = len(data.type_names), len(data.outcome_names)
    period_days = period_values.astype("datetime64[D]")
    id_codes = _in_release_order(ev_rank, order, len(ids))
    released = {
        PERSONA_ID: pd.Categorical.from_codes(id_codes, categories=np.sort(ids.astype(str))) if sorted_ids is None
        else pd.Categorical.from_codes(id_codes, dtype=sorted_ids),
        EVENT_TYPE: pd.Categorical.from_codes(
            _in_release_order(data.type_codes if type_codes is None else type_codes, order, T),
            categories=list(data.type_names)),
        EVENT_DATE: starts[order].astype("datetime64[s]"),
        EVENT_PERIOD: pd.Categorical.from_codes(
            _in_release_order(period_code, order, len(period_values)),
            categories=list(noise.period_label(period_days, policy.date_precision))),
    }
    if released_end is not None:
        released[END_DATE] = released_end[order].astype("datetime64[s]")
    released[OUTCOME] = pd.Categorical.from_codes(_in_release_order(rand_out, order, n_out),
                                                  categories=list(data.outcome_names))
    if locations is not None:
        codes, labels = locations
        released[LOCATION] = pd.Categorical.from_codes(_in_release_order(codes, order, len(labels)),
                                                       categories=labels)
    if values is not None:
        released[VALUE] = values[order]
    return pd.DataFrame(released, copy=False)  # every column is a new array already

"""The noise stage over shards of whole buckets: the released events, draws and codes of
``personatwin.protect.stages.noise_stage``, each shard computing its own events.

A pass runs in phases, each a function of one shard's data run on every shard by a runner (the last one also
returns the shard's part of the pass's event-level sums, from which the utility figures and the events' l-diversity
are computed: ``personatwin.measure.assess.PassCounts``):

1. ``draw``: dates shifted by their persona's offset and blurred; PRAM decisions of the shard's buckets from their
   generators. A replaced event takes the joint value of a position in its type's list (every event of the type,
   bucket by bucket), which is sent as a request to the shard holding that bucket;
2. ``answer``: each shard looks up the requested events' joint values (outcome and outcome-dependent columns);
3. ``resolve``: each shard completes its events' released joint values and returns what the release-wide
   parameters need: outcome counts per type (PRAM's pi), amounts per type (top codes), periods, location levels;
4. ``columns``: with those parameters each shard builds its released columns and draws its buckets' tie orders.

The coordinator draws the persona-level values (date offsets), routes nothing but small summaries (requests go
from shard to shard), and orders the rows (persona rank, period, type, outcome, then the buckets' tie orders).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from personatwin.core.codes import grouped
from personatwin.core.schema import END_DATE, LOCATION, VALUE
from personatwin.measure.assess import PassCounts, group_codes, pass_counts
from personatwin.protect import noise
from personatwin.protect.prepared import PassContext
from personatwin.protect.row_order import _keyed_order, row_ties
from personatwin.protect.stages import (
    Merged,
    Noised,
    _event_details,
    _sensitive_people,
    _small_int,
    event_location_levels,
    location_table,
    persona_offsets,
    released_frame,
)
from personatwin.scale.plan import ShardPlan, plan_shards
from personatwin.scale.runners import InProcess, Runner


@dataclass(frozen=True)
class ShardEvents:
    """One shard's events, in canonical order (the release's, restricted to the shard's buckets)."""

    positions: np.ndarray  # position of each event in the release's canonical order
    event_person: np.ndarray  # person index of each event (the release's people, canonical order)
    event_bucket: np.ndarray
    event_day: np.ndarray
    type_codes: np.ndarray
    outcome_codes: np.ndarray
    end_day: np.ndarray | None
    location_codes: np.ndarray | None
    values: np.ndarray | None


@dataclass(frozen=True)
class Settings:
    """What every shard needs of the pass: sizes, policy figures, which columns travel with the outcome."""

    n_types: int
    n_outcomes: int
    n_buckets: int
    p: float
    precision: str
    end_travels: bool
    location_travels: bool
    value_travels: bool
    rounding: float


@dataclass(frozen=True)
class Requests:
    """Positions requested from one shard: (bucket, type, index in that bucket's run of the type)."""

    bucket: np.ndarray
    type: np.ndarray
    index: np.ndarray


@dataclass(frozen=True)
class Answers:
    """The joint values of requested events, in request order."""

    outcome: np.ndarray
    position: np.ndarray  # canonical position of the source event
    duration: np.ndarray | None
    location: np.ndarray | None
    value: np.ndarray | None


@dataclass(frozen=True)
class Drawn:
    """A shard after phase 1: its events' released period starts and its PRAM requests."""

    ev_persona: np.ndarray  # persona of each of the shard's events in this pass
    starts: np.ndarray
    replaced: np.ndarray  # local event of each request
    owner: np.ndarray  # shard holding each request's source
    requests: Requests


def draw(shard: ShardEvents, s: Settings, person_persona: np.ndarray, offsets: np.ndarray, list_starts: np.ndarray,
         n_of_type: np.ndarray, shard_of: np.ndarray, rngs: dict[int, np.random.Generator]) -> Drawn:
    """Phase 1: each event's persona, shifted and blurred dates; PRAM keep/replace and source positions, drawn per
    bucket (``noise.bucketed_pram_sources``'s draws), as requests to the shards holding the sources."""
    ev_persona = person_persona[shard.event_person]
    starts = noise.period_start(noise.shift_by(shard.event_day, ev_persona, offsets), s.precision)
    by_bucket, bounds = grouped(shard.event_bucket, s.n_buckets)
    sel_parts, type_parts, pos_parts = [], [], []
    for b in np.flatnonzero(np.diff(bounds)):  # a loop over buckets and event types, not events
        rng = rngs[int(b)]
        events = by_bucket[bounds[b]:bounds[b + 1]]
        replaced = events[rng.random(len(events)) >= s.p]
        r_order, r_bounds = grouped(shard.type_codes[replaced], s.n_types)
        for t in np.flatnonzero(np.diff(r_bounds)):
            sel = replaced[r_order[r_bounds[t]:r_bounds[t + 1]]]
            sel_parts.append(sel)
            type_parts.append(np.full(len(sel), t, dtype=np.int64))
            pos_parts.append(rng.integers(0, n_of_type[t], size=len(sel)))
    sel = np.concatenate(sel_parts) if sel_parts else np.zeros(0, dtype=np.int64)
    typ = np.concatenate(type_parts) if type_parts else np.zeros(0, dtype=np.int64)
    pos = np.concatenate(pos_parts) if pos_parts else np.zeros(0, dtype=np.int64)
    # list_starts[b, t]: where bucket b's run of type t starts in the type's list; the owner is the last bucket
    # starting at or before the position (an empty run starts where the next one does)
    bucket = np.empty(len(pos), dtype=np.int64)
    for t in np.unique(typ):  # a loop over event types
        at = typ == t
        bucket[at] = np.searchsorted(list_starts[:, t], pos[at], side="right") - 1
    index = pos - list_starts[bucket, typ]
    return Drawn(ev_persona, starts, sel, shard_of[bucket], Requests(bucket, typ, index))


def requests_to(drawn: Drawn, target: int) -> Requests:
    """The requests of one shard whose sources the target shard holds, in request order."""
    at = np.flatnonzero(drawn.owner == target)
    r = drawn.requests
    return Requests(r.bucket[at], r.type[at], r.index[at])


def answer(shard: ShardEvents, s: Settings, *asked: Requests) -> list[Answers]:
    """Phase 2: the joint values of this shard's events requested by each shard (``asked[i]``: shard i's)."""
    key = shard.event_bucket * s.n_types + shard.type_codes
    order, bounds = grouped(key, s.n_buckets * s.n_types)
    out = []
    for req in asked:
        local = order[bounds[req.bucket * s.n_types + req.type] + req.index]
        duration = (shard.end_day - shard.event_day)[local] if s.end_travels and shard.end_day is not None else None
        location = shard.location_codes[local] if s.location_travels and shard.location_codes is not None else None
        value = shard.values[local] if s.value_travels and shard.values is not None else None
        out.append(Answers(shard.outcome_codes[local], shard.positions[local], duration, location, value))
    return out


@dataclass(frozen=True)
class Resolved:
    """A shard's events with their released joint values (phase 3)."""

    drawn: Drawn
    outcome: np.ndarray  # released (PRAM) outcome code
    source: np.ndarray  # canonical position of the source event
    end_day: np.ndarray | None  # end date before the shift (own, or own date + the source's duration)
    location: np.ndarray | None  # the source's location code where it travels, else the event's own
    value: np.ndarray | None  # the source's amount where it travels, else the event's own


@dataclass(frozen=True)
class Summary:
    """What the release-wide parameters need from one shard."""

    outcome_counts: np.ndarray  # (type * n_outcomes + outcome) counts of released outcomes
    periods: np.ndarray  # distinct released period starts (int64 days, NaT as its int64)
    amounts: list[np.ndarray] | None  # per type: the amounts the top codes are taken from
    location_levels: np.ndarray  # distinct location levels of the shard's events


def _merge_answers(drawn: Drawn, me: int, answered: tuple[list[Answers], ...]) -> Answers:
    """This shard's answers in its request order, from each target shard's list (``answered[k][me]``)."""
    n = len(drawn.owner)
    fields = ("outcome", "position", "duration", "location", "value")
    out: dict[str, np.ndarray | None] = {}
    for f in fields:
        first = next((getattr(a[me], f) for a in answered if getattr(a[me], f) is not None), None)
        out[f] = None if first is None else np.empty(n, dtype=first.dtype)
    for k, ans in enumerate(answered):
        mine = np.flatnonzero(drawn.owner == k)
        for f, arr in out.items():
            got = getattr(ans[me], f)
            if arr is not None and got is not None:
                arr[mine] = got
    return Answers(**out)  # type: ignore[arg-type]


def resolve(shard: ShardEvents, s: Settings, drawn: Drawn, persona_level: np.ndarray, me: int,
            *answered: list[Answers]) -> tuple[Resolved, Summary]:
    """Phase 3: each event's released joint value (its own, or the answer for its request) and the shard's part
    of the release-wide parameters."""
    answers = _merge_answers(drawn, me, answered)
    at = drawn.replaced
    outcome = shard.outcome_codes.copy()
    outcome[at] = answers.outcome
    source = shard.positions.copy()
    source[at] = answers.position
    end = shard.end_day
    if end is not None and s.end_travels and answers.duration is not None:
        duration = shard.end_day - shard.event_day
        duration[at] = answers.duration
        end = shard.event_day + duration
    location = shard.location_codes
    if location is not None and s.location_travels and answers.location is not None:
        location = location.copy()
        location[at] = answers.location
    value = shard.values
    if value is not None and s.value_travels and answers.value is not None:
        value = value.copy()
        value[at] = answers.value
    counts = np.bincount(shard.type_codes * s.n_outcomes + outcome, minlength=s.n_types * s.n_outcomes)
    amounts = None
    if value is not None:
        t_order, t_bounds = grouped(shard.type_codes, s.n_types)
        amounts = [value[t_order[t_bounds[t]:t_bounds[t + 1]]] for t in range(s.n_types)]
    levels = np.unique(persona_level[drawn.ev_persona]) if len(persona_level) else np.zeros(0, dtype=np.int64)
    summary = Summary(counts, np.unique(drawn.starts.view(np.int64)), amounts, levels)
    return Resolved(drawn, outcome, source, end, location, value), summary


@dataclass(frozen=True)
class Columns:
    """A shard's released columns (canonical order) and, per bucket, its rows in their keyed tie order."""

    starts: np.ndarray
    outcome: np.ndarray
    source: np.ndarray
    released_end: np.ndarray | None
    own_location: np.ndarray | None
    released_location: np.ndarray | None
    true_values: np.ndarray | None
    released_values: np.ndarray | None
    ties: np.ndarray  # random tie key of each event (its bucket's draws)
    counts: PassCounts  # the shard's part of the pass's event-level sums (utility, event l-diversity)


def columns(shard: ShardEvents, s: Settings, res: Resolved, offsets: np.ndarray, caps: np.ndarray | None,
            table: np.ndarray | None, persona_level: np.ndarray, rngs: dict[int, np.random.Generator],
            person_persona: np.ndarray, groups: list) -> Columns:
    """Phase 4: released columns with the release-wide parameters, and each event's random tie key (drawn per
    bucket as ``row_order.keyed_order_bucketed`` draws them)."""
    released_end = None
    if res.end_day is not None:
        released_end = noise.period_start(noise.shift_by(res.end_day, res.drawn.ev_persona, offsets), s.precision)
    own_loc = rel_loc = None
    if table is not None and shard.location_codes is not None and res.location is not None:
        level = persona_level[res.drawn.ev_persona]
        own_loc = table[level, shard.location_codes]
        rel_loc = table[level, res.location]
    true_vals = rel_vals = None
    if caps is not None and shard.values is not None and res.value is not None:
        true_vals = noise.capped_values(shard.values, shard.type_codes, caps, s.rounding)
        rel_vals = noise.capped_values(res.value, shard.type_codes, caps, s.rounding) if s.value_travels \
            else true_vals
    ties = row_ties(shard.event_bucket, s.n_buckets, rngs.__getitem__)
    counts = pass_counts(shard.event_person, shard.type_codes, shard.event_day, shard.outcome_codes, res.drawn.starts,
                         res.outcome, s.n_types, s.n_outcomes, s.precision, groups, person_persona,
                         int(person_persona.max()) + 1 if len(person_persona) else 0)
    return Columns(res.drawn.starts, res.outcome, res.source, released_end, own_loc, rel_loc, true_vals, rel_vals,
                   ties, counts)


def _settings(ctx: PassContext) -> Settings:
    data, policy = ctx.data, ctx.policy
    dependent = set(data.domain.outcome_dependent)
    return Settings(len(data.type_names), len(data.outcome_names), ctx.n_buckets, policy.pram_p,
                    policy.date_precision, END_DATE in dependent, LOCATION in dependent, VALUE in dependent,
                    policy.value_rounding)


def _slice(a: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
    return None if a is None else a[rows]


def split_events(ctx: PassContext, plan_for: int) -> tuple[Iterator[ShardEvents], ShardPlan]:
    """The release's events cut into shards of whole buckets (each event in its person's bucket): the same shards
    for every pass of the release, made one at a time as they are taken (a runner that spills them holds one)."""
    data = ctx.data
    event_bucket = ctx.person_buckets()[data.event_person]
    plan = plan_shards(np.bincount(event_bucket, minlength=ctx.n_buckets), plan_for)
    by_shard, bounds = grouped(plan.shard_of[event_bucket], plan.n_shards)

    def shards() -> Iterator[ShardEvents]:
        for i in range(plan.n_shards):
            rows = by_shard[bounds[i]:bounds[i + 1]]  # ascending: canonical order kept
            yield ShardEvents(rows, data.event_person[rows], event_bucket[rows], data.event_day[rows],
                              data.type_codes[rows], data.outcome_codes[rows], _slice(data.end_day, rows),
                              _slice(data.location_codes, rows), _slice(data.values, rows))

    return shards(), plan


@dataclass
class Placed:
    """A release's shards placed on a runner once, for every pass of its privacy loop."""

    data: object  # the prepared data they were cut from (identity)
    tag: tuple
    handles: list
    plan: ShardPlan
    per_bucket_type: np.ndarray  # events per (bucket, type)
    positions: list[np.ndarray]  # each shard's events' canonical positions (kept here to put its columns back)


def placed_shards(ctx: PassContext, runner: Runner, n_shards: int) -> Placed:
    """The release's shards on ``runner``: cut and placed at the first pass, reused by the next ones."""
    tag = (ctx.key.fingerprint(), ctx.salt, ctx.n_buckets, n_shards)
    held = getattr(runner, "_placed", None)
    if isinstance(held, Placed) and held.data is ctx.data and held.tag == tag:
        return held
    shards, plan = split_events(ctx, n_shards)
    T, B = len(ctx.data.type_names), ctx.n_buckets
    per_bucket_type = np.zeros(B * T, dtype=np.int64)
    positions: list[np.ndarray] = []

    def counted() -> Iterator[ShardEvents]:  # each shard's counts and positions taken as it goes to the runner
        for sh in shards:
            per_bucket_type[:] += np.bincount(sh.event_bucket * T + sh.type_codes, minlength=B * T)
            positions.append(sh.positions)
            yield sh

    handles = runner.put(counted())
    if all(isinstance(h, ShardEvents) for h in handles):  # held here (spilled or not): their positions, not a copy
        positions = [h.positions for h in handles]
    placed = Placed(ctx.data, tag, handles, plan, per_bucket_type.reshape(B, T), positions)
    runner._placed = placed  # type: ignore[attr-defined]
    return placed


def _item(pair: tuple, i: int):
    return pair[i]


@dataclass(frozen=True)
class Phased:
    """The four phases run: each shard's released columns (handles, on its runner) and the release-wide parameters."""

    placed: Placed
    settings: Settings
    columns: list  # a handle per shard to its ``Columns``
    pram: noise.PramMatrix
    period_values: np.ndarray
    labels: list[str] | None  # location labels, when the release has locations


def sharded_noise_stage(ctx: PassContext, merged: Merged, runner: Runner | None = None,
                        n_shards: int | None = None) -> Noised:
    """``noise_stage`` computed shard by shard on ``runner`` (in this process when None): the same result."""
    runner = runner or InProcess()
    ph = run_phases(ctx, merged, runner, n_shards)
    t0 = time.perf_counter()
    cols = runner.gather(ph.columns)
    runner.log.add("columns", time.perf_counter() - t0)
    t0 = time.perf_counter()
    out = _assemble(ctx, merged, ph.placed, cols, ph.pram, ph.period_values, ph.labels)
    runner.log.add("assemble", time.perf_counter() - t0)
    return out


def run_phases(ctx: PassContext, merged: Merged, runner: Runner, n_shards: int | None = None) -> Phased:
    """Phases 1-4 on every shard; the shards' columns stay where they were made (handles)."""
    data, policy = ctx.data, ctx.policy
    s = _settings(ctx)
    T, B = s.n_types, s.n_buckets
    t0 = time.perf_counter()
    placed = placed_shards(ctx, runner, (n_shards or max(2, runner.workers)) if B > 1 else 1)
    handles, plan = placed.handles, placed.plan
    buckets_of = [plan.buckets(i) for i in range(len(handles))]
    # release-wide inputs of phase 1: each person's persona, per-persona date offsets, the type lists' bucket runs,
    # per-bucket generators
    offsets = persona_offsets(ctx, len(merged.ids))
    n_of_type = placed.per_bucket_type.sum(axis=0)
    list_starts = np.cumsum(placed.per_bucket_type, axis=0) - placed.per_bucket_type
    pram_draw, order_draw = ctx.bucket_rng("pram"), ctx.bucket_rng("row-order")
    persona_level = event_location_levels(data, np.arange(len(merged.ids)), merged.attributes, policy) \
        if data.location_codes is not None else np.zeros(0, dtype=np.int64)
    shared_persona = runner.share(merged.person_persona)
    shared_offsets, shared_levels = runner.share(offsets), runner.share(persona_level)
    runner.log.add("split", time.perf_counter() - t0)

    t0 = time.perf_counter()
    drawn = [runner.submit("draw", i, draw, h, s, shared_persona, shared_offsets, list_starts, n_of_type, plan.shard_of,
                           {int(b): pram_draw(int(b)) for b in buckets_of[i]}) for i, h in enumerate(handles)]
    # requests travel from shard to shard (worker to worker on a cluster), never through the coordinator
    answered = [runner.submit("answer", k, answer, h, s,
                              *[runner.submit("route", i, requests_to, d, k) for i, d in enumerate(drawn)])
                for k, h in enumerate(handles)]
    resolved = [runner.submit("resolve", i, resolve, h, s, drawn[i], shared_levels, i, *answered)
                for i, h in enumerate(handles)]
    summaries: list[Summary] = runner.gather([runner.submit("summary", i, _item, r, 1)
                                              for i, r in enumerate(resolved)])
    runner.log.add("draw + exchange", time.perf_counter() - t0)

    # release-wide parameters from the shards' summaries
    t0 = time.perf_counter()
    pram = noise.pram_from_counts(np.sum([m.outcome_counts for m in summaries], axis=0), data.type_names,
                                  data.outcome_names, policy.pram_p)
    period_values = np.unique(np.concatenate([m.periods for m in summaries]))
    caps = None
    if data.values is not None:
        amounts = [np.concatenate([m.amounts[t] for m in summaries if m.amounts is not None]) for t in range(T)]
        flat = np.concatenate(amounts) if amounts else np.zeros(0)
        bounds = np.concatenate(([0], np.cumsum([len(a) for a in amounts]))).astype(np.int64)
        caps = noise.value_caps(flat, (np.arange(len(flat)), bounds), policy.value_top_code_quantile)
    table, labels = None, None
    if data.location_codes is not None:
        present = np.unique(np.concatenate([m.location_levels for m in summaries]))
        table, labels = location_table(data, present)
    runner.log.add("parameters", time.perf_counter() - t0)

    t0 = time.perf_counter()
    shared_groups = runner.share(group_codes(data, merged.person_persona, merged.attributes))
    cols = [runner.submit("columns", i, columns, h, s, runner.submit("state", i, _item, resolved[i], 0),
                          shared_offsets, caps, table, shared_levels,
                          {int(b): order_draw(int(b)) for b in buckets_of[i]}, shared_persona, shared_groups)
            for i, h in enumerate(handles)]
    runner.log.add("columns", time.perf_counter() - t0)
    # the shards' phase states go here (before the release's columns are assembled); the columns stay
    return Phased(placed, s, cols, pram, period_values, labels)


def _assemble(ctx: PassContext, merged: Merged, placed: Placed, cols: list[Columns],
              pram: noise.PramMatrix, period_values: np.ndarray, labels: list[str] | None) -> Noised:
    """The shards' columns at their canonical positions and their rows merged by persona rank: ``noise_stage``'s
    result (the coordinator's in-memory form, for sizes one process can hold)."""
    data, policy = ctx.data, ctx.policy
    n = data.n_events
    positions = placed.positions
    counts = cols[0].counts
    for c in cols[1:]:
        counts = counts + c.counts
    # each shard's columns, handed over: a column goes as soon as it is gathered (100M events: 0.8 GB each)
    shard_columns = [{f: getattr(c, f) for f in Columns.__dataclass_fields__ if f != "counts"} for c in cols]
    cols.clear()

    def gather(field: str) -> np.ndarray | None:
        first = shard_columns[0][field] if shard_columns else None
        if first is None:
            return None
        out = np.empty(n, dtype=first.dtype)
        for pos, c in zip(positions, shard_columns):
            out[pos] = c.pop(field)
        return out

    starts, outcome, source = gather("starts"), gather("outcome"), gather("source")
    released_end, own_loc, rel_loc = gather("released_end"), gather("own_location"), gather("released_location")
    true_vals, rel_vals = gather("true_values"), gather("released_values")
    assert starts is not None and outcome is not None and source is not None
    ev_persona = merged.person_persona[data.event_person]
    ev_rank = merged.id_rank[ev_persona]
    period_code: np.ndarray = np.searchsorted(period_values, starts.view(np.int64))
    period_code = period_code.astype(_small_int(len(period_values)))
    # release row order: persona rank, period, type, outcome, then the events' random tie keys
    ties = gather("ties")
    assert ties is not None
    minor = (period_code.astype(np.int64) * len(data.type_names) + data.type_codes) * len(data.outcome_names) \
        + outcome
    # the sort runs on a thread (a compiled kernel without the GIL) beside the order-free columns, as in
    # ``noise_stage``
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="row-order") as pool:
        ordering = pool.submit(_keyed_order, np.asarray(ev_rank, dtype=np.int64), minor, ties, len(merged.ids))
        del minor, ties
        sensitive, sens_codes = _sensitive_people(ctx, merged)
        locations = (own_loc, rel_loc, len(labels)) if own_loc is not None and rel_loc is not None and labels \
            else None
        travels = VALUE in set(data.domain.outcome_dependent)
        detail_true, detail_released = _event_details(data, policy, source, released_end,
                                                      (true_vals, travels) if true_vals is not None else None,
                                                      locations)
        order = ordering.result()
    del source, own_loc, true_vals, locations  # only the released columns go on
    events = released_frame(data, policy, order, ev_rank, merged.ids, starts, period_code, period_values, outcome,
                            released_end, (rel_loc, labels) if rel_loc is not None and labels is not None else None,
                            rel_vals)
    return Noised(events, sensitive, pram, ev_persona, starts, outcome, sens_codes, order, period_values,
                  detail_true, detail_released, counts)

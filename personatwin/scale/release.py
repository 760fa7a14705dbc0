"""A sharded pass whose coordinator holds people-level arrays only: the event-level work and data stay on the shards.

After the noise stage's four phases (``personatwin.scale.noise``) each shard keeps its released columns and:

- ``shard_order``: sorts its rows by the release's key (persona rank, period, type, outcome, tie key): the
  release's row order restricted to the shard (a persona's members, so its rows, may be in several shards);
- ``write_rows``: writes its released columns in that order to a folder (``.npy``); ``merge_rows`` then merges
  the shards' sorted runs into the release's events table, chunk by chunk of persona ranks: the single-process table;
- ``target_events``: gives the events of the attacks' targets (a few thousand people) as a source record shows
  them, and ``attack_counts`` its released events per (persona, cell) in the cells the attackers know: added up
  over shards, the coordinator runs both linkage attacks on them exactly as on the whole release.

So the coordinator never holds an event-level array; peak memory is the largest shard's working set beside the
people-level arrays (one shard at a time with ``InProcess(spill=...)``).
"""

from __future__ import annotations

import copy
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from personatwin.core.memory import private_folder
from personatwin.core.policy import PrivacyPolicy
from personatwin.measure import linkage, risk, utility
from personatwin.measure.assess import PassCounts, assess, measure
from personatwin.protect import noise
from personatwin.protect.prepared import PassContext
from personatwin.protect.row_order import _keyed_order, merge_runs, sort_keys
from personatwin.protect.stages import EventNames, Merged, _sensitive_people, _small_int, released_frame
from personatwin.scale.noise import Columns, Settings, ShardEvents, run_phases
from personatwin.scale.runners import InProcess, Runner

# the released columns a shard writes, in release order (``None`` columns are absent)
ROW_FIELDS = ("rank", "key", "key2", "position", "type", "starts", "period", "end", "outcome", "location", "values")


@dataclass(frozen=True)
class Ordered:
    """A shard's rows in the release's order: local event indices, each event's persona rank, period code and sort
    keys below the rank (``row_order.sort_keys``: what the shards' rows are merged by)."""

    order: np.ndarray
    ev_rank: np.ndarray
    period_code: np.ndarray
    key: np.ndarray
    key2: np.ndarray | None


def _period_codes(cols: Columns, period_values: np.ndarray) -> np.ndarray:
    code = np.searchsorted(period_values, np.asarray(cols.starts).view(np.int64))
    return code.astype(_small_int(len(period_values)))


def _minor(shard: ShardEvents, s: Settings, cols: Columns, period_code: np.ndarray) -> np.ndarray:
    minor = period_code.astype(np.int64)  # ((period * T + type) * n_out + outcome), in place
    minor *= s.n_types
    minor += shard.type_codes
    minor *= s.n_outcomes
    minor += cols.outcome
    return minor


def top_minor(shard: ShardEvents, s: Settings, cols: Columns, period_values: np.ndarray) -> int:
    """The shard's largest sort key below the persona rank (the release's is the largest of the shards')."""
    minor = _minor(shard, s, cols, _period_codes(cols, period_values))
    return int(minor.max()) if len(minor) else 0


def shard_order(shard: ShardEvents, s: Settings, cols: Columns, period_values: np.ndarray, id_rank: np.ndarray,
                person_persona: np.ndarray, top: int) -> Ordered:
    """The shard's rows in release order: ``noise_stage``'s sort restricted to the shard (the tie bits kept are
    set by ``top``, the release's largest minor key, as in the single sort)."""
    period_code = _period_codes(cols, period_values)
    ev_rank = np.asarray(id_rank[person_persona[shard.event_person]], dtype=np.int64)
    minor = _minor(shard, s, cols, period_code)
    tie = np.asarray(cols.ties, dtype=np.int64)
    order = _keyed_order(ev_rank, minor, tie, len(id_rank), top)
    return Ordered(order, ev_rank, period_code, *sort_keys(minor, tie, top))


def write_rows(shard: ShardEvents, cols: Columns, ordered: Ordered, folder: str) -> int:
    """The shard's released columns in release order, each a ``.npy`` file of ``folder`` (made 0700: the rows
    are the release's, not yet checked); returns the number of rows."""
    out = private_folder(Path(folder))
    o = ordered.order
    columns = {"rank": ordered.ev_rank, "key": ordered.key, "key2": ordered.key2, "position": shard.positions,
               "type": shard.type_codes, "starts": cols.starts, "period": ordered.period_code,
               "outcome": cols.outcome, "end": cols.released_end, "location": cols.released_location,
               "values": cols.released_values}
    for name, a in columns.items():  # one release-ordered copy at a time
        if a is not None:
            rows = np.asarray(a)[o]
            if name in ("rank", "position") and len(rows) and rows.max() < 2**31:
                rows = rows.astype(np.int32)  # half the bytes
            np.save(out / f"{name}.npy", rows)
    return len(o)


@dataclass(frozen=True)
class TableSpec:
    """What the events table's columns need beyond the shards' codes: names, periods, labels, sorted persona ids."""

    names: EventNames
    policy: PrivacyPolicy
    period_values: np.ndarray
    labels: list[str] | None
    sorted_ids: np.ndarray
    id_type: pd.CategoricalDtype  # the persona ids' categories, validated once for every chunk


def _chunk_frame(spec: TableSpec, parts: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    """The events table of one chunk of persona ranks from each shard's rows of those ranks (each in release
    order), merged in the release's row order (``row_order.merge_runs``: the single sort's keys)."""
    def cat(name: str) -> np.ndarray | None:
        got = [p[name] for p in parts if name in p]
        return np.concatenate(got) if got else None

    def need(name: str) -> np.ndarray:
        got = cat(name)
        assert got is not None, name
        return got

    rank = need("rank")
    bounds = np.concatenate(([0], np.cumsum([len(p["rank"]) for p in parts])))
    order = merge_runs(rank, need("key"), cat("key2"), need("position"), bounds)
    loc = cat("location")
    return released_frame(spec.names, spec.policy, order, rank, spec.sorted_ids, need("starts"), need("period"),
                          spec.period_values, need("outcome"), cat("end"),
                          (loc, spec.labels) if loc is not None and spec.labels is not None else None, cat("values"),
                          type_codes=need("type"), sorted_ids=spec.id_type)


def merge_rows(folders: list[Path], spec: TableSpec, path: Path | None, chunk_ranks: int = 100_000
               ) -> pd.DataFrame | int:
    """The release's events table from the shards' written rows, merged by persona rank a chunk of ranks at a
    time: written to ``path`` (Parquet, one row group per chunk; returns the row count), or returned when
    ``path`` is None (sizes one process holds)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = [{f: np.load(p, mmap_mode="r") for f in ROW_FIELDS if (p := folder / f"{f}.npy").exists()}
            for folder in folders]
    n_ranks = len(spec.sorted_ids)
    frames, writer, rows = [], None, 0
    try:
        for a in range(0, max(n_ranks, 1), chunk_ranks):
            parts = []
            for c in cols:
                lo, hi = np.searchsorted(c["rank"], [a, a + chunk_ranks])
                if hi > lo:
                    parts.append({f: np.asarray(x[lo:hi]) for f, x in c.items()})
            if not parts:
                continue
            frame = _chunk_frame(spec, parts)
            rows += len(frame)
            if path is None:
                frames.append(frame)
                continue
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    if path is None:
        if not frames:
            return _chunk_frame(spec, [{f: x[:0] for f, x in c.items()} for c in cols[:1]])
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return rows


@dataclass(frozen=True)
class TargetEvents:
    """Events of given people as a source record shows them: canonical position, person, type, date, and the
    columns beyond type and date at the release's precision (end period, amount, location label code)."""

    position: np.ndarray
    person: np.ndarray
    type: np.ndarray
    day: np.ndarray
    details: tuple[np.ndarray, ...]


def _details(shard: ShardEvents, cols: Columns, precision: str, rows: np.ndarray | None,
             released: bool, labelled: bool) -> tuple[np.ndarray, ...]:
    """The columns a source record (``released=False``) or the release shows of each event beyond type and date,
    as the single pass codes them (``stages._event_details``): end period (int days, NaT as its int), amount (missing
    as -1), location label; absent columns are left out."""
    def take(a):
        return np.asarray(a) if rows is None else np.asarray(a)[rows]

    out = []
    if cols.released_end is not None and shard.end_day is not None:
        end = take(cols.released_end) if released else noise.period_start(take(shard.end_day), precision)
        out.append(end.view(np.int64))
    if cols.true_values is not None:
        shown = take(cols.released_values if released else cols.true_values)
        out.append(np.nan_to_num(np.asarray(shown, dtype=np.float64), nan=-1.0))
    if cols.own_location is not None and cols.released_location is not None and labelled:
        out.append(take(cols.released_location if released else cols.own_location).astype(np.int64))
    return tuple(out)


def target_events(shard: ShardEvents, cols: Columns, targets: np.ndarray, precision: str,
                  labelled: bool) -> TargetEvents:
    """The shard's events of the ``targets`` (sorted person indices)."""
    person = np.asarray(shard.event_person)
    at = np.searchsorted(targets, person)
    rows = np.flatnonzero(targets[np.minimum(at, max(len(targets) - 1, 0))] == person) if len(targets) else \
        np.zeros(0, dtype=np.int64)
    return TargetEvents(np.asarray(shard.positions)[rows], person[rows], np.asarray(shard.type_codes)[rows],
                        np.asarray(shard.event_day)[rows], _details(shard, cols, precision, rows, False, labelled))


@dataclass(frozen=True)
class DetailDictionary:
    """The detail tuples the targets' events show, coded 0..K-1; any other tuple codes as K (matches no target's
    event, as in the single pass where it has a code of its own). Equal tuples, equal codes: the attack's matches
    are the single pass's."""

    values: tuple[np.ndarray, ...]  # per column: the distinct values the targets' events show, sorted
    keys: np.ndarray  # the targets' tuples as mixed-radix keys over those values, sorted

    @property
    def size(self) -> int:
        return len(self.keys)

    def _tuple_keys(self, columns: tuple[np.ndarray, ...]) -> np.ndarray:
        """Each row's tuple as a mixed-radix key over the columns' values (a value not among them: the last digit)."""
        key = np.zeros(len(columns[0]), dtype=np.int64)
        for vals, col in zip(self.values, columns):
            at = np.searchsorted(vals, col)
            found = at < len(vals)
            found[found] = vals[at[found]] == col[found]
            key *= len(vals) + 1
            key += np.where(found, at, len(vals))
        return key

    def codes(self, columns: tuple[np.ndarray, ...]) -> np.ndarray:
        if not self.values:
            return np.zeros(len(columns[0]) if columns else 0, dtype=np.int64)
        key = self._tuple_keys(columns)
        at = np.searchsorted(self.keys, key)
        found = at < len(self.keys)
        found[found] = self.keys[at[found]] == key[found]
        return np.where(found, at, len(self.keys))

    @classmethod
    def of(cls, columns: tuple[np.ndarray, ...]) -> DetailDictionary:
        """The dictionary of these tuples (the targets' events' columns)."""
        if not columns:
            return cls((), np.zeros(1, dtype=np.int64))  # no detail column: every event's code 0
        values = tuple(np.unique(c) for c in columns)
        return cls(values, np.unique(cls(values, np.zeros(0, dtype=np.int64))._tuple_keys(columns)))


def attack_counts(shard: ShardEvents, cols: Columns, person_persona: np.ndarray, periods: np.ndarray,
                  dictionary: DetailDictionary, wanted: np.ndarray, m: int, labelled: bool,
                  precision: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The shard's released events per (persona, cell), for the cells the attackers' known events have
    (``wanted``, sorted): (persona, cell, count capped at m). Counts add up across shards (a persona's rows may be
    in several); no row order is needed."""
    detail = dictionary.codes(_details(shard, cols, precision, None, True, labelled))
    rcell = linkage.cell_codes(np.asarray(shard.type_codes), linkage.days(np.asarray(cols.starts)), detail, periods,
                               dictionary.size + 1)
    del detail
    at = np.searchsorted(wanted, rcell)
    rows = np.flatnonzero(wanted[np.minimum(at, len(wanted) - 1)] == rcell) if len(wanted) else \
        np.zeros(0, dtype=np.int64)
    key = person_persona[np.asarray(shard.event_person)[rows]].astype(np.int64) * len(wanted) + at[rows]
    pairs, count = np.unique(key, return_counts=True)
    return pairs // max(len(wanted), 1), wanted[pairs % max(len(wanted), 1)], np.minimum(count, m)


def across_shards(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], m: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The shards' (persona, cell, count) as the whole release's (persona, cell, occurrence) triples: counts added
    over shards, the first m occurrences of each (persona, cell) kept (``linkage.ReleasedCells``)."""
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    persona = np.concatenate([q[0] for q in parts])
    cell = np.concatenate([q[1] for q in parts])
    count = np.concatenate([q[2] for q in parts])
    order = np.lexsort((cell, persona))
    persona, cell, count = persona[order], cell[order], count[order]
    new = np.ones(len(persona), dtype=bool)
    new[1:] = (persona[1:] != persona[:-1]) | (cell[1:] != cell[:-1])
    starts = np.flatnonzero(new)
    total = np.minimum(np.add.reduceat(count, starts), m) if len(starts) else np.zeros(0, dtype=np.int64)
    persona, cell = np.repeat(persona[starts], total), np.repeat(cell[starts], total)
    first = np.repeat(np.cumsum(total) - total, total)
    return persona, cell, np.arange(len(persona)) - first


@dataclass(frozen=True)
class ShardedPass:
    """A pass made on shards: its figures, its published parameters, and its events table (a file, or a frame)."""

    risk: risk.RiskReport
    utility: utility.UtilityReport
    pram: noise.PramMatrix
    sensitive: pd.DataFrame
    events: pd.DataFrame | Path
    n_events: int
    timings: dict

    def figures(self) -> dict:
        return {**self.risk.as_dict(), **self.utility.as_dict()}


def sharded_pass(ctx: PassContext, merged: Merged, folder: Path, runner: Runner | None = None,
                 n_shards: int | None = None, events_path: Path | None = None,
                 on_stage: Callable[[str], None] | None = None) -> ShardedPass:
    """The noise, risk and utility stages of a pass on shards, the coordinator holding people-level arrays only:
    the same figures and events table as the single-process pass. The shards write their rows under ``folder``
    (0700; on storage the workers share; removed once merged: they hold each row's source event); the table goes to
    ``events_path`` (Parquet), or is returned as a frame when None. ``on_stage(name)`` is called as each stage ends
    (benchmarks read memory there)."""
    def done(name: str, since: float) -> None:
        timings[name] = time.perf_counter() - since
        if on_stage is not None:
            on_stage(name)

    if ctx.n_buckets < 2:
        raise ValueError("a sharded pass needs a release of at least two buckets (PassContext.n_buckets); run "
                         "the single-process pass on this one")
    runner = runner or InProcess()
    data, policy = ctx.data, ctx.policy
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    ph = run_phases(ctx, merged, runner, n_shards)
    handles, s, cols = ph.placed.handles, ph.settings, ph.columns
    sums = runner.gather([runner.submit("sums", i, _counts_and_top, cols[i], h, s, ph.period_values)
                          for i, h in enumerate(handles)])
    counts = sums[0][0]
    for c, _ in sums[1:]:
        counts = counts + c
    top = max(t for _, t in sums)
    shared_persona = runner.share(merged.person_persona)
    shared_rank = runner.share(merged.id_rank)
    ordered = [runner.submit("order", i, shard_order, h, s, cols[i], ph.period_values, shared_rank, shared_persona,
                             top) for i, h in enumerate(handles)]
    private_folder(folder)
    folders = [folder / f"rows-{i:05d}" for i in range(len(handles))]
    written = runner.gather([runner.submit("rows", i, write_rows, h, cols[i], ordered[i], str(folders[i]))
                             for i, h in enumerate(handles)])
    sensitive, _ = _sensitive_people(ctx, merged)
    done("noise", t0)

    t0 = time.perf_counter()
    labelled = bool(ph.labels)
    periods = np.asarray(ph.period_values, dtype=np.int64)
    m = policy.attacker_knowledge

    def view(draws: list[tuple[np.ndarray, np.random.Generator]]
             ) -> tuple[linkage.AttackInputs, linkage.ReleasedCells]:
        targets = np.unique(np.concatenate([t for t, _ in draws])) if draws else np.zeros(0, dtype=np.int64)
        got = runner.gather([runner.submit("targets", i, target_events, h, cols[i], targets, policy.date_precision,
                                           labelled) for i, h in enumerate(handles)])
        position = np.concatenate([g.position for g in got])
        order = np.argsort(position, kind="stable")  # canonical order, as the single pass reads them
        n_details = len(got[0].details) if got else 0
        details = tuple(np.concatenate([g.details[j] for g in got])[order] for j in range(n_details))
        dictionary = DetailDictionary.of(details)
        D = dictionary.size + 1
        inputs = linkage.AttackInputs(
            people=data.people, person_persona=merged.person_persona, attributes=merged.attributes,
            event_person=np.concatenate([g.person for g in got])[order],
            event_type_code=np.concatenate([g.type for g in got])[order],
            event_date=np.concatenate([g.day for g in got])[order], released_persona=None, released_type_code=None,
            released_period=None, precision=policy.date_precision, released_sorted=True,
            period_values=ph.period_values, event_detail=dictionary.codes(details))
        # the cells the attackers will know: each attack's known events, drawn from a copy of its generator (the
        # attack then draws the same ones)
        known = [linkage.known_events(inputs, t, m, copy.deepcopy(rng)) for t, rng in draws]
        wanted = np.unique(np.concatenate([linkage.cell_codes(k[1], np.asarray(k[2], dtype=np.int64), k[3], periods, D)
                                           for k in known])) if known else np.zeros(0, dtype=np.int64)
        parts = runner.gather([runner.submit("cells", i, attack_counts, h, cols[i], shared_persona, periods,
                                             dictionary, wanted, m, labelled, policy.date_precision)
                               for i, h in enumerate(handles)])
        cells = linkage.ReleasedCells(periods, max(len(periods), 1), D, *across_shards(parts, m),
                                      s.n_types * max(len(periods), 1) * D, m)
        return inputs, cells

    risk_report = assess(ctx, merged.person_persona, merged.attributes, None, counts, attack_view=view)
    done("risk", t0)
    t0 = time.perf_counter()
    util = measure(data, policy, merged.person_persona, merged.attributes, ph.pram, merged.grouping, counts)
    done("utility", t0)

    t0 = time.perf_counter()
    sorted_ids = np.sort(merged.ids.astype(str))
    spec = TableSpec(EventNames(data.type_names, data.outcome_names, np.zeros(0, dtype=np.int8)), policy,
                     ph.period_values, ph.labels, sorted_ids, pd.CategoricalDtype(sorted_ids))
    try:
        events = merge_rows(folders, spec, events_path)
    finally:  # the shards' rows carry each row's source event (its canonical position): never left behind
        for f in folders:
            shutil.rmtree(f, ignore_errors=True)
    done("write", t0)
    return ShardedPass(risk_report, util, ph.pram, sensitive, events if events_path is None else events_path,
                       int(sum(written)), timings)


def _counts_and_top(cols: Columns, shard: ShardEvents, s: Settings, period_values: np.ndarray
                    ) -> tuple[PassCounts, int]:
    return cols.counts, top_minor(shard, s, cols, period_values)

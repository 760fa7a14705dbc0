"""Simulated attacks on a release: external linkage and event-pattern concentration (DESIGN §5).

For sampled targets the attacker knows the true QIs and m true events with every column a source
record shows (type, date, end date, amount, location), each brought to the release's precision.
Candidate personas are those whose published QIs contain the target's values and whose released
events contain the known events (type x blurred period x released details, with multiplicity). The
attacker must then pick the target among all members of the candidates: success is 1 / (people in
the candidate personas) when the true persona is among them, else 0 (DESIGN: 1/sum|candidates|);
the persona single-out rate is the share of targets left with exactly one candidate, their own
(an attribute-disclosure figure: the attacker then knows the target's persona). Candidate sets are computed
as AND/OR of persona bitsets (one bit per persona, ``np.bitwise_count`` for the sizes), so the
cost is targets x keys x personas/64 words, with no loop over people or events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from personatwin.core.codes import dense_codes
from personatwin.core.domains import Domain
from personatwin.protect.noise import period_start
from personatwin.protect.personas import PersonaAttributes, generalized_codes

BATCH = 64


@dataclass(frozen=True)
class AttackResult:
    """Outcome of one simulated attack over sampled targets."""

    mean: float  # mean success probability (linkage) or share singled out (concentration)
    ci_low: float
    ci_high: float
    n_targets: int
    mean_candidates: float  # personas consistent with the attacker's knowledge, on average
    single_out: float = 0.0  # share of targets whose knowledge leaves exactly one candidate: the true persona
    single_out_ci_low: float = 0.0
    single_out_ci_high: float = 0.0
    targets: np.ndarray | None = None  # person index of each target (for series exposure; never published)
    success: np.ndarray | None = None  # per-target success probability, aligned with ``targets``
    singled_out: np.ndarray | None = None  # per-target: knowledge leaves exactly the true persona

    def as_dict(self, prefix: str) -> dict[str, float]:
        return {prefix: self.mean, f"{prefix}_ci_low": self.ci_low, f"{prefix}_ci_high": self.ci_high,
                f"{prefix}_targets": float(self.n_targets), f"{prefix}_mean_candidates": self.mean_candidates}


@dataclass(frozen=True)
class AttackInputs:
    """What the simulation needs: the truth (people, events) and the release (personas, events)."""

    people: pd.DataFrame  # true QI values, row i = person i
    person_persona: np.ndarray  # persona index of each person
    attributes: PersonaAttributes
    event_person: np.ndarray  # person index of each true event
    event_type_code: np.ndarray  # event type code of each event (same codes in truth and release)
    event_date: np.ndarray  # true date, datetime64[D]
    # the release's events (None when the caller gives the attacks the release's cells, ``released_cells``)
    released_persona: np.ndarray | None  # persona index of each released event
    released_type_code: np.ndarray | None
    released_period: np.ndarray | None  # released period start, datetime64[D]
    precision: str
    released_sorted: bool = False  # released events grouped by persona (the release's row order)
    period_values: np.ndarray | None = None  # distinct released period starts (int days), if known
    event_detail: np.ndarray | None = None  # per true event: code of its other columns at released precision
    released_detail: np.ndarray | None = None  # per released event: code of its other columns as released


def confidence(x: np.ndarray) -> tuple[float, float, float]:
    """Mean of per-target figures with a normal 95% interval, clipped to [0, 1]."""
    if len(x) == 0:
        return 0.0, 0.0, 0.0
    m = float(x.mean())
    half = 1.96 * float(x.std(ddof=1)) / np.sqrt(len(x)) if len(x) > 1 else 0.0
    return m, max(0.0, m - half), min(1.0, m + half)


def _build_bits(rows: np.ndarray, persona: np.ndarray, n_rows: int, n_personas: int) -> np.ndarray:
    """Bitset matrix: row r has bit p set for each pair (r, p); two extra rows: all-zero, all-one."""
    words = (n_personas + 63) // 64
    bits = np.zeros((n_rows + 2, words), dtype=np.uint64)
    if len(rows):
        np.bitwise_or.at(bits, (rows, persona >> 6), np.left_shift(np.uint64(1), (persona & 63).astype(np.uint64)))
    bits[n_rows + 1, :] = np.uint64(0xFFFFFFFFFFFFFFFF)
    tail = n_personas % 64
    if tail:
        bits[n_rows + 1, -1] = np.uint64((1 << tail) - 1)
    return bits


def _people_in(cand: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """People in the candidate personas of each row of a bitset matrix: each set bit's persona size, summed in a
    compiled kernel that skips empty words (sizes are whole numbers: the sums are exact in any order)."""
    from personatwin.measure.bitsets import people_in  # numba: compiled or loaded on first use only

    padded = np.zeros(cand.shape[1] * 64, dtype=np.float64)  # a bit past the last persona weighs nothing
    padded[: len(sizes)] = sizes
    return people_in(np.ascontiguousarray(cand, dtype=np.uint64), padded)


def sample_targets(n_people: int, n_targets: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of the simulated targets (everyone when the table is small)."""
    if n_people <= n_targets:
        return np.arange(n_people)
    return np.sort(rng.choice(n_people, size=n_targets, replace=False))


def _occurrence(group_key: np.ndarray, order: np.ndarray) -> np.ndarray:
    """0-based occurrence of each row within its group, given an order sorting rows by group."""
    k = group_key[order]
    new = np.ones(len(k), dtype=bool)
    new[1:] = k[1:] != k[:-1]
    start = np.maximum.accumulate(np.where(new, np.arange(len(k)), 0))
    occ = np.empty(len(k), dtype=np.int64)
    occ[order] = np.arange(len(k)) - start
    return occ


def known_events(inp: AttackInputs, targets: np.ndarray, m: int, rng: np.random.Generator):
    """Up to m random true events per target, as attacker cells (type x period) with occurrence.

    Returns (target slot, cell, occurrence) arrays; a cell is type * n_periods + period code.
    """
    slot = np.full(len(inp.people), -1, dtype=np.int64)
    slot[targets] = np.arange(len(targets))
    sel = np.flatnonzero(slot[inp.event_person] >= 0)
    tgt = slot[inp.event_person[sel]]
    pick = np.lexsort((rng.random(len(sel)), tgt))
    rank = _occurrence(tgt, pick)
    keep = rank < m
    tgt, sel = tgt[keep], sel[keep]
    period = period_start(inp.event_date[sel], inp.precision).astype(np.int64)
    detail = inp.event_detail[sel] if inp.event_detail is not None else np.zeros(len(sel), dtype=np.int64)
    return tgt, inp.event_type_code[sel], period, detail


@dataclass(frozen=True)
class ReleasedCells:
    """The released events as (persona, cell, occurrence), cell = type x period code; the part of
    the attack that does not depend on the targets, computed once per release for every attack."""

    periods: np.ndarray  # distinct released period starts (int days), sorted
    n_periods: int
    n_details: int  # distinct detail codes (end period x amount x location): a cell is type x period x detail
    persona: np.ndarray  # persona of each released occurrence kept (occurrence < m)
    cell: np.ndarray
    occurrence: np.ndarray
    n_cells: int
    m: int


def released_cells(inp: AttackInputs, m: int) -> ReleasedCells:
    """Index the released events by (persona, cell) occurrence; only the first m per pair matter."""
    if inp.released_persona is None or inp.released_type_code is None or inp.released_period is None:
        raise ValueError("these attack inputs hold no released events: give the release's cells (released=...) "
                         f"for attacker knowledge m={m}")
    rel_period = days(inp.released_period)
    periods = np.asarray(inp.period_values if inp.period_values is not None else np.unique(rel_period), dtype=np.int64)
    detail = inp.released_detail if inp.released_detail is not None else np.zeros(len(rel_period), dtype=np.int64)
    D = int(max(detail.max() if len(detail) else 0,
                inp.event_detail.max() if inp.event_detail is not None and len(inp.event_detail) else 0)) + 1
    rcell = cell_codes(inp.released_type_code, rel_period, detail, periods, D)
    n_types = int(inp.released_type_code.max()) + 1 if len(rcell) else 0
    return cells_of(inp.released_persona, rcell, periods, D, n_types, m, inp.released_sorted)


def days(dates: np.ndarray) -> np.ndarray:
    """Dates as int64 counts of their unit (a view of datetime64, no copy)."""
    return dates.view(np.int64) if dates.dtype.kind == "M" else dates.astype(np.int64)


def cell_codes(type_code: np.ndarray, period: np.ndarray, detail: np.ndarray, periods: np.ndarray,
               n_details: int) -> np.ndarray:
    """Cell of each event, (type x period code) x detail, computed in place (one event-long temporary)."""
    cell = type_code.astype(np.int64)
    cell *= max(len(periods), 1)
    cell += np.searchsorted(periods, period)
    cell *= n_details
    cell += detail
    return cell


def cells_of(persona: np.ndarray, rcell: np.ndarray, periods: np.ndarray, n_details: int, n_types: int, m: int,
             is_sorted: bool, order: np.ndarray | None = None) -> ReleasedCells:
    """``ReleasedCells`` from each released event's persona and cell (``is_sorted``: each persona's events are
    contiguous, as in the release's row order -- its events of one cell need not be, outcomes and details
    interleave them; ``order``: the events are ``persona[order]``, ``rcell[order]``)."""
    P = max(len(periods), 1)
    n_cells = n_types * P * n_details if len(rcell) else 1
    if is_sorted:  # each persona's events contiguous: counted persona by persona, compiled
        from personatwin.measure.runs import first_occurrences  # numba: imported on first use only

        return ReleasedCells(periods, P, n_details, *first_occurrences(persona, rcell, m, order), n_cells, m)
    if order is not None:
        persona, rcell = persona[order], rcell[order]
    rocc = _occurrence(persona * n_cells + rcell, np.lexsort((rcell, persona)))
    keep = rocc < m
    return ReleasedCells(periods, P, n_details, persona[keep], rcell[keep], rocc[keep], n_cells, m)


def _known_rows(released: ReleasedCells, known, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Row id per known event, and the sorted (cell x m + occurrence) key of each row."""
    tgt, ktype, kperiod, kdetail = known
    kperiod = np.asarray(kperiod, dtype=np.int64)
    kp = np.searchsorted(released.periods, kperiod)
    at = np.minimum(kp, max(len(released.periods) - 1, 0))
    match = (kp < len(released.periods)) & (released.periods[at] == kperiod) if len(released.periods) else \
        np.zeros(len(kperiod), dtype=bool)
    # a known period no released event has matches no persona: give it a cell of its own, past all
    kcell = np.where(match, (ktype.astype(np.int64) * released.n_periods + kp) * released.n_details + kdetail,
                     released.n_cells + np.arange(len(kperiod)))
    kocc = _occurrence(tgt * (int(kcell.max()) + 1 if len(kcell) else 1) + kcell, np.lexsort((kcell, tgt)))
    kkey = kcell * m + kocc
    row_known, needed = dense_codes(kkey)
    return row_known.reshape(-1), needed


def attack_bits(inp: AttackInputs, domain: Domain, m: int, targets: np.ndarray, known, n_personas: int,
                released: ReleasedCells | None = None, use_qis: bool = True):
    """The attack's candidate bitsets: (row of each known event, per-QI rows of each target, the bitset matrix
    -- a row per known (cell, occurrence) and per QI value, two extra rows all-zero and all-one --, its row count).
    The released occurrences set their bits in a compiled pass, with no (row, persona) pair list."""
    from personatwin.measure.bitsets import set_released_bits  # numba: compiled or loaded on first use only

    released = released if released is not None and released.m == m else released_cells(inp, m)
    row_known, needed = _known_rows(released, known, m)
    if use_qis:
        per_qi, qi_pairs, n_rows = _qi_rows(inp, domain, targets, len(needed))
    else:
        per_qi, qi_pairs, n_rows = [], np.zeros((0, 2), np.int64), len(needed)
    bits = _build_bits(qi_pairs[:, 0], qi_pairs[:, 1], n_rows, n_personas)
    set_released_bits(bits, released.persona, released.cell, released.occurrence, needed, m)
    return row_known, per_qi, bits, n_rows


def _qi_rows(inp: AttackInputs, domain: Domain, targets: np.ndarray, offset: int):
    """Per QI: (targets x levels) row ids of the persona bitsets consistent with each target."""
    attrs = inp.attributes
    pairs, per_qi = [], []
    next_row = offset
    for qi in attrs.qi_columns:
        h = domain.hierarchy(qi)
        levels = attrs.levels[qi].to_numpy()
        published = attrs.table[qi].astype(str).to_numpy()
        cols = []
        for lv in np.unique(levels):
            codes, labels = generalized_codes(inp.people[qi].iloc[targets].reset_index(drop=True), h, int(lv))
            target_label = labels[codes]
            sel = levels == lv
            keys = pd.Index(pd.unique(published[sel]))
            row_p = keys.get_indexer(published[sel]) + next_row
            pairs.append(np.column_stack([row_p, np.flatnonzero(sel)]))
            rt = keys.get_indexer(target_label)
            cols.append(np.where(rt >= 0, rt + next_row, -1))  # -1: no persona at this level matches
            next_row += len(keys)
        per_qi.append(np.column_stack(cols))
    return per_qi, (np.concatenate(pairs) if pairs else np.zeros((0, 2), np.int64)), next_row


def simulate(inp: AttackInputs, domain: Domain, m: int, n_targets: int, rng: np.random.Generator,
             use_qis: bool = True, released: ReleasedCells | None = None,
             targets: np.ndarray | None = None) -> AttackResult:
    """Monte-Carlo attack; with ``use_qis`` it is the external linkage attack, without it the
    event-pattern concentration estimate (share of targets whose events single out one persona).
    ``targets`` (sorted person indices) replaces the random sample: the series attack targets the
    same people in every release (``personatwin.series.exposure``)."""
    n_people = len(inp.people)
    n_personas = int(inp.person_persona.max()) + 1 if n_people else 0
    if n_people == 0:
        return AttackResult(0.0, 0.0, 0.0, 0, 0.0)
    targets = sample_targets(n_people, n_targets, rng) if targets is None else np.asarray(targets, dtype=np.int64)
    known = known_events(inp, targets, m, rng)
    row_known, per_qi, bits, n_rows = attack_bits(inp, domain, m, targets, known, n_personas, released, use_qis)
    zero, ones = n_rows, n_rows + 1
    ev_matrix = np.full((len(targets), max(m, 1)), ones, dtype=np.int64)
    tgt = known[0]
    pos = _occurrence(tgt, np.argsort(tgt, kind="stable"))
    ev_matrix[tgt, pos] = row_known
    per_qi = [np.where(r >= 0, r, zero) for r in per_qi]
    true_p = inp.person_persona[targets]
    sizes = np.bincount(inp.person_persona, minlength=n_personas).astype(np.float32)
    counts = np.empty(len(targets), dtype=np.int64)
    people_in = np.empty(len(targets), dtype=np.float64)
    hit = np.empty(len(targets), dtype=bool)
    for s in range(0, len(targets), BATCH):
        e = min(s + BATCH, len(targets))
        cand = np.bitwise_and.reduce(bits[ev_matrix[s:e]], axis=1)
        for rows in per_qi:
            cand &= np.bitwise_or.reduce(bits[rows[s:e]], axis=1)
        counts[s:e] = np.bitwise_count(cand).sum(axis=1, dtype=np.int64)
        people_in[s:e] = _people_in(cand, sizes)
        tp = true_p[s:e]
        hit[s:e] = ((cand[np.arange(e - s), tp >> 6] >> (tp & 63).astype(np.uint64)) & np.uint64(1)).astype(bool)
    single = (hit & (counts == 1)).astype(np.float64)
    if use_qis:
        success = np.where(hit & (people_in > 0), 1.0 / np.maximum(people_in, 1.0), 0.0)
    else:
        success = single
    mean, lo, hi = confidence(success)
    s_mean, s_lo, s_hi = confidence(single)
    return AttackResult(mean, lo, hi, len(targets), float(counts.mean()) if len(counts) else 0.0, s_mean, s_lo, s_hi,
                        targets=targets, success=success, singled_out=single.astype(bool))

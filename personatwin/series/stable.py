"""Stable personas across a release window (issue 12, item 3: design B of benchmarks/series_designs.py).

Design B fixes each person's persona for the window: the people are grouped once, and every release of
the window publishes the same personas (same members, published QIs and persona ids; every member
counts, with or without an event that period, so sizes stay >= k) carrying that period's events with
fresh date blur and PRAM. Two ways to group, both here:

* ``window_personas``: one merge over the window's roster (everyone with an event in any period),
  on the window's events (needs the whole window before the first release);
* ``StablePersonas.extend``: the first period's people grouped on their events, each later period's
  newcomers grouped among themselves into new personas of k..2k-1 (deployable period by period).

The series attack on stable personas links a persona across releases by its id, so the attacker
intersects the candidate sets of every release the target appears in: C* = AND_r C_r; success is
1 / (people in C*) when the true persona is in C*, single-out when C* is the true persona alone.
``candidates`` gives the per-target candidate bitsets of one release with the internals of
``personatwin.measure.linkage`` (same knowledge, same matching); internal figures, never published.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from personatwin.core.domains import Domain
from personatwin.core.schema import PERSON_ID
from personatwin.measure import linkage
from personatwin.protect.merge import Grouping, information_loss
from personatwin.protect.personas import persona_attributes
from personatwin.protect.prepared import PassContext
from personatwin.protect.stages import Merged, Noised, merge_stage


@dataclass(frozen=True)
class StablePersonas:
    """Persona membership fixed for a window: ``person_ids`` sorted, ``persona[i]`` the persona of
    person i, ``ids`` the persona id of each persona index (the same in every release)."""

    person_ids: np.ndarray
    persona: np.ndarray
    ids: np.ndarray

    @property
    def n_personas(self) -> int:
        return len(self.ids)

    @classmethod
    def from_merge(cls, ctx: PassContext) -> StablePersonas:
        """Group the people of a prepared period (or window) with the engine's merge stage."""
        merged = merge_stage(ctx)
        return cls(ctx.data.people[PERSON_ID].astype(str).to_numpy(), merged.person_persona.astype(np.int64),
                   np.asarray(merged.ids, dtype=object))

    def extend(self, newcomers: PassContext) -> StablePersonas:
        """Add a period's newcomers (people in no persona yet) as new personas of their own; existing
        personas keep their members, indices and ids."""
        new = StablePersonas.from_merge(newcomers)
        if pd.Index(new.person_ids).isin(self.person_ids).any():
            raise ValueError("newcomers must be people without a persona yet")
        ids = np.concatenate([self.person_ids, new.person_ids])
        persona = np.concatenate([self.persona, new.persona + self.n_personas])
        order = np.argsort(ids, kind="stable")
        return StablePersonas(ids[order], persona[order], np.concatenate([self.ids, new.ids]))

    def members(self, people: pd.DataFrame) -> pd.DataFrame:
        """The rows of ``people`` that belong to a persona (the people every release of it carries)."""
        return people[people[PERSON_ID].astype(str).isin(self.person_ids)]

    def merged(self, ctx: PassContext) -> Merged:
        """The merge stage of one release of the window: ``ctx`` holds exactly the members (prepared
        from ``members(...)`` and that period's events), so person i of the release is person i here."""
        pid = ctx.data.people[PERSON_ID].astype(str).to_numpy()
        if len(pid) != len(self.person_ids) or (pid != self.person_ids).any():
            raise ValueError("a stable release must carry exactly the personas' members")
        n = self.n_personas
        attrs = persona_attributes(ctx.data.people, self.persona, n, ctx.data.domain, ctx.policy)
        grouping = Grouping(self.persona, n, information_loss(ctx.data.features, self.persona), 0)
        id_rank = np.argsort(np.argsort(self.ids.astype(str), kind="stable"), kind="stable")
        return Merged(grouping, self.persona, attrs, self.ids, id_rank)


def window_personas(window: PassContext) -> StablePersonas:
    """Design B, window grouping: one merge over the window's roster on the window's events."""
    return StablePersonas.from_merge(window)


def attack_inputs(ctx: PassContext, merged: Merged, noised: Noised) -> linkage.AttackInputs:
    """What the linkage attack sees of one pass (as ``personatwin.measure.assess.assess`` builds it)."""
    data = ctx.data
    return linkage.AttackInputs(
        people=data.people, person_persona=merged.person_persona, attributes=merged.attributes,
        event_person=data.event_person, event_type_code=data.type_codes, event_date=data.event_day,
        released_persona=noised.ev_persona[noised.order], released_type_code=data.type_codes[noised.order],
        released_period=noised.starts[noised.order], precision=ctx.policy.date_precision,
        released_sorted=True, period_values=noised.period_values,
        event_detail=noised.detail_true, released_detail=noised.detail_released[noised.order])


@dataclass(frozen=True)
class Candidates:
    """Candidate personas of each target in one release (bitsets over persona indices)."""

    targets: np.ndarray  # person index of each target in this release
    bits: np.ndarray  # (targets, words) uint64: bit p set when persona p is consistent with the knowledge
    true_persona: np.ndarray
    sizes: np.ndarray  # people per persona (float64)


def candidates(inp: linkage.AttackInputs, domain: Domain, m: int, targets: np.ndarray, rng: np.random.Generator,
               released: linkage.ReleasedCells | None = None) -> Candidates:
    """The external linkage attack of ``linkage.simulate`` (QIs and m true events per target), keeping
    each target's candidate set instead of only its size."""
    targets = np.asarray(targets, dtype=np.int64)
    n_personas = int(inp.person_persona.max()) + 1 if len(inp.person_persona) else 0
    known = linkage.known_events(inp, targets, m, rng)
    row_known, per_qi, bits, n_rows = linkage.attack_bits(inp, domain, m, targets, known, n_personas, released)
    zero, ones = n_rows, n_rows + 1
    ev_matrix = np.full((len(targets), max(m, 1)), ones, dtype=np.int64)
    tgt = known[0]
    pos = linkage._occurrence(tgt, np.argsort(tgt, kind="stable"))
    ev_matrix[tgt, pos] = row_known
    per_qi = [np.where(r >= 0, r, zero) for r in per_qi]
    cand = np.empty((len(targets), bits.shape[1]), dtype=np.uint64)
    for s in range(0, len(targets), linkage.BATCH):
        e = min(s + linkage.BATCH, len(targets))
        c = np.bitwise_and.reduce(bits[ev_matrix[s:e]], axis=1)
        for rows in per_qi:
            c &= np.bitwise_or.reduce(bits[rows[s:e]], axis=1)
        cand[s:e] = c
    sizes = np.bincount(inp.person_persona, minlength=n_personas).astype(np.float64)
    return Candidates(targets, cand, inp.person_persona[targets].astype(np.int64), sizes)


def outcome(bits: np.ndarray, true_persona: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per target: success 1 / (people in the candidates) if the true persona is one of them, else 0;
    and whether the candidates are the true persona alone."""
    n = len(true_persona)
    if n == 0:
        return np.zeros(0), np.zeros(0, dtype=bool)
    words = bits.shape[1]
    padded = np.zeros(words * 64, dtype=np.float64)
    padded[: len(sizes)] = sizes
    people_in = linkage._people_in(bits, padded)
    count = np.bitwise_count(bits).sum(axis=1, dtype=np.int64)
    tp = true_persona
    hit = ((bits[np.arange(n), tp >> 6] >> (tp & 63).astype(np.uint64)) & np.uint64(1)).astype(bool)
    success = np.where(hit & (people_in > 0), 1.0 / np.maximum(people_in, 1.0), 0.0)
    return success, hit & (count == 1)


def widen(bits: np.ndarray, words: int) -> np.ndarray:
    """Bitsets padded with zero words to ``words`` (personas created later are no candidate yet)."""
    if bits.shape[1] >= words:
        return bits
    out = np.zeros((bits.shape[0], words), dtype=np.uint64)
    out[:, : bits.shape[1]] = bits
    return out


def intersect(bits_by_release: list[np.ndarray], slots_by_release: list[np.ndarray], n_targets: int,
              words: int) -> np.ndarray:
    """C* = AND over the releases each target appears in (all personas where it appears in none)."""
    out = np.full((n_targets, words), np.uint64(0xFFFFFFFFFFFFFFFF), dtype=np.uint64)
    for bits, slots in zip(bits_by_release, slots_by_release):
        out[slots] &= widen(bits, words)
    return out


def vote(bits_by_release: list[np.ndarray], slots_by_release: list[np.ndarray], n_targets: int,
         words: int) -> np.ndarray:
    """The personas consistent with the target in the most releases (ties kept): an attacker who
    tolerates the releases where randomized columns (joint PRAM of end dates and amounts) dropped
    the true persona from the candidates, which the strict intersection cannot."""
    votes = np.zeros((n_targets, words * 64), dtype=np.int16)
    for bits, slots in zip(bits_by_release, slots_by_release):
        wide = widen(bits, words)
        votes[slots] += np.unpackbits(wide.view(np.uint8), axis=1, bitorder="little").astype(np.int16)
    top = votes.max(axis=1, keepdims=True)
    best = (votes == top) & (top > 0)
    return np.packbits(best, axis=1, bitorder="little").view(np.uint64).reshape(n_targets, words)

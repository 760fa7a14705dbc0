"""l-diversity repair: member swaps between personas of one stratum (DESIGN §4, §5).

A persona whose released values (PRAM'd outcomes of its events, person-level sensitive values)
show fewer than l distinct values fails l-diversity. Raising k for the whole release to fix a few
such personas costs every analyst utility, so each failing persona first swaps one member with a
nearby persona of the same stratum: sizes stay k..2k-1, published QIs are recomputed from the new
members, and the swap is the valid one that moves the feature centroids least.

PRAM draws are made per event and per person before grouping (they never depend on the persona),
so the released values are known here and a repaired persona is l-diverse in the release itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Above this many failing personas the data lack diversity broadly: leave it to the ladder.
MAX_REPAIRS_SHARE = 0.02
MAX_REPAIRS_MIN = 200
CANDIDATES = 16  # nearest personas of the same stratum tried per failing persona


@dataclass(frozen=True)
class Observed:
    """One released attribute: the owner person and value code of each observation."""

    owner: np.ndarray  # person index of each observation (event, or person itself)
    value: np.ndarray  # released value code
    n_values: int


@dataclass(frozen=True)
class RepairResult:
    """Persona index per person after repair, with what was done."""

    persona_index: np.ndarray
    failing_before: int
    repaired: int
    skipped: bool  # too many failing personas: no swap attempted


def persona_value_counts(persona: np.ndarray, n_personas: int, obs: Observed) -> np.ndarray:
    """Observations of each value per persona (personas x values)."""
    return np.bincount(persona[obs.owner] * obs.n_values + obs.value,
                       minlength=n_personas * obs.n_values).reshape(n_personas, obs.n_values)


def failing_personas(counts: list[np.ndarray], l: int) -> np.ndarray:
    """Personas holding some value of an attribute but fewer than l distinct ones."""
    bad = np.zeros(len(counts[0]) if counts else 0, dtype=bool)
    for c in counts:
        distinct = (c > 0).sum(axis=1)
        bad |= (distinct > 0) & (distinct < l)
    return np.flatnonzero(bad)


def _member_counts(members: np.ndarray, obs: Observed, sorted_owner: np.ndarray,
                   owner_order: np.ndarray) -> np.ndarray:
    """Observations of each value per member (members x values), for a few members."""
    out = np.zeros((len(members), obs.n_values), dtype=np.int64)
    lo = np.searchsorted(sorted_owner, members, side="left")
    hi = np.searchsorted(sorted_owner, members, side="right")
    lens = hi - lo
    if lens.sum() == 0:
        return out
    rows = np.repeat(np.arange(len(members)), lens)
    pos = np.concatenate([owner_order[a:b] for a, b in zip(lo, hi)]) if len(members) else np.empty(0, np.int64)
    np.add.at(out, (rows, obs.value[pos]), 1)
    return out


def _ok(counts: np.ndarray, l: int) -> np.ndarray:
    """Distinct-l holds (or the persona holds no value) along the last axis."""
    distinct = (counts > 0).sum(axis=-1)
    return (distinct == 0) | (distinct >= l)


def repair_l_diversity(persona: np.ndarray, stratum: np.ndarray, features: np.ndarray,
                       observed: list[Observed], l: int) -> RepairResult:
    """Swap members between nearby personas of one stratum until failing personas hold l values."""
    persona = np.asarray(persona, dtype=np.int64).copy()
    n_personas = int(persona.max()) + 1 if len(persona) else 0
    if l <= 1 or not observed or n_personas < 2:
        return RepairResult(persona, 0, 0, False)
    counts = [persona_value_counts(persona, n_personas, o) for o in observed]
    failing = failing_personas(counts, l)
    if len(failing) == 0:
        return RepairResult(persona, 0, 0, False)
    if len(failing) > max(MAX_REPAIRS_MIN, MAX_REPAIRS_SHARE * n_personas):
        return RepairResult(persona, len(failing), 0, True)

    size = np.bincount(persona, minlength=n_personas).astype(np.float64)
    sums = np.column_stack([np.bincount(persona, weights=features[:, j], minlength=n_personas)
                            for j in range(features.shape[1])])
    centroid = sums / np.maximum(size, 1)[:, None]
    first = np.full(n_personas, len(persona), dtype=np.int64)
    np.minimum.at(first, persona, np.arange(len(persona)))
    p_stratum = stratum[first]
    orders = [np.argsort(o.owner, kind="stable") for o in observed]
    sorted_owners = [o.owner[ordr] for o, ordr in zip(observed, orders)]
    members_of = np.argsort(persona, kind="stable")
    starts = np.concatenate(([0], np.cumsum(np.bincount(persona, minlength=n_personas))))
    # Members of a persona, looked up on first use and updated on every swap.
    cache: dict[int, np.ndarray] = {}

    def get_members(p: int) -> np.ndarray:
        if p not in cache:
            cache[p] = members_of[starts[p]:starts[p + 1]].copy()
        return cache[p]

    repaired = 0
    for p in failing:
        p = int(p)
        if all(_ok(c[p], l) for c in counts):
            continue  # fixed by an earlier swap
        same = np.flatnonzero((p_stratum == p_stratum[p]) & (np.arange(n_personas) != p))
        if len(same) == 0:
            continue
        d = ((centroid[same] - centroid[p]) ** 2).sum(axis=1)
        near = same[np.argsort(d, kind="stable")[:CANDIDATES]]
        mp = get_members(p)
        per_p = [_member_counts(mp, o, so, od) for o, so, od in zip(observed, sorted_owners, orders)]
        for q in near:
            q = int(q)
            mq = get_members(q)
            per_q = [_member_counts(mq, o, so, od) for o, so, od in zip(observed, sorted_owners, orders)]
            valid = np.ones((len(mp), len(mq)), dtype=bool)
            for c, cp, cq in zip(counts, per_p, per_q):
                after_p = c[p][None, None, :] - cp[:, None, :] + cq[None, :, :]
                after_q = c[q][None, None, :] - cq[None, :, :] + cp[:, None, :]
                valid &= _ok(after_p, l) & _ok(after_q, l)
            if not valid.any():
                continue
            xp, xq = features[mp], features[mq]
            cost = (((xq[None, :, :] - centroid[p]) ** 2).sum(-1) + ((xp[:, None, :] - centroid[q]) ** 2).sum(-1)
                    - ((xp[:, None, :] - centroid[p]) ** 2).sum(-1) - ((xq[None, :, :] - centroid[q]) ** 2).sum(-1))
            cost = np.where(valid, cost, np.inf)
            i, j = np.unravel_index(int(np.argmin(cost)), cost.shape)
            a, b = int(mp[i]), int(mq[j])
            persona[a], persona[b] = q, p
            for c, cp, cq in zip(counts, per_p, per_q):
                c[p] += cq[j] - cp[i]
                c[q] += cp[i] - cq[j]
            centroid[p] += (features[b] - features[a]) / size[p]
            centroid[q] += (features[a] - features[b]) / size[q]
            cache[p] = np.where(mp == a, b, mp)
            cache[q] = np.where(mq == b, a, mq)
            repaired += 1
            break
    return RepairResult(persona, len(failing), repaired, False)

"""l-diversity repair: member swaps (or a re-cut) between nearby personas (DESIGN §4, §5).

A persona whose true sensitive values show fewer than l distinct values fails l-diversity: per
event type its true outcomes (counted where it holds at least k events of the type: a rarer type is
protected by PRAM alone), and each person-level sensitive attribute. Raising k for the whole release to fix a few
such personas costs every analyst utility, so each failing persona first swaps one member with a
nearby persona of the same stratum: sizes stay k..2k-1, published QIs are recomputed from the new
members, and the swap is the valid one that moves the feature centroids least. Where no single
swap works, the persona and a neighbour are cut anew into two groups of k..2k-1; a persona with no
partner in its stratum looks among personas with the same bias attributes. Over 2% of personas
failing means the data lack diversity broadly, and the privacy loop's ladder acts instead.

Diversity is judged on true values, not PRAM's draws: a persona whose members all had one outcome
is homogeneous whatever its released outcomes show (issue 11).
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
    value: np.ndarray  # true value code
    n_values: int
    min_count: int = 1  # a persona holding fewer observations is not judged on this attribute
    name: str = ""
    ordered: bool = False  # values are ordered ranges (a numeric attribute): judged by ordered t, not distinct l


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


def failing_personas(counts: list[np.ndarray], l_req: int, min_counts: list[int] | None = None) -> np.ndarray:
    """Personas holding enough observations of an attribute but fewer than l distinct values."""
    bad = np.zeros(len(counts[0]) if counts else 0, dtype=bool)
    for i, c in enumerate(counts):
        bad |= ~_ok(c, l_req, (min_counts or [1] * len(counts))[i])
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


def _ok(counts: np.ndarray, l_req: int, min_count: int = 1) -> np.ndarray:
    """Distinct-l holds along the last axis, or the persona holds fewer than ``min_count`` observations."""
    distinct = (counts > 0).sum(axis=-1)
    return (counts.sum(axis=-1) < max(min_count, 1)) | (distinct >= l_req)


def _best_swap(p_counts, q_counts, per_p, per_q, xp, xq, cp_, cq_, l_req, min_counts):
    """(i, j): the cheapest swap of member i of P with member j of Q that leaves both l-diverse,
    or None."""
    valid = np.ones((len(xp), len(xq)), dtype=bool)
    for c_p, c_q, mp_, mq_, mc in zip(p_counts, q_counts, per_p, per_q, min_counts):
        after_p = c_p[None, None, :] - mp_[:, None, :] + mq_[None, :, :]
        after_q = c_q[None, None, :] - mq_[None, :, :] + mp_[:, None, :]
        valid &= _ok(after_p, l_req, mc) & _ok(after_q, l_req, mc)
    if not valid.any():
        return None
    cost = (((xq[None, :, :] - cp_) ** 2).sum(-1) + ((xp[:, None, :] - cq_) ** 2).sum(-1)
            - ((xp[:, None, :] - cp_) ** 2).sum(-1) - ((xq[None, :, :] - cq_) ** 2).sum(-1))
    cost = np.where(valid, cost, np.inf)
    i, j = np.unravel_index(int(np.argmin(cost)), cost.shape)
    return int(i), int(j)


def _best_resplit(per_u: list[np.ndarray], xu: np.ndarray, toward: np.ndarray, k: int,
                  l_req: int, min_counts: list[int]) -> np.ndarray | None:
    """Members (positions in the union) of the first group of the cheapest cut of P u Q into two
    groups of k..2k-1 that are both l-diverse, trying a few member orders; None if there is none.

    Orders: along the P -> Q centroid direction, and with the members holding values gathered at
    either end (a persona of value holders next to one holding none passes l-diversity)."""
    s = len(xu)
    h_lo, h_hi = max(k, s - (2 * k - 1)), min(2 * k - 1, s - k)
    if h_lo > h_hi:
        return None
    proj = xu @ toward
    holds = sum(c.sum(axis=1) for c in per_u) > 0
    orders = [np.argsort(proj, kind="stable"), np.lexsort((proj, holds)), np.lexsort((proj, ~holds))]
    best, best_cost = None, np.inf
    h = np.arange(h_lo, h_hi + 1)
    for o in orders:
        valid = np.ones(len(h), dtype=bool)
        for c, mc in zip(per_u, min_counts):
            cum = np.cumsum(c[o], axis=0)
            left, total = cum[h - 1], cum[-1]
            valid &= _ok(left, l_req, mc) & _ok(total[None, :] - left, l_req, mc)
        if not valid.any():
            continue
        cx = np.cumsum(xu[o], axis=0)
        sq = np.cumsum((xu[o] ** 2).sum(axis=1))
        left_x, tot_x = cx[h - 1], cx[-1]
        cost = (sq[-1] - (left_x ** 2).sum(axis=1) / h - ((tot_x - left_x) ** 2).sum(axis=1) / (s - h))
        cost = np.where(valid, cost, np.inf)
        i = int(np.argmin(cost))
        if cost[i] < best_cost:
            best, best_cost = o[: h[i]], cost[i]
    return best


def repair_l_diversity(persona: np.ndarray, stratum: np.ndarray, features: np.ndarray,
                       observed: list[Observed], l: int, k: int | None = None,  # noqa: E741 (public keyword, callers pass l=)
                       wider: np.ndarray | None = None) -> RepairResult:
    """Swap members between nearby personas of one stratum until failing personas hold l values;
    where no single swap works and ``k`` is given, re-cut the persona and a neighbour together
    into two groups of k..2k-1. A persona alone (or without a partner) in its stratum then looks
    in its ``wider`` group (e.g. same bias attributes): the pair's other QIs go up the hierarchy."""
    persona = np.asarray(persona, dtype=np.int64).copy()
    n_personas = int(persona.max()) + 1 if len(persona) else 0
    if l <= 1 or not observed or n_personas < 2:
        return RepairResult(persona, 0, 0, False)
    counts = [persona_value_counts(persona, n_personas, o) for o in observed]
    min_counts = [o.min_count for o in observed]
    failing = failing_personas(counts, l, min_counts)
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
    p_wider = wider[first] if wider is not None else None
    orders = [np.argsort(o.owner, kind="stable") for o in observed]
    sorted_owners = [o.owner[ordr] for o, ordr in zip(observed, orders)]
    members_of = np.argsort(persona, kind="stable")
    starts = np.concatenate(([0], np.cumsum(np.bincount(persona, minlength=n_personas))))
    rich = np.ones(n_personas, dtype=bool)  # more than l values of every attribute
    for c in counts:
        rich &= (c > 0).sum(axis=1) > l
    # Members of a persona, looked up on first use and updated on every change.
    cache: dict[int, np.ndarray] = {}

    def get_members(p: int) -> np.ndarray:
        if p not in cache:
            cache[p] = members_of[starts[p]:starts[p + 1]].copy()
        return cache[p]

    def member_counts(members: np.ndarray) -> list[np.ndarray]:
        return [_member_counts(members, o, so, od) for o, so, od in zip(observed, sorted_owners, orders)]

    def assign(p: int, q: int, new_p: np.ndarray, new_q: np.ndarray) -> None:
        persona[new_p], persona[new_q] = p, q
        cache[p], cache[q] = new_p, new_q
        for c, cp, cq in zip(counts, member_counts(new_p), member_counts(new_q)):
            c[p], c[q] = cp.sum(axis=0), cq.sum(axis=0)
        for r in (p, q):
            rich[r] = all((c[r] > 0).sum() > l for c in counts)
        for r, mem in ((p, new_p), (q, new_q)):
            centroid[r] = features[mem].mean(axis=0)

    def try_repair(p: int, near: np.ndarray) -> bool:
        """1. one swap with a neighbour (least disruption); 2. re-cut the persona and a neighbour."""
        mp = get_members(p)
        per_p = member_counts(mp)
        for q in near:
            q = int(q)
            mq = get_members(q)
            swap = _best_swap([c[p] for c in counts], [c[q] for c in counts], per_p, member_counts(mq),
                              features[mp], features[mq], centroid[p], centroid[q], l, min_counts)
            if swap is not None:
                i, j = swap
                assign(p, q, np.where(mp == mp[i], mq[j], mp), np.where(mq == mq[j], mp[i], mq))
                return True
        if k is None:
            return False
        for q in near:
            q = int(q)
            mq = get_members(q)
            union = np.concatenate([mp, mq])
            per_u = [np.concatenate([a, b]) for a, b in zip(per_p, member_counts(mq))]
            cut = _best_resplit(per_u, features[union], centroid[q] - centroid[p], k, l, min_counts)
            if cut is not None:
                side = np.zeros(len(union), dtype=bool)
                side[cut] = True
                assign(p, q, np.sort(union[side]), np.sort(union[~side]))
                return True
        return False

    def neighbours(p: int) -> list[np.ndarray]:
        """Nearest personas of the same stratum, then of the same wider group (other strata)."""
        tiers, others = [], np.arange(n_personas) != p
        pools = [(p_stratum == p_stratum[p]) & others]
        if p_wider is not None:
            pools.append((p_wider == p_wider[p]) & (p_stratum != p_stratum[p]))
        # Near neighbours may hold as few values as p (e.g. people without events cluster
        # together): also try the nearest personas with more than l values of every attribute.
        for pool in pools:
            for cand in (np.flatnonzero(pool), np.flatnonzero(pool & rich)):
                d = ((centroid[cand] - centroid[p]) ** 2).sum(axis=1)
                tiers.append(cand[np.argsort(d, kind="stable")[:CANDIDATES]])
        return tiers

    repaired = 0
    for p in failing:
        p = int(p)
        if all(_ok(c[p], l, mc) for c, mc in zip(counts, min_counts)):
            continue  # fixed by an earlier change
        done = False
        for near in neighbours(p):
            done = try_repair(p, near)
            if done:
                break
        repaired += done
    return RepairResult(persona, len(failing), repaired, False)


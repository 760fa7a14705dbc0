"""Diversity repair: member swaps (or a re-cut) between nearby personas (DESIGN §4, §5).

A persona fails an attribute when, holding enough observations of it, its true values show fewer
than the attribute's l distinct values (categorical attributes), sit further than the attribute's t
limit from the attribute's overall mix (variational distance, or the ordered distance for a numeric
attribute released as ranges), or miss an entropy l or recursive (c, l) limit the policy sets for it.
Observations are, per event type, its true outcomes (counted where a persona holds at least k events
of the type: a rarer type is protected by PRAM alone), and each person-level sensitive attribute.
Raising k for the whole release to fix a few such personas costs every analyst utility, so each
failing persona first swaps one member with a nearby persona of the same stratum: sizes stay
k..2k-1, published QIs are recomputed from the new members, and the swap is the valid one (both
personas pass every attribute afterwards) that moves the feature centroids least. Where no single
swap works, the persona and a neighbour are cut anew into two groups of k..2k-1; a persona with no
partner in its stratum looks among personas with the same bias attributes. A person only ever trades
places with one of his own bias group (``wider``) in a persona holding the same bias groups as his
own: every persona keeps its bias groups, every person's persona publishes the bias labels it did,
and every bias group keeps its events under its own label exactly as before the repair. Over 2% of
personas failing means the data lack diversity broadly, and the privacy loop's ladder acts instead.

Diversity is judged on true values, not PRAM's draws: a persona whose members all had one outcome
is homogeneous whatever its released outcomes show (issue 11). The distances and diversity figures
here are the ones the risk report publishes (``personatwin.measure.risk``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

# Above this many failing personas the data lack diversity broadly: leave it to the ladder.
MAX_REPAIRS_SHARE = 0.02
MAX_REPAIRS_MIN = 200
CANDIDATES = 16  # nearest personas of the same stratum tried per failing persona
DIRECT_PAIRS = 1024  # member pairs of a swap judged one by one below this (else once per distinct count vectors)
FIGURE_TOLERANCE = 1e-9  # entropy l and recursive c: floating error, not a persona, decides at the limit


@dataclass(frozen=True)
class Observed:
    """One released attribute: the owner person and value code of each observation, and its limits."""

    owner: np.ndarray  # person index of each observation (event, or person itself)
    value: np.ndarray  # true value code
    n_values: int
    min_count: int = 1  # a persona holding fewer observations is not judged on this attribute
    name: str = ""
    ordered: bool = False  # values are ordered ranges (a numeric attribute): judged by ordered t, not distinct l
    l: int | None = None  # noqa: E741 distinct l (categorical only; None: the repair's l); recursive c at max(l, 2)
    t_limit: float | None = None  # largest t-closeness allowed (None: not gated)
    min_entropy_l: float | None = None  # smallest entropy l allowed (None: not gated)
    max_recursive_c: float | None = None  # largest recursive c allowed at max(l, 2) (None: not gated)


@dataclass(frozen=True)
class RepairResult:
    """Persona index per person after repair, with what was done."""

    persona_index: np.ndarray
    failing_before: int
    repaired: int
    skipped: bool  # too many failing personas: no swap attempted


# --- the figures, along the last axis of value counts (shared with personatwin.measure.risk) ---------

def ordered_emd(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Earth mover's distance between each distribution of ``q`` (last axis) and ``g`` over m ordered values at
    unit steps, normalized to [0, 1] (Li, Li & Venkatasubramanian 2007): sum of |cumulative differences| / (m - 1)."""
    m = q.shape[-1]
    if m < 2:
        return np.zeros(q.shape[:-1])
    return np.abs(np.cumsum(q - g, axis=-1)[..., :-1]).sum(axis=-1) / (m - 1)


def mixes(counts: np.ndarray) -> np.ndarray:
    """Each row's value distribution (rows without observations stay 0)."""
    total = counts.sum(axis=-1, keepdims=True)
    return counts / np.where(total > 0, total, 1)


def t_distance(counts: np.ndarray, g: np.ndarray, ordered: bool) -> np.ndarray:
    """t of each row: ordered EMD for ordered values, else the variational distance 0.5 sum |q - g|."""
    q = mixes(counts)
    return ordered_emd(q, g) if ordered else 0.5 * np.abs(q - g).sum(axis=-1)


def entropy_l(counts: np.ndarray) -> np.ndarray:
    """exp(entropy) of each row's distribution: its entropy l."""
    q = mixes(counts)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.exp(-np.where(q > 0, q * np.log(np.where(q > 0, q, 1.0)), 0.0).sum(axis=-1))


def recursive_ratio(counts: np.ndarray, l: int) -> np.ndarray:  # noqa: E741 (the model's name for it)
    """r1 / (r_l + ... + r_m) of each row (values by count, descending): the smallest c for which it is recursive
    (c, l)-diverse (Machanavajjhala et al. 2007); inf when it holds fewer than l values."""
    r = -np.sort(-counts, axis=-1)
    tail = r[..., l - 1:].sum(axis=-1) if r.shape[-1] >= l else np.zeros(r.shape[:-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(tail > 0, r[..., 0] / np.where(tail > 0, tail, 1), np.inf)


def overall_mix(obs: Observed) -> np.ndarray:
    """The attribute's overall distribution: every observation's value (the t reference)."""
    return np.bincount(obs.value, minlength=obs.n_values) / max(len(obs.value), 1)


@dataclass(frozen=True)
class _Gate:
    """What one attribute must satisfy in every persona holding at least ``min_count`` observations of it."""

    l: int  # noqa: E741 distinct l (1: not gated)
    ordered: bool
    min_count: int
    g: np.ndarray  # overall mix (t reference)
    t_limit: float | None
    min_entropy_l: float | None
    max_c: float | None

    @property
    def gated(self) -> bool:
        return ((not self.ordered and self.l > 1) or self.t_limit is not None or self.min_entropy_l is not None
                or self.max_c is not None)


def _gate(obs: Observed, l_default: int) -> _Gate:
    l_obs = obs.l if obs.l is not None else l_default
    return _Gate(int(l_obs), obs.ordered, obs.min_count, overall_mix(obs), obs.t_limit, obs.min_entropy_l,
                 obs.max_recursive_c)


def _passes(counts: np.ndarray, gate: _Gate) -> np.ndarray:
    """Every limit of the attribute holds along the last axis, or the row holds fewer than ``min_count``
    observations (not judged)."""
    good = np.ones(counts.shape[:-1], dtype=bool)
    if not gate.ordered and gate.l > 1:
        good &= (counts > 0).sum(axis=-1) >= gate.l
    if gate.t_limit is not None:
        good &= t_distance(counts, gate.g, gate.ordered) <= gate.t_limit
    if gate.min_entropy_l is not None:
        good &= entropy_l(counts) >= gate.min_entropy_l - FIGURE_TOLERANCE
    if gate.max_c is not None:
        good &= recursive_ratio(counts, max(gate.l, 2)) <= gate.max_c + FIGURE_TOLERANCE
    return (counts.sum(axis=-1) < max(gate.min_count, 1)) | good


def _slack(counts: np.ndarray, gate: _Gate) -> np.ndarray:
    """Rows passing with room to give: more than l values (where distinct l is gated) and t within half its
    limit; a near neighbour may hold as few values, or as far a mix, as the failing persona."""
    out = np.ones(len(counts), dtype=bool)
    if not gate.ordered and gate.l > 1:
        out &= (counts > 0).sum(axis=1) > gate.l
    if gate.t_limit is not None:
        out &= (counts.sum(axis=1) < max(gate.min_count, 1)) | (t_distance(counts, gate.g, gate.ordered)
                                                                  <= gate.t_limit / 2)
    return out


def bias_signature(persona: np.ndarray, n_personas: int, group: np.ndarray) -> np.ndarray:
    """Per persona, an id of the set of groups its members belong to: the group code where all share one (most
    personas), a negative id per distinct set of several groups otherwise."""
    group = np.asarray(group, dtype=np.int64)
    span = int(group.max(initial=0)) + 1
    pairs = np.unique(persona * span + group)  # each (persona, group) present, by persona
    owner, code = pairs // span, pairs % span
    n_groups = np.bincount(owner, minlength=n_personas)
    out = np.full(n_personas, -1, dtype=np.int64)
    single = n_groups == 1
    out[owner[single[owner]]] = code[single[owner]]
    mixed = np.flatnonzero(n_groups > 1)  # few: personas of the rare strata the merge generalized
    if len(mixed):
        starts = np.concatenate(([0], np.cumsum(n_groups)))
        sets = [tuple(code[starts[p]:starts[p + 1]]) for p in mixed]
        out[mixed] = -1 - pd.factorize(pd.Series(sets, dtype=object))[0]
    return out


def persona_value_counts(persona: np.ndarray, n_personas: int, obs: Observed) -> np.ndarray:
    """Observations of each value per persona (personas x values)."""
    return np.bincount(persona[obs.owner] * obs.n_values + obs.value,
                       minlength=n_personas * obs.n_values).reshape(n_personas, obs.n_values)


def _ok(counts: np.ndarray, l_req: int, min_count: int = 1) -> np.ndarray:
    """Distinct-l holds along the last axis, or the persona holds fewer than ``min_count`` observations."""
    distinct = (counts > 0).sum(axis=-1)
    return (counts.sum(axis=-1) < max(min_count, 1)) | (distinct >= l_req)


def failing_personas(counts: list[np.ndarray], l_req: int, min_counts: list[int] | None = None) -> np.ndarray:
    """Personas holding enough observations of an attribute but fewer than l distinct values."""
    bad = np.zeros(len(counts[0]) if counts else 0, dtype=bool)
    for i, c in enumerate(counts):
        bad |= ~_ok(c, l_req, (min_counts or [1] * len(counts))[i])
    return np.flatnonzero(bad)


def _failing(counts: list[np.ndarray], gates: list[_Gate]) -> np.ndarray:
    bad = np.zeros(len(counts[0]) if counts else 0, dtype=bool)
    for c, gate in zip(counts, gates):
        bad |= ~_passes(c, gate)
    return np.flatnonzero(bad)


def failing_by_limits(counts: list[np.ndarray], observed: list[Observed], l: int = 1) -> np.ndarray:  # noqa: E741
    """Personas failing any limit of any attribute (distinct l, an attribute without its own taking ``l``; t,
    entropy l, recursive c where set)."""
    return _failing(counts, [_gate(o, l) for o in observed])


def person_value_counts(obs: Observed, n_people: int) -> np.ndarray:
    """Observations of each value per person (people x values), in the smallest unsigned type holding them: a
    persona's member counts are then one gather (``counts[members]``), not a search of every observation."""
    counts = np.bincount(np.asarray(obs.owner, dtype=np.int64) * obs.n_values + obs.value,
                         minlength=n_people * obs.n_values)
    top = int(counts.max(initial=0))
    small = np.uint8 if top < 2**8 else np.uint16 if top < 2**16 else np.uint32 if top < 2**32 else np.int64
    return counts.astype(small).reshape(n_people, obs.n_values)


def _unique_rows(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(counts, axis=0, return_inverse=True)`` for small non-negative count rows, by one integer key
    per row (mixed radix keeps the rows' lexicographic order): a 1-D unique, several times faster per call."""
    n, c = counts.shape
    base = int(counts.max()) + 1 if counts.size else 1
    if n == 0 or c == 0 or c * math.log2(base + 1) >= 62:
        uniq, inverse = np.unique(counts, axis=0, return_inverse=True)
        return uniq, inverse.reshape(-1)
    key = np.zeros(n, dtype=np.int64)
    for j in range(c):
        key = key * base + counts[:, j]
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return counts[first], inverse.reshape(-1)


def _best_swap(p_counts, q_counts, per_p, per_q, xp, xq, cp_, cq_, gates, same_group=None):
    """(i, j): the cheapest swap of member i of P with member j of Q that leaves both passing every limit
    (``same_group``: which pairs may trade places), or None. Attributes P fails are checked first, each on
    the pairs still valid, so most pairs are dropped before the others are computed."""
    ii, jj = np.nonzero(np.ones((len(xp), len(xq)), dtype=bool) if same_group is None else same_group)
    first = sorted(range(len(gates)), key=lambda a: bool(_passes(p_counts[a], gates[a])))
    direct = len(xp) * len(xq) <= DIRECT_PAIRS
    for a in first:
        if not len(ii):
            return None
        if direct:  # few pairs: each judged (one call either way; a unique per side costs more than it saves)
            up, inv_p, uq, inv_q = per_p[a], np.arange(len(xp)), per_q[a], np.arange(len(xq))
        else:  # judged once per distinct pair of member count vectors (most members hold none or one value)
            up, inv_p = _unique_rows(per_p[a])
            uq, inv_q = _unique_rows(per_q[a])
        moved = uq[None, :, :] - up[:, None, :]  # P's change per pair, Q's is its negative
        grid = _passes(p_counts[a] + moved, gates[a]) & _passes(q_counts[a] - moved, gates[a])
        ok = grid[inv_p.reshape(-1)[ii], inv_q.reshape(-1)[jj]]
        ii, jj = ii[ok], jj[ok]
    if not len(ii):
        return None
    xi, xj = xp[ii], xq[jj]
    cost = (((xj - cp_) ** 2).sum(-1) + ((xi - cq_) ** 2).sum(-1) - ((xi - cp_) ** 2).sum(-1)
            - ((xj - cq_) ** 2).sum(-1))
    best = int(np.argmin(cost))  # pairs in row-major order: ties go to the first, as before
    return int(ii[best]), int(jj[best])


def _spread_order(per_u: list[np.ndarray], gates: list[_Gate], proj: np.ndarray) -> np.ndarray:
    """Members ranked by how far their values pull from the overall mixes, dealt alternately to the two ends:
    any cut then splits the far members between both groups (what t needs)."""
    score = np.zeros(len(proj))
    for c, gate in zip(per_u, gates):
        if gate.t_limit is None:
            continue
        lean = mixes(c.sum(axis=0)) - gate.g  # where the union's mix leans
        if gate.ordered:  # mass at value v moves every cumulative difference from v on: d EMD / d mass
            lean = np.append(np.cumsum(np.sign(np.cumsum(lean)[:-1])[::-1])[::-1], 0.0)
        score += c @ lean
    rank = np.lexsort((proj, -score))
    return np.concatenate([rank[0::2], rank[1::2][::-1]])


def _best_resplit(per_u: list[np.ndarray], xu: np.ndarray, toward: np.ndarray, k: int,
                  gates: list[_Gate]) -> np.ndarray | None:
    """Members (positions in the union) of the first group of the cheapest cut of P u Q into two
    groups of k..2k-1 that both pass every limit, trying a few member orders; None if there is none.

    Orders: along the P -> Q centroid direction; with the members holding values gathered at either
    end (a persona of value holders next to one holding none passes l-diversity); with the members
    pulling the mix furthest dealt to both groups (t)."""
    s = len(xu)
    h_lo, h_hi = max(k, s - (2 * k - 1)), min(2 * k - 1, s - k)
    if h_lo > h_hi:
        return None
    proj = xu @ toward
    holds = sum(c.sum(axis=1) for c in per_u) > 0
    orders = [np.argsort(proj, kind="stable"), np.lexsort((proj, holds)), np.lexsort((proj, ~holds))]
    if any(g.t_limit is not None for g in gates):
        orders.append(_spread_order(per_u, gates, proj))
    best, best_cost = None, np.inf
    h = np.arange(h_lo, h_hi + 1)
    for o in orders:
        valid = np.ones(len(h), dtype=bool)
        for c, gate in zip(per_u, gates):
            cum = np.cumsum(c[o], axis=0)
            left, total = cum[h - 1], cum[-1]
            valid &= _passes(left, gate) & _passes(total[None, :] - left, gate)
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


def _index(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order, sorted keys): the positions holding each key value are one slice of ``order``."""
    order = np.argsort(keys, kind="stable")
    return order, keys[order]


def _slice(index: tuple[np.ndarray, np.ndarray], value) -> np.ndarray:
    """Positions (ascending) whose key equals ``value``."""
    order, sorted_keys = index
    return order[np.searchsorted(sorted_keys, value, side="left"):np.searchsorted(sorted_keys, value, side="right")]


def repair_l_diversity(persona: np.ndarray, stratum: np.ndarray, features: np.ndarray,
                       observed: list[Observed], l: int, k: int | None = None,  # noqa: E741 (callers pass l=)
                       wider: np.ndarray | None = None) -> RepairResult:
    """Swap members between nearby personas of one stratum until failing personas pass every limit of every
    attribute (distinct l, an attribute without its own taking ``l``; t, entropy l, recursive c where set);
    where no single swap works and ``k`` is given, re-cut the persona and a neighbour together into two groups
    of k..2k-1. A persona alone (or without a partner) in its stratum then looks among the personas of the same
    ``wider`` groups (each person's bias group, e.g. sex x race) in other strata: the pair's other QIs go up the
    hierarchy. Partners always hold the same set of ``wider`` groups and people trade places only within their
    group, so no persona's bias groups, and no person's published bias labels, change."""
    persona = np.asarray(persona, dtype=np.int64).copy()
    n_personas = int(persona.max()) + 1 if len(persona) else 0
    gates = [_gate(o, l) for o in observed]
    keep = [i for i, g in enumerate(gates) if g.gated]
    observed, gates = [observed[i] for i in keep], [gates[i] for i in keep]
    if not observed or n_personas < 2:
        return RepairResult(persona, 0, 0, False)
    counts = [persona_value_counts(persona, n_personas, o) for o in observed]
    failing = _failing(counts, gates)
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
    signature = bias_signature(persona, n_personas, wider) if wider is not None else None
    per_person = [person_value_counts(o, len(persona)) for o in observed]
    members_of = np.argsort(persona, kind="stable")
    starts = np.concatenate(([0], np.cumsum(np.bincount(persona, minlength=n_personas))))
    slack = np.logical_and.reduce([_slack(c, g) for c, g in zip(counts, gates)])
    # Members of a persona, looked up on first use and updated on every change.
    cache: dict[int, np.ndarray] = {}

    def get_members(p: int) -> np.ndarray:
        if p not in cache:
            cache[p] = members_of[starts[p]:starts[p + 1]].copy()
        return cache[p]

    def member_counts(members: np.ndarray) -> list[np.ndarray]:
        return [c[members].astype(np.int64) for c in per_person]

    def passes(p: int) -> bool:
        return all(bool(_passes(c[p], g)) for c, g in zip(counts, gates))

    def assign(p: int, q: int, new_p: np.ndarray, new_q: np.ndarray) -> None:
        persona[new_p], persona[new_q] = p, q
        cache[p], cache[q] = new_p, new_q
        for c, cp, cq in zip(counts, member_counts(new_p), member_counts(new_q)):
            c[p], c[q] = cp.sum(axis=0), cq.sum(axis=0)
        for r, mem in ((p, new_p), (q, new_q)):
            slack[r] = all(bool(_slack(c[r:r + 1], g)[0]) for c, g in zip(counts, gates))
            centroid[r] = features[mem].mean(axis=0)

    def try_repair(p: int, near: np.ndarray) -> bool:
        """1. one swap with a neighbour (least disruption); 2. re-cut the persona and a neighbour."""
        mp = get_members(p)
        per_p = member_counts(mp)
        for q in near:
            q = int(q)
            mq = get_members(q)
            same = None if wider is None else wider[mp][:, None] == wider[mq][None, :]
            swap = _best_swap([c[p] for c in counts], [c[q] for c in counts], per_p, member_counts(mq),
                              features[mp], features[mq], centroid[p], centroid[q], gates, same)
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
            if wider is not None and (wider[union] != wider[union[0]]).any():
                continue  # a re-cut of mixed bias groups would move people across them
            per_u = [np.concatenate([a, b]) for a, b in zip(per_p, member_counts(mq))]
            cut = _best_resplit(per_u, features[union], centroid[q] - centroid[p], k, gates)
            if cut is not None:
                side = np.zeros(len(union), dtype=bool)
                side[cut] = True
                assign(p, q, np.sort(union[side]), np.sort(union[~side]))
                return True
        return False

    # Personas by (stratum, bias signature) and by signature alone, indexed once: a failing persona's pools
    # are slices, not masks over every persona (799 repairs at 1M people took 1.5 s in masks alone).
    same_key = p_stratum if signature is None else \
        np.unique(np.column_stack([p_stratum, signature]), axis=0, return_inverse=True)[1].reshape(-1)
    by_key = _index(same_key)
    by_signature = _index(signature) if signature is not None else None

    def neighbours(p: int) -> Iterator[np.ndarray]:
        """Nearest personas of the same stratum, then of the same wider group (other strata), tier by tier:
        the wider pool (e.g. every persona of one sex x race group) is only searched when the stratum fails."""
        def pools() -> Iterator[np.ndarray]:
            yield _slice(by_key, same_key[p])
            if by_signature is not None and signature is not None:
                wide = _slice(by_signature, signature[p])
                yield wide[p_stratum[wide] != p_stratum[p]]

        # Near neighbours may hold as few values as p, or as far a mix (e.g. people without events
        # cluster together): also try the nearest personas passing every limit with room to give.
        for pool in pools():
            pool = pool[pool != p]
            for cand in (pool, pool[slack[pool]]):
                d = ((centroid[cand] - centroid[p]) ** 2).sum(axis=1)
                yield cand[np.lexsort((cand, d))[:CANDIDATES]]

    repaired = 0
    for p in failing:
        p = int(p)
        if passes(p):
            continue  # fixed by an earlier change
        done = False
        for near in neighbours(p):
            done = try_repair(p, near)
            if done:
                break
        repaired += done
    return RepairResult(persona, len(failing), repaired, False)

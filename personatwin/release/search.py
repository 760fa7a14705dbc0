"""The configuration space of the privacy loop, as a lattice ARX-style searches can walk (issue 13, item 3).

A configuration is a node: one level per dimension (k, age bands, location level, date precision, the
generalization of rare bias categories), 0 being the requested policy. Coarser in every dimension is
higher in the lattice. Two monotonicity assumptions prune the search as ARX's Flash does:

* a node at or below (finer than or equal to) a node missing a privacy target misses it too: never tried;
* a node at or above a node that releases (every target and utility gate met) loses at least as much
  utility: never tried either.

These are assumptions about the risk measures, not guarantees (the linkage risk is estimated by
sampling): pruning only ever skips a candidate, it never releases one; every released configuration is
a pass that was evaluated and met every target.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from personatwin.core.policy import DATE_PRECISIONS, PrivacyPolicy
from personatwin.release.ladder import COARSER_DATES, COARSER_QI, RAISE_K

Node = tuple[int, ...]


@dataclass(frozen=True)
class Dimension:
    """One axis of the lattice: its name, how many steps it has above the requested policy, and what it lowers."""

    name: str
    steps: int
    acts_on: frozenset[str]


def k_ladder(start: int, max_k: int, n_people: int) -> tuple[int, ...]:
    """The values of k the loop may use: doubling from the requested k up to max_k, never past the number of
    people (as ``ladder.escalate`` and ``ladder.within_people`` do)."""
    ks, top = [start], max(start, min(max_k, n_people))
    while ks[-1] < top:
        ks.append(min(top, ks[-1] * 2))
    return tuple(ks)


@dataclass(frozen=True)
class ConfigSpace:
    """The lattice above a requested policy: every node maps to one policy and back."""

    start: PrivacyPolicy
    dimensions: tuple[Dimension, ...]
    ks: tuple[int, ...]
    rare: tuple[str, ...]

    @classmethod
    def above(cls, start: PrivacyPolicy, max_levels: Mapping[str, int], location_levels: int,
              rare: tuple[str, ...], n_people: int) -> ConfigSpace:
        """The configurations the ladder can reach from ``start``, with the same bounds (age and rare categories
        never fully suppressed; location up to its last level; dates up to a year; k up to max_k and n)."""
        ks = k_ladder(start.k, start.max_k, n_people)
        top_age = max(start.qi_level("age"), max_levels.get("age", 0) - 2)
        dims = [Dimension("k", len(ks) - 1, RAISE_K),
                Dimension("age", top_age - start.qi_level("age"), COARSER_QI),
                Dimension("location", max(0, location_levels - 1 - start.location_level), COARSER_QI),
                Dimension("dates", len(DATE_PRECISIONS) - 1 - DATE_PRECISIONS.index(start.date_precision),
                          COARSER_DATES)]
        rare = tuple(c for c in rare if c != "age")
        for col in rare:
            dims.append(Dimension(f"rare {col}", max(0, max_levels.get(col, 1) - 2 - start.qi_level(col)), COARSER_QI))
        return cls(start, tuple(dims), ks, rare)

    def policy(self, node: Node) -> PrivacyPolicy:
        """The policy of a node."""
        s = self.start
        k, age, loc, dates, *rare = node
        levels = dict(s.qi_levels)
        if age or "age" in levels:
            levels["age"] = s.qi_level("age") + age
        levels.update({c: s.qi_level(c) + r for c, r in zip(self.rare, rare) if r or c in s.qi_levels})
        return s.with_changes(k=self.ks[k], qi_levels=levels, location_level=s.location_level + loc,
                              date_precision=DATE_PRECISIONS[DATE_PRECISIONS.index(s.date_precision) + dates])

    def node(self, policy: PrivacyPolicy) -> Node | None:
        """The node of a policy, or None when it lies outside the lattice (e.g. a k the ladder never uses)."""
        s = self.start
        if policy.k not in self.ks:
            return None
        node = (self.ks.index(policy.k), policy.qi_level("age") - s.qi_level("age"),
                policy.location_level - s.location_level,
                DATE_PRECISIONS.index(policy.date_precision) - DATE_PRECISIONS.index(s.date_precision),
                *(policy.qi_level(c) - s.qi_level(c) for c in self.rare))
        return node if all(0 <= v <= d.steps for v, d in zip(node, self.dimensions)) else None

    def finer(self, node: Node) -> list[tuple[Dimension, Node]]:
        """Nodes one step finer in one dimension (utility can only improve)."""
        return [(d, node[:i] + (node[i] - 1,) + node[i + 1:]) for i, d in enumerate(self.dimensions) if node[i] > 0]

    def coarser(self, node: Node) -> list[tuple[Dimension, Node]]:
        """Nodes one step coarser in one dimension."""
        return [(d, node[:i] + (node[i] + 1,) + node[i + 1:]) for i, d in enumerate(self.dimensions)
                if node[i] < d.steps]


def at_or_below(a: Node, b: Node) -> bool:
    """a is finer than or equal to b in every dimension."""
    return all(x <= y for x, y in zip(a, b))


def coarseness(node: Node) -> int:
    """Steps above the requested policy, summed: the tie-breaker between equal information losses."""
    return sum(node)

"""The escalation ladder of the privacy loop: candidate next policies, cheapest utility loss first.

Each step names the target kinds it can lower (``personatwin.measure.criteria``); the loop takes the
first step that acts on a target still missed and never one that cannot.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from personatwin.core.policy import DATE_PRECISIONS, PrivacyPolicy
from personatwin.measure.criteria import (
    K_ANONYMITY,
    L_DIVERSITY,
    LINKAGE_RISK,
    POPULATION_RISK,
    SINGLE_OUT,
    T_CLOSENESS,
)

# Which targets each kind of step can lower: coarser QIs shrink the number of classes and the
# attacker's matches; a larger k does everything; coarser dates only blur event patterns; a
# stronger PRAM only adds outcome diversity (it does not change true values: l and t are judged on
# those, so only a larger k, which pools more events, lowers t).
COARSER_QI = frozenset({POPULATION_RISK, LINKAGE_RISK, SINGLE_OUT})
RAISE_K = frozenset({POPULATION_RISK, LINKAGE_RISK, L_DIVERSITY, K_ANONYMITY, SINGLE_OUT, T_CLOSENESS})
COARSER_DATES = frozenset({LINKAGE_RISK, SINGLE_OUT})
STRONGER_PRAM: frozenset[str] = frozenset()  # l and t are judged on true values: PRAM cannot lower them


@dataclass(frozen=True)
class LadderStep:
    """One rung of the escalation ladder: a name, the policy it produces and the target kinds it lowers."""

    name: str
    policy: PrivacyPolicy
    acts_on: frozenset[str] = frozenset()


def _next_precision(p: str) -> str | None:
    i = DATE_PRECISIONS.index(p)
    return DATE_PRECISIONS[i + 1] if i + 1 < len(DATE_PRECISIONS) else None


def escalate(policy: PrivacyPolicy, max_levels: Mapping[str, int], location_levels: int,
             generalizable: tuple[str, ...] = ()) -> list[LadderStep]:
    """Candidate next policies, cheapest utility loss first (DESIGN §5 auto-adjust).

    Order: coarser age bands, coarser location, larger k, coarser dates, stronger PRAM, then
    generalization of rare categories (``generalizable`` QIs such as race) as the last resort.
    """
    steps: list[LadderStep] = []
    age_max = max_levels.get("age", 0) - 2  # never suppress age entirely through the ladder
    if policy.qi_level("age") < age_max:
        steps.append(LadderStep("coarser age bands",
                                policy.with_changes(qi_levels={**policy.qi_levels, "age": policy.qi_level("age") + 1}),
                                COARSER_QI))
    if policy.location_level < location_levels - 1:
        steps.append(LadderStep("generalize location", policy.with_changes(location_level=policy.location_level + 1),
                                COARSER_QI))
    if policy.k < policy.max_k:
        steps.append(LadderStep("raise k", policy.with_changes(k=min(policy.max_k, policy.k * 2)), RAISE_K))
    nxt = _next_precision(policy.date_precision)
    if nxt is not None:
        steps.append(LadderStep("coarsen dates", policy.with_changes(date_precision=nxt), COARSER_DATES))
    if policy.pram_p - 0.1 >= policy.min_pram_p - 1e-9:
        steps.append(LadderStep("stronger PRAM", policy.with_changes(pram_p=round(policy.pram_p - 0.1, 4)),
                                STRONGER_PRAM))
    for col in generalizable:
        if policy.qi_level(col) < max_levels.get(col, 1) - 2:
            steps.append(LadderStep(f"generalize rare {col}",
                                    policy.with_changes(qi_levels={**policy.qi_levels, col: policy.qi_level(col) + 1}),
                                    COARSER_QI))
    return steps


def choose_step(steps: Iterable[LadderStep], missed_kinds: Iterable[str]) -> LadderStep | None:
    """The cheapest ladder step that acts on a missed target (None: nothing can act on them)."""
    kinds = frozenset(missed_kinds)
    return next((step for step in steps if step.acts_on & kinds), None)


def within_people(steps: list[LadderStep], policy: PrivacyPolicy, n_people: int) -> list[LadderStep]:
    """Never raise k past the number of people: at most one persona of everyone (k = n). A larger k
    would end the loop with TooFewPeopleError instead of PrivacyTargetError and its best configuration."""
    out = []
    for step in steps:
        if step.policy.k > n_people:
            if policy.k >= n_people:
                continue
            step = LadderStep(step.name, step.policy.with_changes(k=n_people), step.acts_on)
        out.append(step)
    return out


MAX_VALUE_ROUNDING = 10_000.0


def single_out_steps(policy: PrivacyPolicy, max_levels: Mapping[str, int], location_levels: int) -> list[LadderStep]:
    """Coarsenings that lower the persona single-out rate, cheapest first: rounder amounts, a coarser
    location (up to suppressing it), coarser age bands. A larger k does not lower it: what singles a
    persona out is the detail of the attacker's known events (amount, location), not the group size
    (one generated month at high: single-out 0.150 at k = 40; amounts to 1,000: 0.077; location
    suppressed: 0.076; event details left out: 0.045)."""
    steps: list[LadderStep] = []
    if policy.value_rounding * 10 <= MAX_VALUE_ROUNDING:
        steps.append(LadderStep("round amounts", policy.with_changes(value_rounding=policy.value_rounding * 10),
                                frozenset({SINGLE_OUT, LINKAGE_RISK})))
    if policy.location_level < location_levels - 1:
        steps.append(LadderStep("generalize location", policy.with_changes(location_level=policy.location_level + 1),
                                COARSER_QI))
    if policy.qi_level("age") < max_levels.get("age", 0) - 2:
        steps.append(LadderStep("coarser age bands",
                                policy.with_changes(qi_levels={**policy.qi_levels, "age": policy.qi_level("age") + 1}),
                                COARSER_QI))
    return steps

"""Refusals that help (issue 13, item 4): the binding target, its attribute, the cause in numbers, and the
smallest changes that would pass, each tried.

When no configuration meets every target, the lowest-risk pass the loop made is examined: which target it
misses, for which sensitive attribute, what share of personas fail it, and why in numbers ("94% of people
share <1"). Then a few changes a data steward could make are tried, each with the loop itself: a lower l
for that attribute, judging a count as a numeric attribute (ordered ranges, t-closeness), coarser ranges,
a larger t limit for that attribute, a larger maximum k. Each is reported as passing or not. The loop
never applies them on its own: lowering a target is a person's decision.

The cause figures are aggregates over all people or events of the data set (shares of a value); they go to
the error message and the run's metadata, which stay with the data steward, never into a release folder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from personatwin.core.errors import PersonaTwinError
from personatwin.core.policy import PrivacyPolicy
from personatwin.core.sensitive import NUMERIC, SensitiveAttribute
from personatwin.measure import criteria
from personatwin.measure.criteria import K_ANONYMITY, L_DIVERSITY, LINKAGE_RISK, POPULATION_RISK, T_CLOSENESS
from personatwin.measure.risk import ordered_emd
from personatwin.protect.diversity import Observed, persona_value_counts
from personatwin.protect.prepared import PassContext
from personatwin.protect.stages import sensitive_coded, sensitive_observations
from personatwin.release.one_pass import Protection

MAX_TRIED = 3  # suggestions tried per refusal (each runs the loop once)


@dataclass(frozen=True)
class Suggestion:
    """One change that could make the release pass, and what happened when the loop tried it."""

    change: str
    passes: bool
    outcome: str


@dataclass(frozen=True)
class Refusal:
    """Why nothing was released, in numbers, with the changes tried."""

    target: str  # the binding criterion kind (personatwin.measure.criteria)
    failure: str  # its failure text at the lowest-risk configuration tried
    attribute: str | None = None
    failing_share: float | None = None  # share of measured personas failing the target on that attribute
    cause: str = ""
    suggestions: tuple[Suggestion, ...] = ()

    def text(self) -> str:
        """The explanation as sentences for the error message."""
        where = f" on {self.attribute}" if self.attribute else f" ({self.failure})"
        parts = [f"Binding target: {self.target}{where}"]
        if self.failing_share is not None:
            parts.append(f"{self.failing_share:.0%} of personas fail it")
        if self.cause:
            parts.append(self.cause)
        text = "; ".join(parts) + "."
        if self.suggestions:
            text += " Changes tried: " + "; ".join(f"{s.change}: {'PASSES' if s.passes else 'does not pass'} "
                                                   f"({s.outcome})" for s in self.suggestions) + "."
        return text

    def table(self) -> pd.DataFrame:
        """The suggestions as a table (change, passes, outcome), e.g. for run metadata."""
        return pd.DataFrame([{"change": s.change, "passes": s.passes, "outcome": s.outcome}
                             for s in self.suggestions], columns=["change", "passes", "outcome"])


def binding_attribute(kind: str, figures: dict, policy: PrivacyPolicy, names: list[str]) -> str | None:
    """The attribute furthest from its target: the lowest distinct l below its l, or the largest t over its
    limit (per-attribute figures ``l_diversity_distinct.<a>``, ``t_closeness.<a>``)."""
    gaps: list[tuple[float, str]] = []
    for a in names:
        if kind == L_DIVERSITY and not figures.get(f"sensitive_ordered.{a}"):
            v = criteria.number(figures.get(f"l_diversity_distinct.{a}"))
            if v is not None and v < attribute_l(policy, a):
                gaps.append((v - attribute_l(policy, a), a))
        elif kind == T_CLOSENESS:
            v, limit = criteria.number(figures.get(f"t_closeness.{a}")), attribute_t(policy, a)
            if v is not None and limit is not None and v > limit + 1e-12:
                gaps.append((limit - v, a))
    return min(gaps)[1] if gaps else None


def attribute_l(policy: PrivacyPolicy, attribute: str) -> int:
    """The distinct l an attribute is held to (its own where the policy sets one)."""
    return int(policy.l_diversity_by_attribute.get(attribute, policy.l_diversity))


def attribute_t(policy: PrivacyPolicy, attribute: str) -> float | None:
    """The t limit an attribute is held to (its own where the policy sets one)."""
    return policy.max_t_closeness_by_attribute.get(attribute, policy.max_t_closeness)


def failing_share(result: Protection, obs: Observed, kind: str, policy: PrivacyPolicy) -> float | None:
    """Share of the personas measured on an attribute (holding enough observations) that fail its l or t."""
    counts = persona_value_counts(result.person_persona, int(result.person_persona.max()) + 1, obs)
    holding = counts.sum(axis=1)
    measured = counts[holding >= max(obs.min_count, 1)].astype(np.float64)
    if not len(measured):
        return None
    if kind == L_DIVERSITY:
        return float(((measured > 0).sum(axis=1) < attribute_l(policy, obs.name)).mean())
    limit = attribute_t(policy, obs.name)
    if limit is None:
        return None
    g = counts[holding > 0].sum(axis=0) / max(counts[holding > 0].sum(), 1)
    q = measured / measured.sum(axis=1, keepdims=True)
    t = ordered_emd(q, g) if obs.ordered else 0.5 * np.abs(q - g).sum(axis=1)
    return float((t > limit + 1e-12).mean())


def cause_in_numbers(ctx: PassContext, obs: Observed) -> str:
    """The most common value's share of an attribute: 'N% of people share <value>' (aggregate over the data)."""
    counts = np.bincount(obs.value, minlength=obs.n_values)
    if not counts.sum():
        return ""
    top = int(np.argmax(counts))
    share = counts[top] / counts.sum()
    data = ctx.data
    if obs.name in data.domain.sensitive:
        _, labels = sensitive_coded(data.people[obs.name], data.domain.sensitive_attribute(obs.name))
        return f"{share:.0%} of people share the value {labels[top]!r} of {obs.name}"
    return f"{share:.0%} of {obs.name} events have the outcome {data.outcome_names[top]!r}"


def _numeric_values(ctx: PassContext, attribute: str) -> bool:
    """A person-level categorical column whose values are all numbers (a count declared categorical)."""
    people = ctx.data.people
    if attribute not in people.columns or ctx.data.domain.sensitive_attribute(attribute).ordered:
        return False
    return bool(pd.to_numeric(people[attribute], errors="coerce").notna().all())


def _with_type(ctx: PassContext, attribute: str, spec: SensitiveAttribute) -> PassContext:
    dom = ctx.data.domain
    dom = replace(dom, sensitive_types={**dom.sensitive_types, attribute: spec})
    return replace(ctx, data=replace(ctx.data, domain=dom))


def candidate_changes(ctx: PassContext, kind: str, attribute: str | None, best: Protection,
                      ) -> list[tuple[str, PassContext]]:
    """Changes a steward could make, smallest first, as contexts the loop can run."""
    policy, data = ctx.policy, ctx.data
    figures = best.figures()
    out: list[tuple[str, PassContext]] = []
    if kind == L_DIVERSITY and attribute is not None:
        if _numeric_values(ctx, attribute):
            out.append((f"declare {attribute} numeric ({{name: {attribute}, type: numeric}}: ordered ranges judged "
                        "by ordered t-closeness instead of distinct l)",
                        _with_type(ctx, attribute, SensitiveAttribute(attribute, NUMERIC))))
        reached = criteria.number(figures.get(f"l_diversity_distinct.{attribute}"))
        lower = max(1, int(reached) if reached is not None else attribute_l(policy, attribute) - 1)
        if lower < attribute_l(policy, attribute) and hasattr(policy, "l_diversity_by_attribute"):
            by = {**dict(policy.l_diversity_by_attribute), attribute: lower}
            out.append((f"a lower l for {attribute}: {lower} (l_diversity_by_attribute; t-closeness still applies)",
                        ctx.with_policy(policy.with_changes(l_diversity_by_attribute=by))))
    elif kind == T_CLOSENESS and attribute is not None:
        spec = data.domain.sensitive_attribute(attribute)
        if spec.ordered and spec.cuts is None and spec.n_ranges > 2:
            out.append((f"coarser ranges for {attribute}: 2 instead of {spec.n_ranges}",
                        _with_type(ctx, attribute, replace(spec, n_ranges=2))))
        elif _numeric_values(ctx, attribute):
            out.append((f"declare {attribute} numeric (ordered ranges judged by the ordered distance)",
                        _with_type(ctx, attribute, SensitiveAttribute(attribute, NUMERIC))))
        reached = criteria.number(figures.get(f"t_closeness.{attribute}"))
        if reached is not None:
            limit = min(1.0, float(np.ceil(reached * 20) / 20))
            out.append((f"a t limit of {limit:g} for {attribute} (max_t_closeness_by_attribute)",
                        ctx.with_policy(policy.with_changes(
                            max_t_closeness_by_attribute={**policy.max_t_closeness_by_attribute, attribute: limit}))))
    if kind in (K_ANONYMITY, POPULATION_RISK, LINKAGE_RISK, L_DIVERSITY, T_CLOSENESS) and \
            policy.max_k < ctx.data.n_people:
        more = min(ctx.data.n_people, policy.max_k * 2)
        out.append((f"allow k up to {more} (max_k)", ctx.with_policy(policy.with_changes(max_k=more))))
    return out


def _why_not(exc: PersonaTwinError) -> str:
    """What a trial still misses, briefly: its last configuration's failures without their hints."""
    history = getattr(exc, "history", ())
    failures = getattr(history[-1], "failures", ()) if history else ()
    text = "still misses " + "; ".join(f.split(";")[0] for f in failures) if failures else str(exc)
    return text[:240]


def explain(ctx: PassContext, best: Protection,
            run_loop: Callable[[PassContext], Protection]) -> Refusal | None:
    """Why the lowest-risk pass is refused, and which changes pass when the loop tries them."""
    missed = best.missed()
    if not missed:
        return None
    binding = missed[0]
    observations = sensitive_observations(ctx.data, best.policy)
    names = [o.name for o in observations]
    attribute = binding_attribute(binding.kind, best.figures(), best.policy, names)
    obs = next((o for o in observations if o.name == attribute), None)
    share = failing_share(best, obs, binding.kind, best.policy) if obs is not None else None
    cause = cause_in_numbers(ctx, obs) if obs is not None else ""
    tried: list[Suggestion] = []
    for change, trial in candidate_changes(ctx, binding.kind, attribute, best)[:MAX_TRIED]:
        try:
            released = run_loop(trial)
        except PersonaTwinError as exc:  # a refusal (or too few people) is the trial's answer
            tried.append(Suggestion(change, False, _why_not(exc)))
        else:
            tried.append(Suggestion(change, True, f"releases at k={released.policy.k}, release risk "
                                                  f"{released.risk.release_risk:.4f}"))
    return Refusal(binding.kind, binding.failure, attribute, share, cause, tuple(tried))

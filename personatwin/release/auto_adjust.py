"""Auto-adjust: the privacy loop. Escalate the policy until every target holds, or release nothing.

Each iteration is recorded (parameters -> risks -> utility). The ladder step taken is the first,
in order of utility cost, that acts on a target still missed; an exhausted ladder raises
``PrivacyTargetError`` naming the targets missed and by how much.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from personatwin.core.errors import PrivacyTargetError, UtilityGateError
from personatwin.protect.merge import Grouping, group_people
from personatwin.protect.personas import start_levels
from personatwin.protect.prepared import PassContext
from personatwin.release.ladder import choose_step, escalate, within_people
from personatwin.release.one_pass import Protection, protect


@dataclass(frozen=True)
class Iteration:
    """One turn of the privacy loop."""

    number: int
    step: str
    parameters: dict
    risk: dict
    utility: dict
    failures: tuple[str, ...]

    @property
    def meets_targets(self) -> bool:
        return not self.failures

    def row(self) -> dict:
        r = self.risk
        return {"iteration": self.number, "step": self.step,
                **{k: v for k, v in self.parameters.items() if k != "qi_levels"},
                "qi_levels": ",".join(f"{k}={v}" for k, v in self.parameters.get("qi_levels", {}).items()),
                "k_anonymity": r["k_anonymity"], "population_average_risk": r["population_average_risk"],
                "external_linkage_risk": r["external_linkage_risk"], "release_risk": r["release_risk"],
                "l_diversity": r["l_diversity_distinct"], "information_loss": self.utility["information_loss"],
                "max_rate_diff_pp": self.utility["max_rate_diff_pp"], "meets_targets": self.meets_targets}


def history_frame(history: tuple[Iteration, ...]) -> pd.DataFrame:
    """The loop as a table: one row per iteration."""
    return pd.DataFrame([it.row() for it in history])


def auto_adjust(ctx: PassContext,
                max_iterations: int = 25, generalizable: tuple[str, ...] | None = None,
                first: Protection | None = None) -> tuple[Protection, tuple[Iteration, ...]]:
    """Run the privacy loop; return the first pass meeting every target and the iteration history.

    ``first`` is the pass at ``policy`` when already made (same data, key and salt, e.g. by a
    pipeline's risk stage); the loop starts from it instead of making it again."""
    data, policy = ctx.data, ctx.policy
    domain = data.domain
    max_levels = {q: domain.hierarchy(q).n_levels for q in domain.qis}
    loc_levels = domain.hierarchy(domain.location_qi).n_levels if domain.location_qi else 1
    rare = tuple(domain.bias_attributes[::-1]) if generalizable is None else generalizable
    history: list[Iteration] = []
    cache: dict[tuple, Grouping] = {}
    step_name = "start"
    best: Protection | None = None
    for number in range(1, max_iterations + 1):
        gkey = (policy.k, tuple(sorted(start_levels(domain, policy).items())))
        if number == 1 and first is not None and first.policy == policy:
            result = first
        else:
            if gkey not in cache:  # the grouping before l-diversity repair, which depends on PRAM and l too
                cache[gkey] = group_people(data.people, None, domain, policy.k, start_levels(domain, policy),
                                           data.features)
            result = protect(ctx.with_policy(policy), grouping=cache[gkey])
        missed = result.missed()
        failures = tuple(o.failure for o in missed)
        history.append(Iteration(number, step_name, policy.parameters(), result.risk.as_dict(),
                                 result.utility.as_dict(), failures))
        if best is None or result.risk.release_risk < best.risk.release_risk:
            best = result
        if not failures:
            if not result.utility.gates_passed:
                raise UtilityGateError(
                    "privacy targets hold but utility gates fail, so nothing is released: "
                    + "; ".join(result.utility.gate_failures), tuple(history))
            return result, tuple(history)
        step = choose_step(within_people(escalate(policy, max_levels, loc_levels, rare), policy, data.n_people),
                           (o.kind for o in missed))
        if step is None:
            break
        policy, step_name = step.policy, step.name
    last = history[-1]
    assert best is not None  # set on the first iteration, and history is not empty
    raise PrivacyTargetError(
        f"no configuration meets every target after {len(history)} iterations (ladder exhausted or "
        f"iteration limit reached); nothing is released. Best release risk {best.risk.release_risk:.4f} "
        f"at {best.policy.parameters()}; last configuration misses: " + "; ".join(last.failures),
        tuple(history), best)

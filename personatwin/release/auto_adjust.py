"""Auto-adjust: the privacy loop. Search the configurations until every target holds, or release nothing.

Two phases, both recorded iteration by iteration (parameters -> risks -> utility):

1. **Ladder**: from the requested policy, the cheapest step that acts on a target still missed
   (``personatwin.release.ladder``), until a configuration meets every privacy target. A step that cannot
   act on a missed target is never taken.
2. **Search** (``personatwin.release.search``): ARX-style, over the lattice of configurations between the
   requested policy and the ladder's: configurations one step finer than the best found so far (better
   utility), pruned by monotonicity (finer than a configuration that misses a target: not tried; coarser
   than one that releases: not tried), and, when the privacy targets hold but a utility gate fails, the
   neighbours of that configuration. At most ``search_budget`` more passes.

The release is the evaluated configuration that meets every privacy target and utility gate with the
least information loss (ties: fewest coarsening steps, then the smallest gated rate difference). The ladder's
own release is among the candidates, so the search never loses utility against the ladder. The whole loop is
bounded by ``max_iterations + search_budget`` passes and deterministic for a key and salt.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import pandas as pd

from personatwin.core.errors import PrivacyTargetError, UtilityGateError
from personatwin.protect.merge import Grouping, group_people
from personatwin.protect.personas import start_levels
from personatwin.protect.prepared import PassContext
from personatwin.release import refusal
from personatwin.release.ladder import choose_step, escalate, within_people
from personatwin.release.one_pass import Protection, protect
from personatwin.release.search import ConfigSpace, Node, at_or_below, coarseness

SEARCH_BUDGET = 6  # passes the search may add after the ladder (each one protection pass)


@dataclass(frozen=True)
class Iteration:
    """One turn of the privacy loop."""

    number: int
    step: str
    parameters: dict
    risk: dict
    utility: dict
    failures: tuple[str, ...]
    selected: bool = False  # the configuration released
    seconds: float = 0.0  # wall time of this pass (grouping, merge, noise, risk, utility)

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
                "max_rate_diff_pp": self.utility["max_rate_diff_pp"], "meets_targets": self.meets_targets,
                "released": self.selected}


def history_frame(history: tuple[Iteration, ...]) -> pd.DataFrame:
    """The loop as a table: one row per iteration."""
    return pd.DataFrame([it.row() for it in history])


def rank(result: Protection, node: Node, number: int) -> tuple:
    """Utility order of configurations meeting every privacy target: gates met first, then the least
    information loss, the fewest coarsening steps, the smallest gated rate difference, the earliest tried."""
    u = result.utility
    return (not u.gates_passed, round(u.information_loss, 9), coarseness(node),
            round(u.as_dict()["max_rate_diff_pp"], 9), number)


def auto_adjust(ctx: PassContext,
                max_iterations: int = 25, generalizable: tuple[str, ...] | None = None,
                first: Protection | None = None,
                search_budget: int = SEARCH_BUDGET, explain: bool = True) -> tuple[Protection, tuple[Iteration, ...]]:
    """Run the privacy loop; return the released pass (every target and gate met, least information loss)
    and the iteration history, the released one marked ``selected``.

    ``first`` is the pass at ``policy`` when already made (same data, key and salt, e.g. by a
    pipeline's risk stage); the loop starts from it instead of making it again. ``search_budget=0`` is the
    ladder alone (the first configuration that meets every target). A refusal carries, with ``explain``, the
    binding target in numbers and the changes tried (``personatwin.release.refusal``)."""
    data, start = ctx.data, ctx.policy
    domain = data.domain
    max_levels = {q: domain.hierarchy(q).n_levels for q in domain.qis}
    loc_levels = domain.hierarchy(domain.location_qi).n_levels if domain.location_qi else 1
    rare = tuple(domain.bias_attributes[::-1]) if generalizable is None else generalizable
    space = ConfigSpace.above(start, max_levels, loc_levels, rare, data.n_people)
    history: list[Iteration] = []
    passes: dict[int, Protection] = {}  # iteration number -> pass
    nodes: dict[Node, int] = {}  # node -> iteration number
    cache: dict[tuple, Grouping] = {}

    def run(policy, step_name: str) -> Protection:
        t0 = time.perf_counter()
        gkey = (policy.k, tuple(sorted(start_levels(domain, policy).items())))
        if not history and first is not None and first.policy == policy:
            result = first
        else:
            if gkey not in cache:  # the grouping before l-diversity repair, which depends on PRAM and l too
                cache[gkey] = group_people(data.people, None, domain, policy.k, start_levels(domain, policy),
                                           data.features)
            result = protect(ctx.with_policy(policy), grouping=cache[gkey])
        number = len(history) + 1
        history.append(Iteration(number, step_name, policy.parameters(), result.risk.as_dict(),
                                 result.utility.as_dict(), tuple(o.failure for o in result.missed()),
                                 seconds=time.perf_counter() - t0))
        passes[number] = result
        node = space.node(policy)
        if node is not None:
            nodes.setdefault(node, number)
        return result

    # 1. the ladder: cheapest step acting on a missed target, until every target holds
    policy, step_name = start, "start"
    for _ in range(max_iterations):
        result = run(policy, step_name)
        missed = result.missed()
        if not missed:
            break
        step = choose_step(within_people(escalate(policy, max_levels, loc_levels, rare), policy, data.n_people),
                           (o.kind for o in missed))
        if step is None:
            break
        policy, step_name = step.policy, step.name

    # 2. the search: finer configurations than the best release found, pruned by monotonicity
    for _ in range(search_budget):
        nxt = _next_candidate(space, nodes, history, passes)
        if nxt is None:
            break
        node, step_name = nxt
        run(space.policy(node), step_name)

    privacy_ok = [n for n, it in enumerate(history, 1) if it.meets_targets]
    if privacy_ok:
        chosen = min(privacy_ok, key=lambda n: rank(passes[n], space.node(passes[n].policy) or (), n))
        history[chosen - 1] = replace(history[chosen - 1], selected=True)
        result = passes[chosen]
        if not result.utility.gates_passed:
            raise UtilityGateError(
                "privacy targets hold but utility gates fail, so nothing is released: "
                + "; ".join(result.utility.gate_failures), tuple(history))
        return result, tuple(history)
    best = min(passes.values(), key=lambda p: p.risk.release_risk)
    last = history[-1]
    why = refusal.explain(ctx, best, lambda trial: auto_adjust(trial, max_iterations, generalizable,
                                                               search_budget=0, explain=False)[0]) \
        if explain else None
    raise PrivacyTargetError(
        f"no configuration meets every target after {len(history)} iterations (ladder exhausted or "
        f"iteration limit reached); nothing is released. Best release risk {best.risk.release_risk:.4f} "
        f"at {best.policy.parameters()}; last configuration misses: " + "; ".join(last.failures)
        + (f". {why.text()}" if why is not None else ""), tuple(history), best, why)


def _next_candidate(space: ConfigSpace, nodes: dict[Node, int], history: list[Iteration],
                    passes: dict[int, Protection]) -> tuple[Node, str] | None:
    """The next configuration the search tries, or None: one step finer than the best release found (in the
    order k, age, location, dates, rare categories), else, when only gate-failing configurations meet the
    privacy targets, a neighbour of the best of them; never one the monotonicity rules prune."""
    failing = [n for n, i in nodes.items() if not history[i - 1].meets_targets]
    ok = {n: i for n, i in nodes.items() if history[i - 1].meets_targets}
    releasing = [n for n, i in ok.items() if passes[i].utility.gates_passed]

    def open_(node: Node) -> bool:
        return (node not in nodes and not any(at_or_below(node, f) for f in failing)
                and not any(at_or_below(r, node) for r in releasing))

    if not ok:
        return None
    order = sorted(ok, key=lambda n: rank(passes[ok[n]], n, ok[n]))
    for node in order:
        gates = passes[ok[node]].utility.gates_passed
        moves = [(d, m, "finer") for d, m in space.finer(node)]
        if not gates:  # a utility gate fails: its neighbours draw other groupings and noise
            moves += [(d, m, "coarser") for d, m in space.coarser(node)]
        for dim, cand, how in moves:
            if open_(cand):
                why = "less information loss" if gates else "utility gates"
                return cand, f"search: {how} {dim.name} ({why})"
        if gates:
            break  # only the best release is refined: finer than a worse one cannot beat it by monotonicity
    return None

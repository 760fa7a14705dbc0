"""Risk (DESIGN §5) and utility (§6) of one protection pass."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from personatwin.core.policy import PrivacyPolicy
from personatwin.core.schema import (
    PERSONA_SIZE,
)
from personatwin.measure import linkage, risk, utility
from personatwin.protect import noise
from personatwin.protect.merge import Grouping, factorize
from personatwin.protect.personas import PersonaAttributes, generalized_codes, start_level
from personatwin.protect.prepared import PassContext, PreparedData
from personatwin.protect.stages import Merged, Noised, sensitive_observations


@dataclass(frozen=True)
class PassCounts:
    """The event-level sums a pass's utility figures and event l-diversity come from: sums over events, so over
    shards (``+``; each person's events all in one shard)."""

    periods: utility.PeriodCounts
    outcomes_true: np.ndarray  # per outcome
    outcomes_released: np.ndarray
    rates: utility.RateCounts
    by_type: np.ndarray  # T x personas x outcomes: true outcomes per persona and event type (l-diversity)

    def __add__(self, other: PassCounts) -> PassCounts:
        return PassCounts(self.periods + other.periods, self.outcomes_true + other.outcomes_true,
                          self.outcomes_released + other.outcomes_released, self.rates + other.rates,
                          self.by_type + other.by_type)


def pass_counts(event_person: np.ndarray, type_codes: np.ndarray, event_day: np.ndarray, outcome_codes: np.ndarray,
                starts: np.ndarray, rand_out: np.ndarray, n_types: int, n_outcomes: int, precision: str,
                groups, person_persona: np.ndarray, n_personas: int) -> PassCounts:
    """The sums ``PassCounts`` holds, of these events (the whole release's, or one shard's)."""
    key = np.multiply(type_codes, n_personas, dtype=np.int64)  # (type x persona) x outcome, in place
    key += person_persona[event_person]
    key *= n_outcomes
    key += outcome_codes
    by_type = np.bincount(key, minlength=n_types * n_personas * n_outcomes).reshape(n_types, n_personas, n_outcomes)
    del key
    return PassCounts(
        utility.period_counts(type_codes, n_types, noise.period_start(event_day, precision), starts),
        np.bincount(outcome_codes, minlength=n_outcomes), np.bincount(rand_out, minlength=n_outcomes),
        utility.rate_counts(groups, event_person, type_codes, n_types, outcome_codes, rand_out, n_outcomes,
                            person_persona, n_personas),
        by_type)


def counts_of(ctx: PassContext, merged: Merged, noised: Noised) -> PassCounts:
    """The pass's sums: the shards' (``noised.counts``, added up) when it was made shard by shard, else counted
    here from the whole release's events."""
    if noised.counts is not None:
        return noised.counts
    data = ctx.data
    return pass_counts(data.event_person, data.type_codes, data.event_day, data.outcome_codes, noised.starts,
                       noised.outcomes, len(data.type_names), len(data.outcome_names), ctx.policy.date_precision,
                       group_codes(data, merged.person_persona, merged.attributes), merged.person_persona,
                       len(merged.ids))


def evaluate(ctx: PassContext, merged: Merged,
             noised: Noised, clock: StageClock | None = None) -> tuple[risk.RiskReport, utility.UtilityReport]:
    """Risk (DESIGN §5) and utility (§6) of one pass."""
    data, policy = ctx.data, ctx.policy
    clock = clock or StageClock()
    counts = counts_of(ctx, merged, noised)
    # the utility figures are computed on a thread beside the risk (both read the pass, neither writes it);
    # "utility" is then the time they take beyond the risk's
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="utility") as pool:
        util = pool.submit(measure, data, policy, merged.person_persona, merged.attributes, noised.pram,
                           merged.grouping, counts)
        risk_report = assess(ctx, merged.person_persona, merged.attributes, noised, counts)
        clock.lap("risk")
        utility_report = util.result()
    clock.lap("utility")
    return risk_report, utility_report


class StageClock:
    """Wall time per stage of a pass (for benchmarks and run metadata)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + now - self._t
        self._t = now


# the attacks' inputs and release cells for their (targets, generator) pairs, the generators as the attacks will
# use them next (a view may draw their known events from copies to fetch only what they need)
AttackView = Callable[[list[tuple[np.ndarray, np.random.Generator]]],
                      tuple[linkage.AttackInputs, linkage.ReleasedCells]]


def assess(ctx: PassContext, person_persona: np.ndarray,
           attrs: PersonaAttributes, noised: Noised | None, counts: PassCounts | None = None,
           attack_view: AttackView | None = None) -> risk.RiskReport:
    """Every §5 risk metric of this pass (``counts``: its event-level sums, when already made; ``attack_view``: the
    attacks' inputs and release cells for given targets, when ``noised`` is not in this process: a sharded pass)."""
    data, policy = ctx.data, ctx.policy
    n = data.n_people
    f, n_ec = risk.class_sizes(attrs)
    size = attrs.table[PERSONA_SIZE].to_numpy()
    k_anon = int(f.min()) if len(f) else 0
    t = policy.records_at_risk_threshold
    at_risk = float(size[(1.0 / f) > t].sum()) / n if n else 0.0
    journalist, marketer = risk.population_risks(f, size, n, policy.population_size)
    P = len(size)
    # l-diversity and t-closeness per sensitive attribute on true values (issue 11): each event type's
    # outcomes, each person-level sensitive column
    if counts is None:
        assert noised is not None, "a pass without its events in this process gives its counts"
        counts = pass_counts(data.event_person, data.type_codes, data.event_day, data.outcome_codes, noised.starts,
                             noised.outcomes, len(data.type_names), len(data.outcome_names), policy.date_precision,
                             (), person_persona, P)
    n_event_attributes = len(data.type_names) if data.n_events else 0  # the first observations: event types

    def value_counts(i: int, o) -> np.ndarray:  # an event type's from the sums; a person-level column's here
        if i < n_event_attributes:
            return counts.by_type[i]
        return risk.value_counts_matrix(person_persona[o.owner], o.value, P, o.n_values)

    by_attribute = tuple(
        (o.name, risk.attribute_diversity(value_counts(i, o), o.min_count, o.ordered,
                                          max(o.l or policy.l_diversity, 2)))
        for i, o in enumerate(sensitive_observations(data, policy, events=False)))
    l_distinct, l_entropy, t_close = risk.overall_diversity(f for _, f in by_attribute)
    demo, outliers = risk.demographic_concentration(data.people, person_persona, attrs, policy.k)
    m = policy.attacker_knowledge
    # each attack's targets first (as ``simulate`` draws them), so a sharded pass is asked for their events only
    rng_link, rng_conc = ctx.rng("attack-linkage"), ctx.rng("attack-pattern")
    t_link = linkage.sample_targets(n, policy.linkage_targets, rng_link)
    t_conc = linkage.sample_targets(n, policy.linkage_targets, rng_conc)
    if attack_view is None:
        assert noised is not None, "a pass without its events in this process gives its attack view"
        attack_view = _noised_view(ctx, person_persona, attrs, noised)
    inputs, cells = attack_view([(t_link, rng_link), (t_conc, rng_conc)])  # cells shared by both attacks
    link = linkage.simulate(inputs, data.domain, m, policy.linkage_targets, rng_link, use_qis=True, released=cells,
                            targets=t_link)
    conc = linkage.simulate(inputs, data.domain, m, policy.linkage_targets, rng_conc, use_qis=False,
                            released=cells, targets=t_conc)
    return risk.RiskReport(
        n_people=n, n_personas=P, n_equivalence_classes=n_ec, k_anonymity=k_anon,
        prosecutor_risk_max=1.0 / k_anon if k_anon else 1.0, records_at_risk=at_risk, records_at_risk_threshold=t,
        population_average_risk=n_ec / n if n else 0.0, journalist_risk=journalist, marketer_risk=marketer,
        l_diversity_distinct=l_distinct, l_diversity_entropy=l_entropy, t_closeness=t_close,
        demographic_concentration_risk=demo, demographic_outliers=outliers,
        event_pattern_concentration_risk=conc.mean, external_linkage_risk=link.mean,
        external_linkage_ci_low=link.ci_low, external_linkage_ci_high=link.ci_high,
        attacker_knowledge=m, linkage_targets=link.n_targets, by_attribute=by_attribute,
        persona_single_out_rate=link.single_out, persona_single_out_ci_low=link.single_out_ci_low,
        persona_single_out_ci_high=link.single_out_ci_high,
    )


def _noised_view(ctx: PassContext, person_persona: np.ndarray, attrs: PersonaAttributes,
                 noised: Noised) -> AttackView:
    """The attacks' inputs over every event of a pass held in this process, and its release's cells."""
    data = ctx.data

    def view(draws: list[tuple[np.ndarray, np.random.Generator]]
             ) -> tuple[linkage.AttackInputs, linkage.ReleasedCells]:
        inputs = linkage.AttackInputs(
            people=data.people, person_persona=person_persona, attributes=attrs, event_person=data.event_person,
            event_type_code=data.type_codes, event_date=data.event_day, released_persona=None,
            released_type_code=None, released_period=None, precision=ctx.policy.date_precision, released_sorted=True,
            period_values=noised.period_values, event_detail=noised.detail_true,
        )
        return inputs, release_cells(data, noised, ctx.policy.attacker_knowledge)

    return view


def release_cells(data: PreparedData, noised: Noised, m: int) -> linkage.ReleasedCells:
    """The release's attack cells (``linkage.released_cells`` of its events in release order): each event's cell
    made in canonical order and read in release order, so no release-ordered copy of the personas, types, periods
    and details is made (100M events: about 4 GB less at the attack's peak)."""
    periods = np.asarray(noised.period_values, dtype=np.int64)
    n = data.n_events
    D = int(max(noised.detail_released.max(), noised.detail_true.max()) if n else 0) + 1
    rcell = linkage.cell_codes(data.type_codes, linkage.days(noised.starts), noised.detail_released, periods, D)
    n_types = int(data.type_codes.max()) + 1 if n else 0
    return linkage.cells_of(noised.ev_persona, rcell, periods, D, n_types, m, True, order=noised.order)


def group_codes(data: PreparedData, person_persona: np.ndarray, attrs: PersonaAttributes):
    """Per bias attribute (and their cross): group code of each person, original vs published."""
    out = []
    bias = [a for a in data.domain.bias_attributes if a in data.people.columns]
    coded = {}
    for a in bias:
        o_codes, o_names = factorize(data.people[a].astype(str))
        r_codes, r_names = factorize(attrs.table[a].astype(str))
        names = pd.Index(o_names).append(pd.Index(r_names)).unique()
        o = names.get_indexer(o_names)[o_codes]
        r = names.get_indexer(r_names)[r_codes][person_persona]
        coded[a] = (o, r, np.asarray(names, dtype=object))
        out.append((a,) + coded[a])
    if len(bias) >= 2:
        o, r, names = coded[bias[0]]
        for a in bias[1:]:
            o2, r2, n2 = coded[a]
            o, r = o * len(n2) + o2, r * len(n2) + r2
            names = (names[:, None] + " | " + n2[None, :]).reshape(-1)
        out.append((" x ".join(bias), o, r, names))
    return out


def measure(data: PreparedData, policy: PrivacyPolicy, person_persona: np.ndarray, attrs: PersonaAttributes,
            pram: noise.PramMatrix, grouping: Grouping, sums: PassCounts) -> utility.UtilityReport:
    """Every §6 utility figure of this pass, from its event-level sums."""
    counts = utility.event_counts_from(sums.periods, data.type_names, policy.date_precision)
    preserved = bool((counts["original"] == counts["released"]).all()) if policy.date_shift_days == 0 else \
        int(counts["original"].sum()) == int(counts["released"].sum())
    qi_tvd = {}
    weights = attrs.table[PERSONA_SIZE].to_numpy()
    for qi in attrs.qi_columns:
        codes, labels = generalized_codes(data.people[qi], data.domain.hierarchy(qi),
                                          start_level(data.domain, policy, qi))
        qi_tvd[qi] = utility.tvd_codes(codes, labels, attrs.table[qi].astype(str).to_numpy(dtype=object), weights)
    outcome_tvd = utility.tvd_counts(sums.outcomes_true, sums.outcomes_released)
    rates = utility.rates_from_counts(group_codes(data, person_persona, attrs), sums.rates, person_persona,
                                      data.type_names, data.outcome_names, pram, policy.gates)
    disp = utility.disparity(rates, data.domain.adverse_outcomes)
    fails = utility.gate_failures(rates, policy.gates, preserved)
    return utility.UtilityReport(counts, preserved, qi_tvd, outcome_tvd, rates, disp, grouping.information_loss, fails)

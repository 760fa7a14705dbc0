"""Risk (DESIGN §5) and utility (§6) of one protection pass."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

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


def evaluate(ctx: PassContext, merged: Merged,
             noised: Noised, clock: StageClock | None = None) -> tuple[risk.RiskReport, utility.UtilityReport]:
    """Risk (DESIGN §5) and utility (§6) of one pass."""
    data, policy = ctx.data, ctx.policy
    clock = clock or StageClock()
    # the utility figures are computed on a thread beside the risk (both read the pass, neither writes it);
    # "utility" is then the time they take beyond the risk's
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="utility") as pool:
        util = pool.submit(measure, data, policy, merged.person_persona, merged.attributes, noised.starts,
                           noised.outcomes, noised.pram, merged.grouping)
        risk_report = assess(ctx, merged.person_persona, merged.attributes, noised)
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


def assess(ctx: PassContext, person_persona: np.ndarray,
           attrs: PersonaAttributes, noised: Noised) -> risk.RiskReport:
    """Every §5 risk metric of this pass."""
    data, policy = ctx.data, ctx.policy
    ev_persona = noised.ev_persona
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
    by_attribute = tuple(
        (o.name, risk.attribute_diversity(risk.value_counts_matrix(person_persona[o.owner], o.value, P, o.n_values),
                                          o.min_count, o.ordered, max(o.l or policy.l_diversity, 2)))
        for o in sensitive_observations(data, policy))
    l_distinct, l_entropy, t_close = risk.overall_diversity(f for _, f in by_attribute)
    demo, outliers = risk.demographic_concentration(data.people, person_persona, attrs, policy.k)
    inputs = linkage.AttackInputs(
        people=data.people, person_persona=person_persona, attributes=attrs, event_person=data.event_person,
        event_type_code=data.type_codes, event_date=data.event_day,
        released_persona=ev_persona[noised.order], released_type_code=data.type_codes[noised.order],
        released_period=noised.starts[noised.order], precision=policy.date_precision,
        released_sorted=True, period_values=noised.period_values,
        event_detail=noised.detail_true, released_detail=noised.detail_released[noised.order],
    )
    m = policy.attacker_knowledge
    cells = linkage.released_cells(inputs, m)  # shared by both attacks
    link = linkage.simulate(inputs, data.domain, m, policy.linkage_targets, ctx.rng("attack-linkage"),
                            use_qis=True, released=cells)
    conc = linkage.simulate(inputs, data.domain, m, policy.linkage_targets, ctx.rng("attack-pattern"),
                            use_qis=False, released=cells)
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
            starts: np.ndarray, rand_out: np.ndarray, pram: noise.PramMatrix,
            grouping: Grouping) -> utility.UtilityReport:
    """Every §6 utility figure of this pass."""
    true_starts = noise.period_start(data.event_day, policy.date_precision)
    counts = utility.event_counts(data.type_codes, data.type_names, true_starts, starts, policy.date_precision)
    preserved = bool((counts["original"] == counts["released"]).all()) if policy.date_shift_days == 0 else \
        int(counts["original"].sum()) == int(counts["released"].sum())
    qi_tvd = {}
    weights = attrs.table[PERSONA_SIZE].to_numpy()
    for qi in attrs.qi_columns:
        codes, labels = generalized_codes(data.people[qi], data.domain.hierarchy(qi),
                                          start_level(data.domain, policy, qi))
        qi_tvd[qi] = utility.tvd_codes(codes, labels, attrs.table[qi].astype(str).to_numpy(dtype=object), weights)
    outcome_tvd = utility.tvd_counts(np.bincount(data.outcome_codes, minlength=len(data.outcome_names)),
                                     np.bincount(rand_out, minlength=len(data.outcome_names)))
    rates = utility.group_rates(group_codes(data, person_persona, attrs), data.event_person, data.type_codes,
                                data.type_names, data.outcome_codes, rand_out, data.outcome_names, pram, policy.gates,
                                person_persona)
    disp = utility.disparity(rates, data.domain.adverse_outcomes)
    fails = utility.gate_failures(rates, policy.gates, preserved)
    return utility.UtilityReport(counts, preserved, qi_tvd, outcome_tvd, rates, disp, grouping.information_loss, fails)

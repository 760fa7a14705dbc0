"""A release: the privacy loop's chosen pass with its tables, figures, history and verdict.

``make_release`` runs prepare -> auto-adjust on validated tables. ``Release`` is what the original
API calls the result of ``create_safe_personas``: personas, events, risk metrics, utility, the
iteration history, ``is_safe_for_research()``, ``is_safe_for_public()`` and ``summary()``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from personatwin.core.domains import Domain
from personatwin.core.errors import AttackRefusedError, AttackRiskError
from personatwin.core.keys import ReleaseKey
from personatwin.core.policy import PUBLIC_RISK, RESEARCH_RISK, PrivacyPolicy
from personatwin.measure import criteria
from personatwin.measure.anonymeter_eval import (
    GATE_RULE,
    AnonymeterEvaluation,
    AnonymeterOptions,
    check,
    evaluate_prepared,
)
from personatwin.measure.glossary import METRIC_MEANINGS
from personatwin.measure.risk import RiskReport, class_sizes_of
from personatwin.measure.utility import UtilityReport
from personatwin.protect.noise import PramMatrix
from personatwin.protect.prepared import PassContext, prepare
from personatwin.release.auto_adjust import Iteration, auto_adjust, history_frame
from personatwin.release.one_pass import Protection
from personatwin.release.research import Declared, ResearchValidation, validate_analyses
from personatwin.release.tables import ReleaseTables, adverse_outcomes_in
from personatwin.release.views import PersonaCollection


@dataclass(frozen=True)
class Release:
    """The protected release of one data set or partition, with every figure that justifies it."""

    personas: PersonaCollection
    sensitive: pd.DataFrame
    risk_metrics: RiskReport
    utility: UtilityReport
    history: tuple[Iteration, ...]
    policy: PrivacyPolicy  # the configuration released
    requested_policy: PrivacyPolicy
    pram: PramMatrix
    domain: Domain
    key_fingerprint: str
    salt: str
    quarantine: pd.DataFrame = field(default_factory=pd.DataFrame)
    counts: dict = field(default_factory=dict)
    dropped_identifiers: tuple[str, ...] = ()
    ignored_columns: tuple[str, ...] = ()
    suppressed_events: int = 0
    attacks: AnonymeterEvaluation | None = None  # the independent Anonymeter evaluation, when it was run
    person_persona: np.ndarray | None = field(default=None, repr=False)  # internal: each person's persona index
    # declared analyses on the original data and the release (release/research.py), when any were run
    research_validation: ResearchValidation | None = None
    timings: dict = field(default_factory=dict)  # seconds per stage: prepare, pass_<n>, attack_evaluation, research
    stages: tuple | None = field(default=None, repr=False, compare=False)  # internal: released merge and noise stages
    # the advisor's explanation, recommendation and exchanges (personatwin.advisor.advise): internal report only
    advice: Mapping | None = field(default=None, repr=False, compare=False)

    @property
    def events(self) -> pd.DataFrame:
        return self.personas.events

    @property
    def risk(self) -> RiskReport:
        return self.risk_metrics

    @property
    def iterations(self) -> int:
        return len(self.history)

    @property
    def release_risk(self) -> float:
        return self.risk_metrics.release_risk

    @property
    def message(self) -> str:
        return (f"released after {self.iterations} iteration(s): release risk {self.release_risk:.4f} "
                f"<= target {self.policy.target_risk}")

    def history_frame(self) -> pd.DataFrame:
        return history_frame(self.history)

    def risk_level(self) -> str:
        """Reference band of the release risk (``criteria.RISK_BANDS``)."""
        return criteria.risk_band(self.release_risk)

    def _safe(self, limit: float) -> bool:
        return criteria.safe_for(self.metrics(), self.policy.parameters(), limit)

    def is_safe_for_research(self) -> bool:
        """Release risk within the research threshold (0.05) and every persona of size >= k."""
        return self._safe(RESEARCH_RISK)

    def is_safe_for_public(self) -> bool:
        """Release risk within the public threshold (0.01) and every persona of size >= k."""
        return self._safe(PUBLIC_RISK)

    def tables(self) -> ReleaseTables:
        """The release as typed tables: what publishing (folders, report, manifest) and the pipeline use."""
        return ReleaseTables(
            personas=self.personas.to_dataframe(), events=self.events, metrics=self.metrics(),
            history=self.history_frame(), group_rates=self.utility.group_rates, disparity=self.utility.disparity,
            event_counts=self.utility.event_counts, pram=self.pram.pi.assign(p=self.pram.p), domain=self.domain.name,
            policy=self.policy.parameters(), requested_policy=self.requested_policy.parameters(),
            key_fingerprint=self.key_fingerprint,
            adverse_outcomes=adverse_outcomes_in(self.utility.group_rates, self.utility.disparity,
                                                 tuple(self.domain.adverse_outcomes)),
            suppressed_events=self.suppressed_events, counts=dict(self.counts),
            sensitive=self.sensitive if len(self.sensitive) else None,
            anonymeter=self.attacks.table() if self.attacks is not None else None, release_id=self.salt,
            research=self.research_validation.table() if self.research_validation is not None else None,
            timings=dict(self.timings), advice=dict(self.advice) if self.advice else None,
        )

    def metrics(self) -> dict[str, float]:
        """Every risk and utility figure as a float (for metadata, manifests and plots)."""
        out = {k: v for k, v in self.risk_metrics.as_dict().items() if v is not None}
        out.update(self.utility.as_dict())
        out["n_personas"] = float(len(self.personas))
        out["n_events"] = float(len(self.events))
        out["iterations"] = float(self.iterations)
        if self.attacks is not None:
            out.update(self.attacks.metrics())
        if self.research_validation is not None:
            out.update(self.research_validation.metrics())
        return out

    def summary(self) -> str:
        """A readable account of the release: verdict, every metric, parameters, utility, history."""
        rm = self.risk_metrics
        r = rm.as_dict()
        lines = [
            f"PersonaTwin release ({self.domain.name}) - {self.risk_level()}",
            f"  people {self.risk_metrics.n_people:,} -> personas {len(self.personas):,}; events released "
            f"{len(self.events):,} (suppressed {self.suppressed_events})",
            f"  target risk {self.policy.target_risk}; release risk {self.release_risk:.4f}; "
            f"safe for research: {self.is_safe_for_research()}; safe for public: {self.is_safe_for_public()}",
            "Risk metrics:",
        ]
        for name, meaning in METRIC_MEANINGS.items():
            value = r.get(name)
            missing = "n/a (not released in a series)" if name.startswith("series_") else \
                "n/a (no population size given)"
            shown = missing if value is None else (
                f"{value:.0f}" if name == "k_anonymity" else f"{value:.4f}")
            lines.append(f"  {name:34s} {shown:>12s}  {meaning}")
        lines.append(f"  {'external_linkage_risk 95% CI':34s} [{r['external_linkage_ci_low']:.4f}, "
                     f"{r['external_linkage_ci_high']:.4f}] over {int(rm.linkage_targets)} targets, "
                     f"attacker knows QIs + {int(rm.attacker_knowledge)} events")
        lines.append(f"  {'equivalence classes':34s} {int(rm.n_equivalence_classes):>12,d}")
        if self.attacks is not None:
            a = self.attacks
            limit = "reported, not gated" if a.max_risk is None else f"limit {a.max_risk}"
            lines.append(f"Independent attacks (Anonymeter {a.versions.get('anonymeter', '')}; "
                         f"{a.n_train:,} people in the "
                         f"evaluated release, {a.n_control:,} held out; {limit}):")
            for attack in ("singling_out", "linkability", "inference"):
                h = a.headline(attack)
                lines.append(f"  {attack + ' risk':34s} {h.risk:12.4f}  95% CI [{h.ci_low:.4f}, {h.ci_high:.4f}] "
                             f"({h.variant[:40]}; {h.n_attacks} attacks)")
            per_secret = [r for r in a.results if r.attack == "inference" and r is not a.inference]
            if per_secret:
                lines.append(f"  {'inference per secret (detail)':34s} " + "; ".join(
                    f"{r.variant} {r.risk:.4f} [{r.ci_low:.4f}, {r.ci_high:.4f}]" for r in per_secret))
            if a.max_risk is not None:
                lines.append(f"  gate: {'pass' if a.passed else 'FAIL'} ({GATE_RULE})")
        lines.append("Utility:")
        u = self.utility
        lines.append(f"  information loss (100*SSE/SST)     {u.information_loss:12.2f}")
        lines.append(f"  event counts per type x period     {'preserved' if u.events_preserved else 'CHANGED':>12s}")
        for qi, v in u.qi_tvd.items():
            lines.append(f"  TVD of {qi:28s}{v:12.4f}")
        lines.append(f"  TVD of outcomes (after PRAM)       {u.outcome_tvd:12.4f}")
        gated = u.group_rates[u.group_rates["gate"] != "none"] if len(u.group_rates) else u.group_rates
        if len(gated):
            lines.append(f"  group rates gated                  {len(gated):12d}; largest |unbiased - original| "
                         f"{gated['diff_pp'].abs().max():.2f} pp; gates {'pass' if u.gates_passed else 'FAIL'}")
        if self.research_validation is not None and len(self.research_validation):
            lines += self.research_validation.summary_lines()
        lines.append("Parameters: " + ", ".join(f"{k}={v}" for k, v in self.policy.parameters().items()))
        lines.append(f"PRAM: keep probability p={self.pram.p}; unbias with true = (observed - (1-p)*pi) / p")
        lines.append(f"Privacy loop: {self.iterations} iteration(s): "
                     + " -> ".join(f"{it.step} (risk {it.risk['release_risk']:.3f})" for it in self.history))
        if self.counts:
            lines.append("Input reconciliation: " + ", ".join(f"{k}={v}" for k, v in self.counts.items()))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"Release(domain={self.domain.name!r}, personas={len(self.personas)}, events={len(self.events)}, "
                f"release_risk={self.release_risk:.4f}, k={self.risk_metrics.k_anonymity})")


ANONYMETER_ESCALATIONS = 3  # times the release step may double k after a failed Anonymeter evaluation
ANONYMETER_STEP = "raise k (Anonymeter)"


def make_release(people: pd.DataFrame, events: pd.DataFrame, domain: Domain, policy: PrivacyPolicy,
                 key: ReleaseKey, salt: str = "", max_iterations: int = 25, anonymeter: bool = False,
                 anonymeter_options: AnonymeterOptions | None = None,
                 anonymeter_escalations: int = ANONYMETER_ESCALATIONS, analyses: Declared | None = None,
                 require_analyses: bool = False, runner: object | None = None) -> Release:
    """Run the privacy loop on validated tables and package the winning pass as a release (``runner``: where the
    event-level stages run, ``personatwin.scale.runners``; the same release wherever they run)."""
    t0 = time.perf_counter()
    data = prepare(people, events, domain)
    prepared = time.perf_counter() - t0
    result = make_release_from_prepared(PassContext(data, policy, key, salt, runner=runner), max_iterations,
                                        anonymeter=anonymeter, anonymeter_options=anonymeter_options,
                                        anonymeter_escalations=anonymeter_escalations, analyses=analyses,
                                        require_analyses=require_analyses)
    return replace(result, timings={"prepare": prepared, **result.timings})


def _with_attacks(it: Iteration, attacks: AnonymeterEvaluation) -> Iteration:
    """An iteration with the Anonymeter figures of its configuration and the failures they add."""
    return replace(it, risk={**it.risk, **attacks.metrics()}, failures=it.failures + attacks.failures())


def make_release_from_prepared(ctx: PassContext,
                               max_iterations: int = 25, anonymeter: bool = False,
                               anonymeter_options: AnonymeterOptions | None = None,
                               anonymeter_escalations: int = ANONYMETER_ESCALATIONS,
                               first: Protection | None = None, analyses: Declared | None = None,
                               require_analyses: bool = False) -> Release:
    """The privacy loop on already prepared (coded, canonically ordered) data.

    With ``anonymeter=True`` the configuration the loop chose is then attacked with Anonymeter (see
    ``personatwin.measure.anonymeter_eval``). When the policy sets ``anonymeter_max_risk`` and the evaluation
    fails the gate (a headline risk above the limit, or one secret's inference risk above it even at
    its 95% lower bound; ``anonymeter_eval.exceeds``), k is doubled and the loop rerun from there (at
    most ``anonymeter_escalations`` times, each recorded in the history as "raise k (Anonymeter)");
    if it still fails, nothing is released (``AttackRefusedError``). Without a limit the figures are
    reported only.

    ``analyses`` (declared analyses, or ``research.DomainDefaults()``) are then run on the original data
    and on the release (``result.research_validation``); with ``require_analyses`` one that does not
    hold refuses the release (``ResearchValidationError``)."""
    data, policy, key, salt = ctx.data, ctx.policy, ctx.key, ctx.salt
    domain = data.domain
    chosen, history = auto_adjust(ctx, max_iterations=max_iterations, first=first)
    attacks, attack_seconds, attack_waited = None, 0.0, 0.0
    if anonymeter:
        options = anonymeter_options or AnonymeterOptions()
        steps = list(history)
        for escalation in range(anonymeter_escalations + 1):
            t0 = time.perf_counter()
            attacks = evaluate_prepared(ctx.with_policy(chosen.policy), options)
            attack_waited += time.perf_counter() - t0
            attack_seconds += attacks.seconds  # its own time, also when it ran ahead in the background
            at = next(i for i, it in enumerate(steps) if it.selected)
            steps[at] = _with_attacks(steps[at], attacks)
            if attacks.passed:
                break
            k_next = min(chosen.policy.k * 2, chosen.policy.max_k, data.n_people)
            if escalation == anonymeter_escalations or k_next <= chosen.policy.k:
                try:
                    check(attacks)
                except AttackRiskError as exc:
                    raise AttackRefusedError(f"{exc} (k = {chosen.policy.k} after {escalation} Anonymeter "
                                             "escalation(s))", attacks, tuple(steps)) from None
            chosen, more = auto_adjust(ctx.with_policy(chosen.policy.with_changes(k=k_next)),
                                       max_iterations=max_iterations)
            steps = [replace(it, selected=False) for it in steps]
            steps += [replace(it, number=len(steps) + i + 1, step=ANONYMETER_STEP if i == 0 else it.step)
                      for i, it in enumerate(more)]
        history = tuple(steps)
    timings = {f"pass_{it.number}": it.seconds for it in history if it.seconds}
    if anonymeter:  # the evaluation's own seconds, and how long the release waited for it (less when it ran ahead)
        timings["attack_evaluation"] = attack_seconds
        timings["attack_evaluation_waited"] = attack_waited
    validation = None
    if analyses is not None:
        t0 = time.perf_counter()
        validation = validate_analyses(data, chosen.personas, chosen.events, chosen.pram, chosen.policy, analyses)
        timings["research"] = time.perf_counter() - t0
        if require_analyses:
            validation.check(tuple(history))
    f, _ = class_sizes_of(chosen.personas, chosen.attributes.qi_columns)
    personas = PersonaCollection(chosen.personas, chosen.events, domain, chosen.policy,
                                 traceability=pd.Series(1.0 / f, index=chosen.personas.index))
    return Release(personas=personas, sensitive=chosen.sensitive, risk_metrics=chosen.risk, utility=chosen.utility,
                   history=history, policy=chosen.policy, requested_policy=policy, pram=chosen.pram, domain=domain,
                   key_fingerprint=key.fingerprint(), salt=salt, suppressed_events=chosen.suppressed_events,
                   attacks=attacks, person_persona=chosen.person_persona, research_validation=validation,
                   timings=timings, stages=chosen.stages)


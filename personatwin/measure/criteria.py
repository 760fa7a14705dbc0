"""The privacy criteria: every target a release must meet, each deciding and describing itself.

As in ARX's ``criteria`` package, one object per target says, in one place, which figure it reads,
its threshold under a policy, what it means, whether a pass meets it, and the sentences that report
it (the loop's failure message and the report's verdict line). The loop routes on ``kind``, never on
message text; ``Protection.failures``, ``Release.is_safe_*``, the report's verdict and the Dagster
checks all ask these objects.

Criteria read *figures* (a flat mapping of metric name to number: ``RiskReport.as_dict()`` plus
``UtilityReport.as_dict()``, or a manifest's ``metrics``) and a *policy* (``PrivacyPolicy.parameters()``
or a manifest's ``policy``), so a live pass and a published release are judged by the same code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from personatwin.core.codes import dense_codes
from personatwin.core.policy import INTERNAL_RISK, PUBLIC_RISK, RESEARCH_RISK
from personatwin.core.schema import BIRTH_DATE, END_DATE, EVENT_DATE, PERSON_ID
from personatwin.protect.noise import period_start

# Target kinds: what the privacy loop can act on (ladder steps declare the kinds they lower).
K_ANONYMITY = "k-anonymity"
POPULATION_RISK = "population"
LINKAGE_RISK = "linkage"
L_DIVERSITY = "l-diversity"
SINGLE_OUT = "single-out"
T_CLOSENESS = "t-closeness"
RELEASE_RISK = "release risk"
EVENTS_PRESERVED = "events"
UTILITY_GATES = "utility"
ATTACKS = "attacks"
SERIES_RISK = "series"
DIFFERENCING = "differencing"
DP_BUDGET = "dp budget"

# Reference bands of the release risk (DESIGN §5), strictest first: code, who may receive it, label.
NOT_SAFE = "NOT_SAFE_FOR_RELEASE"
RISK_BANDS = ((PUBLIC_RISK, "SAFE_FOR_PUBLIC_RELEASE", "public release"),
              (RESEARCH_RISK, "SAFE_FOR_RESEARCH", "research under a data use agreement"),
              (INTERNAL_RISK, "INTERNAL_USE_ONLY", "internal use"))
BAND_TEXT = {
    "SAFE_FOR_PUBLIC_RELEASE": "Safe for public release",
    "SAFE_FOR_RESEARCH": "Safe for research (not for public release)",
    "INTERNAL_USE_ONLY": "Internal use only",
    NOT_SAFE: "Not safe to release",
}
BAND_ADVICE = {
    "SAFE_FOR_PUBLIC_RELEASE": "Release risk is within the public threshold (0.01).",
    "SAFE_FOR_RESEARCH": "Share with researchers under a data use agreement; not for public release.",
    "INTERNAL_USE_ONLY": "Keep inside the organization; raise the privacy level for wider release.",
    NOT_SAFE: "Do not release: raise the privacy level or coarsen quasi-identifiers.",
}


def risk_band(release_risk: float) -> str:
    """Reference band of a release risk: public, research, internal, or not safe."""
    return next((code for limit, code, _ in RISK_BANDS if release_risk <= limit), NOT_SAFE)


def number(v: Any) -> float | None:
    """A figure as a float, or None when it is missing, not a number or not finite."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def fmt(v: Any, digits: int = 4) -> str:
    """A figure as the report prints it: integers with separators, others with ``digits`` decimals."""
    x = number(v)
    if x is None:
        return "n/a"
    if x.is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    return f"{x:,.{digits}f}"


@dataclass(frozen=True)
class Outcome:
    """One criterion judged on one pass or release: its value, threshold, verdict and sentences."""

    kind: str
    metric: str
    value: float | None
    threshold: float | None
    passed: bool
    failure: str  # the loop's message when missed ('' when passed)
    verdict: str  # the report's sentence (a reason when passed, a problem when missed)


class Criterion:
    """A target on one figure: ``evaluate`` returns an ``Outcome``, or None where the figure or the
    policy's threshold is missing (e.g. l-diversity of a release without events)."""

    kind: str = ""
    metric: str = ""
    meaning: str = ""
    policy_field = ""  # the policy parameter holding the threshold

    def threshold(self, policy: Mapping) -> float | None:
        return number(policy.get(self.policy_field)) if self.policy_field else None

    def passes(self, value: float, threshold: float) -> bool:
        raise NotImplementedError

    def failure(self, value: float, threshold: float, policy: Mapping) -> str:
        """The loop's message when missed, with the amount."""
        raise NotImplementedError

    def verdict(self, value: float, threshold: float, passed: bool) -> str:
        """The report's sentence: a reason when met, a problem when missed."""
        raise NotImplementedError

    def evaluate(self, figures: Mapping, policy: Mapping) -> Outcome | None:
        value, threshold = number(figures.get(self.metric)), self.threshold(policy)
        if value is None or threshold is None:
            return None
        ok = bool(self.passes(value, threshold))
        return Outcome(self.kind, self.metric, value, threshold, ok,
                       "" if ok else self.failure(value, threshold, policy), self.verdict(value, threshold, ok))


class _AtLeastPolicyParameter(Criterion):
    """A figure that must reach a policy parameter (k, l)."""

    symbol, label = "", ""  # the parameter's short name in messages, the figure's name

    def passes(self, value: float, threshold: float) -> bool:
        return value >= threshold

    def failure(self, value: float, threshold: float, policy: Mapping) -> str:
        return f"{self.label} {value:.0f} < {self.symbol}={int(threshold)}"

    def verdict(self, value: float, threshold: float, passed: bool) -> str:
        return f"{self.label} {fmt(value)} {'>=' if passed else '<'} policy {self.symbol} = {fmt(threshold)}"


class KAnonymity(_AtLeastPolicyParameter):
    kind, metric, policy_field, symbol, label = K_ANONYMITY, "k_anonymity", "k", "k", "k-anonymity"
    meaning = "every published QI combination is shared by at least k people"

    def verdict(self, value: float, threshold: float, passed: bool) -> str:
        return (super().verdict(value, threshold, passed)
                + f": every published QI combination is shared by at least {fmt(value)} people.")


class _AtMostTargetRisk(Criterion):
    """A risk compared with the policy's ``target_risk``."""

    policy_field = "target_risk"

    def passes(self, value: float, threshold: float) -> bool:
        return value <= threshold


class _LoopRisk(_AtMostTargetRisk):
    label = ""

    def note(self, policy: Mapping) -> str:
        return ""

    def failure(self, value: float, threshold: float, policy: Mapping) -> str:
        return (f"{self.label} {value:.4f} > target {policy.get('target_risk')} "
                f"(by {value - threshold:.4f}{self.note(policy)})")

    def verdict(self, value: float, threshold: float, passed: bool) -> str:
        return f"{self.label[0].upper()}{self.label[1:]} {value:.4f} {'<=' if passed else '>'} target {threshold}."


class PopulationRisk(_LoopRisk):
    kind, metric, label = POPULATION_RISK, "population_average_risk", "population average risk"
    meaning = "expected share of people re-identified by matching QIs (#classes / n) is at most the target"


class LinkageRisk(_LoopRisk):
    kind, metric, label = LINKAGE_RISK, "external_linkage_risk", "external linkage risk"
    meaning = "an attacker knowing the QIs and m true events picks the right persona with at most the target chance"

    def note(self, policy: Mapping) -> str:
        return f", m={policy.get('attacker_knowledge')}"


class SingleOutRate(Criterion):
    kind, metric, policy_field = SINGLE_OUT, "persona_single_out_rate", "max_single_out_rate"
    meaning = ("at most this share of linkage attackers (QIs and m events with every released column) is left "
               "with exactly one candidate persona, the target's")

    def passes(self, value: float, threshold: float) -> bool:
        return value <= threshold

    def failure(self, value: float, threshold: float, policy: Mapping) -> str:
        return (f"persona single-out rate {value:.4f} > limit {threshold} (by {value - threshold:.4f}, "
                f"m={policy.get('attacker_knowledge')})")

    def verdict(self, value: float, threshold: float, passed: bool) -> str:
        return (f"Persona single-out rate {value:.4f} {'<=' if passed else '>'} limit {threshold}: share of linkage "
                "attackers whose knowledge leaves exactly one persona.")


class TCloseness(Criterion):
    kind, metric, policy_field = T_CLOSENESS, "t_closeness", "max_t_closeness"
    meaning = ("no persona's true outcome mix for an event type (where it holds at least k such events), nor its "
               "mix of a person-level sensitive attribute, is further than t from the overall mix (ordered "
               "distance for numeric attributes released as ranges; a limit per attribute where the policy sets one)")

    def passes(self, value: float, threshold: float) -> bool:
        return value <= threshold + 1e-12

    def failure(self, value: float, threshold: float, policy: Mapping) -> str:
        return f"t-closeness {value:.4f} > limit {threshold} (by {value - threshold:.4f})"

    def verdict(self, value: float, threshold: float, passed: bool) -> str:
        return (f"t-closeness {value:.4f} {'<=' if passed else '>'} limit {threshold}: the largest distance of a "
                "persona's true outcome mix (per event type) from the overall mix.")

    def evaluate(self, figures: Mapping, policy: Mapping) -> Outcome | None:
        """Per attribute against its own limit (``max_t_closeness_by_attribute``, else ``max_t_closeness``);
        the overall figure when the per-attribute ones are absent."""
        overall, by_attribute = self.threshold(policy), dict(policy.get("max_t_closeness_by_attribute") or {})
        per = {str(k).split(".", 1)[1]: number(v) for k, v in figures.items() if str(k).startswith("t_closeness.")}
        judged: list[tuple[str, float, float]] = []
        for a, t in sorted(per.items()):
            lim = number(by_attribute.get(a, overall))
            if t is not None and lim is not None:
                judged.append((a, t, lim))
        if not judged:
            return super().evaluate(figures, policy)
        worst_a, worst_t, worst_lim = max(judged, key=lambda j: j[1] - j[2])
        ok = all(t <= lim + 1e-12 for _, t, lim in judged)
        if ok:
            value, threshold = number(figures.get(self.metric)), overall
            if value is not None and threshold is not None and value <= threshold + 1e-12:
                return Outcome(self.kind, self.metric, value, threshold, True, "",
                               self.verdict(value, threshold, True))
            return Outcome(self.kind, self.metric, worst_t, worst_lim, True, "",
                           f"t-closeness within each attribute's limit (closest: {worst_a} {worst_t:.4f} <= "
                           f"{worst_lim}).")
        text = f"t-closeness of {worst_a} {worst_t:.4f} > limit {worst_lim} (by {worst_t - worst_lim:.4f})"
        return Outcome(self.kind, self.metric, worst_t, worst_lim, False, text, text[0].upper() + text[1:] + ".")


class ReleaseRisk(_AtMostTargetRisk):
    kind, metric = RELEASE_RISK, "release_risk"
    meaning = "the larger of population average and external linkage risk is at most the policy's target"

    def failure(self, value: float, threshold: float, policy: Mapping) -> str:
        return f"release risk {value:.4f} > target {threshold}"

    def verdict(self, value: float, threshold: float, passed: bool) -> str:
        return f"Meets the policy target risk {threshold}." if passed else \
            f"Release risk {value:.4f} is above the policy target {threshold}."


class SeriesRisk(_LoopRisk):
    kind, metric, label = SERIES_RISK, "series_risk", "series risk"
    meaning = ("an attacker with the same knowledge in every release of the window a person appears in "
               "re-identifies them at least once with at most the target chance (privacy unit: a person "
               "across the series)")

    def note(self, policy: Mapping) -> str:
        w = policy.get("series_window_months")
        return f", over the {'all-time' if w is None else f'{w}-month'} window"


class SeriesSingleOut(SingleOutRate):
    kind, metric, policy_field = SERIES_RISK, "series_single_out_rate", "max_series_single_out_rate"
    meaning = "at most this share of people have their persona singled out in at least one release of the window"

    def failure(self, value: float, threshold: float, policy: Mapping) -> str:
        return f"series single-out rate {value:.4f} > limit {threshold} (by {value - threshold:.4f})"

    def verdict(self, value: float, threshold: float, passed: bool) -> str:
        return (f"Series single-out rate {value:.4f} {'<=' if passed else '>'} limit {threshold}: share of people "
                "whose persona is singled out in at least one release of the window.")


class Differencing(_AtMostTargetRisk):
    kind, metric = DIFFERENCING, "differencing_risk"
    meaning = ("comparing a correction with the version it replaces singles out the changed people's personas, "
               "and raises their re-identification chance, by at most the target")

    def evaluate(self, figures: Mapping, policy: Mapping) -> Outcome | None:
        risk, single = number(figures.get("differencing_risk")), number(figures.get("differencing_single_out"))
        localized = number(figures.get("differencing_localized")) or 0.0
        limit = self.threshold(policy)
        if risk is None or single is None or limit is None:
            return None
        worst = max(risk, single, localized)
        ok = worst <= limit
        fresh = " (redrawn with fresh randomness)" if number(figures.get("differencing_fresh_randomness")) else ""
        text = (f"Differencing against the previous version{fresh}: single-out {single:.4f}, changed cells "
                f"located {localized:.4f}, re-identification gain {risk:.4f}, {'within' if ok else 'above'} the "
                f"limit {limit}.")
        return Outcome(self.kind, self.metric, worst, limit, ok, "" if ok else text, text)


class DPBudget(Criterion):
    kind, metric, policy_field = DP_BUDGET, "dp_rho_spent_window", "dp_rho_cap"
    meaning = ("the differentially private tables of the window's releases spend at most the window's zCDP "
               "budget (rho adds up over releases; privacy unit: a person across the series)")

    def passes(self, value: float, threshold: float) -> bool:
        return value <= threshold + 1e-12

    def failure(self, value: float, threshold: float, policy: Mapping) -> str:
        return f"DP budget: rho {value:.4f} spent in the window > cap {threshold}"

    def verdict(self, value: float, threshold: float, passed: bool) -> str:
        return (f"DP tables (OpenDP, zCDP): rho spent in the window {value:.4f} {'<=' if passed else '>'} cap "
                f"{threshold}.")

    def evaluate(self, figures: Mapping, policy: Mapping) -> Outcome | None:
        out = super().evaluate(figures, policy)
        rho, eps = number(figures.get("dp_rho")), number(figures.get("dp_epsilon"))
        if out is None or rho is None or eps is None:
            return out
        extra = (f" This release: rho {rho:.4f}, epsilon {eps:.3f} at delta {policy.get('dp_delta')}; window: "
                 f"epsilon {number(figures.get('dp_epsilon_window')) or 0.0:.3f}; each count within "
                 f"+-{number(figures.get('dp_accuracy_95')) or 0.0:.0f} at 95%.")
        return Outcome(out.kind, out.metric, out.value, out.threshold, out.passed, out.failure, out.verdict + extra)


def per_attribute(figures: Mapping, prefix: str) -> dict[str, float]:
    """``<prefix>.<attribute>`` figures by attribute, as floats (inf kept: a persona holding fewer than l values;
    missing or NaN figures left out: the attribute was not measured)."""
    out = {}
    for key, raw in figures.items():
        if str(key).startswith(prefix + "."):
            try:
                v = float(raw)
            except (TypeError, ValueError):
                continue
            if not math.isnan(v):
                out[str(key).split(".", 1)[1]] = v
    return out


class LDiversity(_AtLeastPolicyParameter):
    kind, metric, policy_field, symbol, label = L_DIVERSITY, "l_diversity_distinct", "l_diversity", "l", "l-diversity"
    meaning = ("every persona holds at least l distinct true values of each categorical sensitive attribute (per "
               "event type where it holds at least k events of the type; an attribute's own l where the policy "
               "sets one)")

    def verdict(self, value: float, threshold: float, passed: bool) -> str:
        return super().verdict(value, threshold, passed) + "."

    def evaluate(self, figures: Mapping, policy: Mapping) -> Outcome | None:
        """Each categorical attribute against its own l (``l_diversity_by_attribute``, else ``l_diversity``), the
        overall figure when the per-attribute ones are absent; a miss names the attributes below their l (binding
        first) and what would help."""
        overall, by_attribute = self.threshold(policy), dict(policy.get("l_diversity_by_attribute") or {})
        judged = [(v - lim, v, a, lim) for a, v in per_attribute(figures, "l_diversity_distinct").items()
                  if not number(figures.get(f"sensitive_ordered.{a}"))
                  and (lim := number(by_attribute.get(a, overall))) is not None]
        if not judged:
            return super().evaluate(figures, policy)
        below = sorted(j for j in judged if j[0] < 0)
        if not below:
            out = super().evaluate(figures, policy) if not by_attribute else None
            if out is not None and out.passed:
                return out
            _, v, a, lim = min(judged)
            return Outcome(self.kind, self.metric, v, lim, True, "",
                           f"l-diversity within each attribute's l (closest: {a} l {v:.0f} >= {lim:.0f}).")
        _, v, a, lim = below[0]
        named = ", ".join(f"{b} (l {bv:.0f}{'' if blim == overall else f' < {blim:.0f}'})"
                          for _, bv, b, blim in below[:4]) + (", ..." if len(below) > 4 else "")
        hint = (f": binding {named}; a count or amount among them can be declared a numeric sensitive attribute "
                "({name: ..., type: numeric}) and judged by ordered t-closeness instead of distinct l")
        failure = self.failure(v, lim, policy) + hint
        return Outcome(self.kind, self.metric, v, lim, False, failure, self.verdict(v, lim, False).rstrip(".")
                       + hint + ".")


class _PerAttributeLimit(Criterion):
    """A diversity figure per attribute gated only where the policy sets a limit for that attribute (a mapping
    attribute -> limit in ``policy_field``); kind L_DIVERSITY, so the loop's larger k acts on it."""

    kind, prefix, label, at_least = L_DIVERSITY, "", "", True

    def passes(self, value: float, threshold: float) -> bool:
        return value >= threshold - 1e-9 if self.at_least else value <= threshold + 1e-9

    def evaluate(self, figures: Mapping, policy: Mapping) -> Outcome | None:
        limits = dict(policy.get(self.policy_field) or {})
        measured = per_attribute(figures, self.prefix)
        judged = [(a, measured[a], float(lim)) for a, lim in sorted(limits.items()) if a in measured]
        if not judged:
            return None
        missed = [(a, v, lim) for a, v, lim in judged if not self.passes(v, lim)]
        margin = (lambda j: j[1] - j[2]) if self.at_least else (lambda j: j[2] - j[1])
        a, v, lim = min(missed or judged, key=margin)
        op = (">=" if self.at_least else "<=") if not missed else ("<" if self.at_least else ">")
        text = f"{self.label} of {a} {v:.4f} {op} limit {lim:g}"
        if missed:
            more = f" (and {len(missed) - 1} more attribute(s))" if len(missed) > 1 else ""
            return Outcome(self.kind, self.metric, v, lim, False, text + more, text[0].upper() + text[1:] + more + ".")
        return Outcome(self.kind, self.metric, v, lim, True, "",
                       f"{self.label[0].upper()}{self.label[1:]} within each gated attribute's limit (closest: {a} "
                       f"{v:.4f} {op} {lim:g}).")


class EntropyLDiversity(_PerAttributeLimit):
    metric, prefix, policy_field, label = ("l_diversity_entropy", "l_diversity_entropy", "min_entropy_l_by_attribute",
                                           "entropy l-diversity")
    meaning = ("every persona's mix of the attribute has entropy at least log(l) (exp of its entropy at least the "
               "attribute's limit), where the policy sets one")


class RecursiveCDiversity(_PerAttributeLimit):
    metric, prefix, policy_field, label, at_least = ("c_recursive", "c_recursive", "max_recursive_c_by_attribute",
                                                     "recursive c", False)
    meaning = ("every persona is recursive (c, l)-diverse in the attribute at its l: its most frequent value's count "
               "at most c times the counts from the l-th most frequent on, where the policy sets c")


class _FixedBound(Criterion):
    """A figure with a fixed bound (no policy parameter): met at or above it (``at_least``), else at or below."""

    bound, at_least = 0.0, True
    met, missed = "", ""  # the report's sentences; {n} is the figure as a whole number

    def threshold(self, policy: Mapping) -> float | None:
        return self.bound

    def passes(self, value: float, threshold: float) -> bool:
        return value >= threshold if self.at_least else value <= threshold

    def failure(self, value: float, threshold: float, policy: Mapping) -> str:
        return self.missed.format(n=int(value)).rstrip(".")

    def verdict(self, value: float, threshold: float, passed: bool) -> str:
        return (self.met if passed else self.missed).format(n=int(value))


class EventsPreserved(_FixedBound):
    kind, metric, bound, at_least = EVENTS_PRESERVED, "events_preserved", 1.0, True
    meaning = "every valid input event is released once: counts per event type and period are unchanged"
    met = "Every input event is released: counts per event type and period are unchanged."
    missed = "Event counts per type and period differ between input and release."


class UtilityGates(_FixedBound):
    kind, metric, bound, at_least = UTILITY_GATES, "utility_gate_failures", 0.0, False
    meaning = "every gated group outcome rate, after PRAM unbiasing, is within its gate of the original"
    met = "Every utility gate passes (group outcome rates after unbiasing)."
    missed = "{n} utility gate(s) fail."


ATTACK_NAMES = ("singling_out", "linkability", "inference")


def exceeds(risk: float, ci_low: float, limit: float | None, headline: bool = True) -> bool:
    """The Anonymeter gate on one evaluator's figure. A headline risk counts against a release when its
    point estimate is above the limit; any other figure (one secret's inference risk, the weaker
    singling-out mode) when even the lower bound of its 95% interval is above it. No limit: reported only."""
    if limit is None:
        return False
    return (risk if headline else ci_low) > limit + 1e-12


GATE_RULE = ("refused when a headline risk (singling out: the larger mode; linkability; inference: pooled over "
             "the secrets) is above max_risk, or when one secret's inference risk is above max_risk even at the "
             "lower bound of its 95% confidence interval; before refusing, k is doubled and the loop rerun, up to "
             "3 times")


class AttackRisks(Criterion):
    kind, metric, policy_field = ATTACKS, "anonymeter_*_risk", "anonymeter_max_risk"
    meaning = ("no independent (Anonymeter) attack risk is above the limit, and no secret's inference risk "
               "is above it even at its 95% lower bound")

    def _outcome(self, worst: float, limit: float | None, passed: bool, text: str) -> Outcome:
        return Outcome(self.kind, self.metric, worst, limit, passed, "" if passed else text, text)

    def evaluate(self, figures: Mapping, policy: Mapping) -> Outcome | None:
        """Several figures (one per attack, plus per-secret gate failures), so judged here in full."""
        m = {k: number(v) for k, v in figures.items()}
        limit = self.threshold(policy)
        attacks = [a for a in ATTACK_NAMES if m.get(f"anonymeter_{a}_risk") is not None]
        if not attacks:
            return None
        risk = {a: r for a in attacks if (r := m[f"anonymeter_{a}_risk"]) is not None}  # every attack
        over = [a for a in attacks if exceeds(risk[a], m.get(f"anonymeter_{a}_ci_low") or 0.0, limit)]
        shown = ", ".join(f"{a.replace('_', ' ')} {risk[a]:.4f}" for a in attacks)
        worst = max(risk[a] for a in attacks)
        if over:
            text = f"Anonymeter risks above the limit {limit}: " + ", ".join(a.replace('_', ' ') for a in over) \
                + f" ({shown})."
            return self._outcome(worst, limit, False, text)
        if limit is not None and (m.get("anonymeter_gate_failures") or 0) > 0:
            text = (f"An Anonymeter inference risk of one secret is above the limit {limit} even at the "
                    f"lower bound of its 95% interval ({shown}).")
            return self._outcome(worst, limit, False, text)
        return self._outcome(worst, limit, True, f"Independent attacks (Anonymeter): {shown}" + (
            f", none above the limit {limit}." if limit is not None else " (reported, not gated)."))


# What the privacy loop escalates on, in the order its failure messages list them.
LOOP_TARGETS: tuple[Criterion, ...] = (KAnonymity(), PopulationRisk(), LinkageRisk(), LDiversity(), EntropyLDiversity(),
                                       RecursiveCDiversity(), SingleOutRate(), TCloseness())
# What a release's verdict states, in the report's order.
VERDICT_TARGETS: tuple[Criterion, ...] = (ReleaseRisk(), KAnonymity(), LDiversity(), EntropyLDiversity(),
                                          RecursiveCDiversity(), TCloseness(), SingleOutRate(),
                                          EventsPreserved(), UtilityGates(), AttackRisks(), SeriesRisk(),
                                          SeriesSingleOut(), Differencing(), DPBudget())


def judge(figures: Mapping, policy: Mapping, criteria=LOOP_TARGETS) -> tuple[Outcome, ...]:
    """Every applicable criterion judged on the figures under the policy."""
    return tuple(o for c in criteria if (o := c.evaluate(figures, policy)) is not None)


def missed(figures: Mapping, policy: Mapping, criteria=LOOP_TARGETS) -> tuple[Outcome, ...]:
    """The criteria the figures miss, each with its message."""
    return tuple(o for o in judge(figures, policy, criteria) if not o.passed)


def safe_for(figures: Mapping, policy: Mapping, limit: float) -> bool:
    """Release risk within ``limit``, every class of at least k people, every event kept."""
    r = number(figures.get("release_risk"))
    if r is None or r > limit:
        return False
    return all(o.passed for o in judge(figures, policy, (KAnonymity(), EventsPreserved())))


# --- what the released tables themselves must satisfy ---------------------------------------------

def dates_at_precision(events: pd.DataFrame, precision: str) -> pd.DataFrame:
    """One boolean column per released date column: is each date the first day of its period at the
    policy's precision (so no date is finer than the precision)? Missing dates count as fine."""
    out = {}
    for col in (EVENT_DATE, END_DATE):
        if col in events.columns:
            d = events[col].to_numpy().astype("datetime64[D]")
            out[f"{col}_at_period_start"] = np.isnat(d) | (period_start(d, precision) == d)
    return pd.DataFrame(out)


def distinct_dates(events: pd.DataFrame) -> pd.DataFrame:
    """The distinct combinations of the released date columns (as days, missing kept), one row each: a check
    that holds for every row holds for these (tens of rows instead of 10M events), counted in O(rows)."""
    cols = [c for c in (EVENT_DATE, END_DATE) if c in events.columns]
    if not cols or not len(events):
        return pd.DataFrame({c: np.zeros(0, dtype="datetime64[D]") for c in cols})
    codes, values = [], []
    for col in cols:
        days = events[col].to_numpy().astype("datetime64[D]")
        nat = np.isnat(days)
        ints = days.view(np.int64).copy()
        fill = int(ints[~nat].max()) + 1 if (~nat).any() else 0  # missing: one value above every date
        ints[nat] = fill
        c, uniq = dense_codes(ints)
        shown = uniq.astype("datetime64[D]")
        shown[(uniq == fill) & nat.any()] = np.datetime64("NaT")
        codes.append(c)
        values.append(shown)
    key = codes[0].astype(np.int64)
    for c, v in zip(codes[1:], values[1:]):
        key = key * len(v) + c
    present = np.flatnonzero(np.bincount(key, minlength=int(np.prod([len(v) for v in values]))))
    out, rest = {}, present
    for col, v in reversed(list(zip(cols, values))):
        out[col] = v[rest % len(v)]
        rest = rest // len(v)
    return pd.DataFrame({c: out[c] for c in cols})


def identifier_columns(tables: Mapping[str, pd.DataFrame], direct_identifiers: tuple[str, ...] = ()) -> list[str]:
    """Columns of released tables that must never be published: person ids, birth dates and the
    domain's direct identifiers (names, SSN, ...). Empty: the release carries none."""
    forbidden = {PERSON_ID, BIRTH_DATE, "name", "ssn"} | {c.lower() for c in direct_identifiers}
    return [f"{name}.{c}" for name, df in tables.items() for c in df.columns if str(c).lower() in forbidden]

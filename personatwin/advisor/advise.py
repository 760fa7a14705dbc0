"""The advisor in the privacy loop: one more candidate configuration for a refused release, and explanations.

``release_with_advisor`` runs the loop; when it refuses (no configuration meets every target), it asks the
advisor for a recommendation, keeps only the changes that are at least as protective as the configuration
they replace (``schema.validate_changes``: a target is never lowered, a check never skipped), and runs the
loop once more from there. That candidate is released only if every target holds, exactly as any other
configuration; otherwise the original refusal stands, saying what was tried. The explanation of the verdict
(or the refusal) and every exchange go to the release's ``advice`` record: internal report only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, replace
from typing import Any

from personatwin.advisor.base import Advice, Advisor, Change, Explanation, Recommendation
from personatwin.advisor.payload import explain_payload, recommend_payload
from personatwin.advisor.schema import validate_changes
from personatwin.core.domains import Domain
from personatwin.core.errors import PrivacyTargetError
from personatwin.core.policy import PrivacyPolicy
from personatwin.core.sensitive import NUMERIC, SensitiveAttribute
from personatwin.publish.report import verdict
from personatwin.release.release import Release

MakeRelease = Callable[[PrivacyPolicy, Domain], Release]


def configuration_of(policy: PrivacyPolicy) -> dict[str, Any]:
    """What a recommendation is judged against: the policy's parameters (k, levels, dates, PRAM, l)."""
    return policy.parameters()


def apply_changes(policy: PrivacyPolicy, domain: Domain, changes: tuple[Change, ...]) -> tuple[PrivacyPolicy, Domain]:
    """The policy (and domain, for range hierarchies of sensitive counts) with accepted changes applied."""
    fields: dict[str, Any] = {}
    levels = dict(policy.qi_levels)
    types = dict(domain.sensitive_types)
    for change in changes:
        if change.field == "age_level":
            levels["age"] = int(change.value)
        elif change.field == "numeric_ranges":
            for attribute, edges in dict(change.value).items():
                types[attribute] = SensitiveAttribute(attribute, NUMERIC, cuts=tuple(float(e) for e in edges))
        elif change.field in ("k", "location_level", "l_diversity"):
            fields[change.field] = int(change.value)
        else:  # date_precision, pram_p
            fields[change.field] = change.value
    if "k" in fields:
        fields["max_k"] = max(policy.max_k, fields["k"])
    return policy.with_changes(qi_levels=levels, **fields), replace(domain, sensitive_types=types)


def _failures(exc: PrivacyTargetError) -> tuple[str, ...]:
    history = getattr(exc, "history", ())
    return tuple(getattr(history[-1], "failures", ())) if history else ()


def _best(exc: PrivacyTargetError) -> tuple[Mapping[str, Any], PrivacyPolicy | None]:
    best = getattr(exc, "best", None)
    if best is None:
        return {}, None
    return best.figures(), best.policy


def explain_release(advisor: Advisor, release: Release) -> Advice:
    """The advisor's explanation of a release's verdict (figures, targets and the rule-based verdict)."""
    metrics, policy = release.metrics(), release.policy.parameters()
    v = verdict(metrics, policy)
    rule = f"{v.code}: {v.label}. " + " ".join((*v.reasons, *v.problems))
    return advisor.explain(explain_payload(metrics, policy, (), rule, release.domain))


def explain_refusal(advisor: Advisor, exc: PrivacyTargetError, domain: Domain) -> Advice:
    """The advisor's explanation of a refusal (the lowest-risk pass's figures and what it missed)."""
    figures, policy = _best(exc)
    refusal = getattr(exc, "refusal", None)
    text = refusal.text() if refusal is not None else str(exc)
    params = policy.parameters() if policy is not None else {}
    return advisor.explain(explain_payload(figures, params, _failures(exc), "NOT_SAFE_FOR_RELEASE", domain, text))


def recommend_for_refusal(advisor: Advisor, exc: PrivacyTargetError, requested: PrivacyPolicy,
                          domain: Domain) -> tuple[Advice, tuple[Change, ...], tuple[str, ...]]:
    """The advisor's recommendation for a refusal and, of its changes, those accepted (never weaker than the
    requested configuration) and those rejected with the reason."""
    figures = _best(exc)[0]  # the lowest-risk pass's figures; the changes are judged against the requested policy
    refusal = getattr(exc, "refusal", None)
    params = configuration_of(requested)
    advice = advisor.recommend(recommend_payload(figures, params, _failures(exc), domain,
                                                 refusal.text() if refusal is not None else str(exc)))
    rec: Recommendation = advice.value
    accepted, rejected = validate_changes(rec.changes, params)
    return advice, tuple(accepted), tuple(rec.rejected) + tuple(rejected)


def advice_record(explanation: Advice | None, recommendation: Advice | None = None, tried: str = "",
                  accepted: tuple[Change, ...] = (), rejected: tuple[str, ...] = ()) -> dict[str, Any]:
    """The advice as JSON for the internal report: explanation (marked generated), recommendation, what the
    engine did with it, and every exchange (provider, model, time, payload hash, payload, reply)."""
    out: dict[str, Any] = {"exchanges": []}
    if explanation is not None:
        e: Explanation = explanation.value
        out["explanation"] = asdict(e)
        out["exchanges"] += [asdict(x) for x in explanation.exchanges]
    if recommendation is not None:
        r: Recommendation = recommendation.value
        out["recommendation"] = {"changes": [asdict(c) for c in r.changes], "rationale": r.rationale,
                                 "generated_by": r.generated_by, "note": r.note,
                                 "accepted": [asdict(c) for c in accepted], "rejected": list(rejected),
                                 "tried": tried}
        out["exchanges"] += [asdict(x) for x in recommendation.exchanges]
    return out


def release_with_advisor(make: MakeRelease, policy: PrivacyPolicy, domain: Domain, advisor: Advisor) -> Release:
    """``make(policy, domain)``; after a refusal, once more from the advisor's accepted changes (released only if
    every target holds there). The release carries the advice; a refusal that stands carries it too
    (``exc.advice``) and says what was tried."""
    try:
        release = make(policy, domain)
    except PrivacyTargetError as exc:
        advice, accepted, rejected = recommend_for_refusal(advisor, exc, policy, domain)
        if not accepted:
            exc.advice = advice_record(explain_refusal(advisor, exc, domain), advice,  # type: ignore[attr-defined]
                                       "nothing tried: no change the advisor proposed is at least as protective",
                                       accepted, rejected)
            raise
        candidate, cand_domain = apply_changes(policy, domain, accepted)
        changed = ", ".join(f"{c.field} = {c.value}" for c in accepted)
        try:
            release = make(candidate, cand_domain)
        except PrivacyTargetError as again:
            exc.advice = advice_record(explain_refusal(advisor, exc, domain), advice,  # type: ignore[attr-defined]
                                       f"tried ({changed}): refused too: {str(again)[:300]}", accepted, rejected)
            raise exc from None
        record = advice_record(explain_release(advisor, release), advice,
                               f"tried ({changed}): every target holds; released", accepted, rejected)
        return replace(release, advice=record)
    return replace(release, advice=advice_record(explain_release(advisor, release)))

"""Publishing one period of a series: its version, the differencing check and the series-risk gate.

``plan_version`` reads the ledger: a period never published gets version 1; unchanged data (same
keyed data tag) gets its published version back, with the same randomness, so it is reproduced byte
for byte; changed data (a correction, late records) gets the next version. A new version first reuses
the previous version's randomness (the smallest change for analysts); if the differencing attack on
the two versions does better than the policy allows, the whole period is redrawn with a fresh,
recorded nonce. ``release_in_series`` then composes the release with every other release of the
window (``composition.series_risk``) and raises k while the series risk is above the target, or
refuses the release.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from personatwin.core.errors import DifferencingError, SeriesRiskError
from personatwin.core.keys import ReleaseKey
from personatwin.core.policy import PrivacyPolicy
from personatwin.measure.criteria import LINKAGE_RISK, SERIES_RISK, SINGLE_OUT
from personatwin.protect.prepared import PassContext
from personatwin.release.identity import table_digest
from personatwin.release.ladder import escalate, single_out_steps
from personatwin.release.release import Release
from personatwin.series.composition import SeriesRisk, series_risk
from personatwin.series.differencing import DifferencingResult, differencing_attack
from personatwin.series.exposure import release_exposure
from personatwin.series.ledger import Ledger, LedgerEntry

SERIES_ESCALATIONS = 8  # series escalations (k doubled 5 -> 100; amounts, location, age coarsened) before refusing


def data_tag(key: ReleaseKey, people: pd.DataFrame, events: pd.DataFrame, series: str,
             digests: tuple[bytes, bytes] | None = None) -> str:
    """Keyed, order-free tag of the validated tables: equal exactly when the data is (for reruns).
    ``digests``: their ``table_digest``s when already computed."""
    people_digest, events_digest = digests if digests is not None else (table_digest(people), table_digest(events))
    return key.tag("series-data", series.encode("utf-8") + people_digest + events_digest)[:32]


@dataclass(frozen=True)
class SeriesPlan:
    """The identity a release of one period will have in its series."""

    series: str
    period: str
    version: int
    data_tag: str
    previous: LedgerEntry | None = None  # the latest published version of the period, if any
    unchanged: bool = False  # the data is that of the latest version: republish it identically
    nonce: str | None = None  # fresh randomness (a correction that failed its differencing check)
    window_months: int | None = 12

    @property
    def release_id(self) -> str:
        return f"{self.series}/{self.period}/v{self.version}"

    @property
    def salt(self) -> str:
        """What seeds the draws with the key: the period (shared by versions), or period and nonce."""
        if self.unchanged and self.previous is not None:
            return self.previous.figures.get("salt", self.period)
        return self.period if self.nonce is None else f"{self.period}/{self.nonce}"

    def with_fresh_nonce(self) -> SeriesPlan:
        return replace(self, nonce=secrets.token_hex(8))

    @property
    def supersedes(self) -> int | None:
        """The version this one corrects (as recorded, for a republished version)."""
        if self.previous is None:
            return None
        return self.previous.supersedes if self.unchanged else self.previous.version

    def identity(self) -> dict:
        """The series section of the manifest (published)."""
        return {"series": self.series, "period": self.period, "version": self.version,
                "release_id": self.release_id, "supersedes": self.supersedes,
                "fresh_randomness": self.nonce is not None, "window_months": self.window_months}

    def entry(self, recipients: tuple[str, ...], figures: dict, recorded_at: str) -> LedgerEntry:
        return LedgerEntry(self.series, self.period, self.version, self.release_id, self.data_tag,
                           tuple(recipients), self.supersedes, self.nonce, recorded_at, {**figures, "salt": self.salt})


def plan_version(ledger: Ledger, series: str, period: str, tag: str, window_months: int | None = 12) -> SeriesPlan:
    """Version 1, the published version again (unchanged data), or the next version (changed data)."""
    latest = ledger.latest(series, period)
    if latest is None:
        return SeriesPlan(series, period, 1, tag, window_months=window_months)
    for entry in ledger.versions(series, period):
        if entry.data_tag == tag:  # this very data was published: reproduce that version
            return SeriesPlan(series, period, entry.version, tag, entry, True, entry.nonce, window_months)
    return SeriesPlan(series, period, latest.version + 1, tag, latest, window_months=window_months)


@dataclass(frozen=True)
class SeriesOutcome:
    """A release checked as part of its series."""

    release: Release
    plan: SeriesPlan
    exposure: pd.DataFrame  # internal
    series: SeriesRisk
    differencing: DifferencingResult | None
    escalations: int

    def figures(self) -> dict[str, float]:
        """Series and differencing figures; a republished version shows those recorded when it was first
        published (later releases of the window do not change what that version's files say)."""
        if self.plan.unchanged and self.plan.previous is not None:
            return {k: float(v) for k, v in self.plan.previous.figures.items()
                    if k.startswith(("series_", "differencing_"))}
        out = {**self.series.metrics(), "series_escalations": float(self.escalations),
               "series_version": float(self.plan.version)}
        if self.differencing is not None:
            out.update(self.differencing.figures())
        return out

    def ledger_figures(self) -> dict:
        """What the ledger keeps to reproduce this version: its figures, the policy the loop started from, and the
        whole configuration released (what ``PERSONATWIN_POLICY_FROM`` pins for later periods)."""
        return {**self.figures(), "start": start_fields(self.release.requested_policy),
                "configuration": self.release.policy.configuration()}


PreviousTables = Callable[[LedgerEntry], tuple[pd.DataFrame, pd.DataFrame]]
START_FIELDS = ("k", "location_level", "value_rounding", "age_level")


def start_fields(policy: PrivacyPolicy) -> dict:
    """The settings a series escalates (k, location, amount rounding, age bands) of a starting policy."""
    return {"k": policy.k, "location_level": policy.location_level, "value_rounding": policy.value_rounding,
            "age_level": policy.qi_level("age")}


def with_start(policy: PrivacyPolicy, start: Mapping) -> PrivacyPolicy:
    """The policy with a recorded starting point's k, location, amount rounding and age bands."""
    return policy.with_changes(k=int(start["k"]), location_level=int(start["location_level"]),
                               value_rounding=float(start["value_rounding"]),
                               qi_levels={**policy.qi_levels, "age": int(start["age_level"])})


def series_start(policy: PrivacyPolicy, window: list[LedgerEntry], n_people: int) -> PrivacyPolicy:
    """A series keeps the protection its window needed so far: each escalated setting at the coarsest of
    the requested policy and the window's releases (no escalating again from scratch every period)."""
    starts = [start_fields(policy)] + [e.figures["start"] for e in window if "start" in e.figures]
    coarsest = {f: max(float(s[f]) for s in starts) for f in START_FIELDS}
    coarsest["k"] = min(coarsest["k"], policy.max_k, n_people)
    return with_start(policy, coarsest)


def release_in_series(ctx: PassContext, make: Callable[[PassContext], Release], ledger: Ledger, plan: SeriesPlan,
                      previous_tables: PreviousTables | None = None,
                      escalations: int = SERIES_ESCALATIONS,
                      make_final: Callable[[PassContext], Release] | None = None) -> SeriesOutcome:
    """Release ``ctx`` as ``plan`` says, checked against its previous version and its window (module doc).

    ``make`` runs the privacy loop on a context; ``make_final``, when given, makes the release once the
    series checks hold (e.g. with the costly independent attack evaluation, so it runs once, not per
    escalation), and its release is checked again. ``previous_tables`` reads a published version's
    personas and events (needed for a new version of a published period)."""
    ctx = replace(ctx, salt=plan.salt)
    window = [e for e in ledger.window(plan.series, plan.period, plan.window_months)
              if not (e.period == plan.period and e.version == plan.version)]
    if plan.unchanged and plan.previous is not None and "start" in plan.previous.figures:
        ctx = ctx.with_policy(with_start(ctx.policy, plan.previous.figures["start"]))
    else:
        ctx = ctx.with_policy(series_start(ctx.policy, window, ctx.data.n_people))
    earlier = [ledger.exposure(e) for e in window]
    domain = ctx.data.domain
    max_levels = {q: domain.hierarchy(q).n_levels for q in domain.qis}
    loc_levels = domain.hierarchy(domain.location_qi).n_levels if domain.location_qi else 1
    target = ctx.policy.target_risk
    steps = 0
    final = make_final is None
    last = None  # (context, grouping, exposure) of the previous pass through the loop
    while True:
        release = make_final(ctx) if final and make_final is not None else make(ctx)
        assert release.person_persona is not None
        released = ctx.with_policy(release.policy)  # the loop may have coarsened the start: what is published
        if last is not None and released.same_as(last[0]) and np.array_equal(last[1], release.person_persona):
            exposure = last[2]  # the final release is the pass just checked: its exposure is already made
        else:
            exposure = release_exposure(released, release.person_persona, stages=release.stages)
            last = (released, release.person_persona, exposure)
        diff = None
        if plan.previous is not None and not plan.unchanged:
            if previous_tables is None:
                raise ValueError("a new version needs the previous version's published tables")
            old_p, old_e = previous_tables(plan.previous)
            published_qis = [q for q in domain.qis if q in exposure.columns]
            diff = differencing_attack((old_p, old_e, ledger.exposure(plan.previous)),
                                       (release.personas.to_dataframe(), release.events, exposure),
                                       published_qis, target, fresh_randomness=plan.nonce is not None)
            if not diff.passed:
                if plan.nonce is None:  # redraw the whole period with fresh randomness, then check again
                    plan = plan.with_fresh_nonce()
                    ctx = replace(ctx, salt=plan.salt)
                    continue
                raise DifferencingError(f"{plan.release_id}: {diff.sentence()} Nothing is released; publish the "
                                        "correction with the next regular release.", release.history)
        risk = series_risk(exposure, earlier)
        missed = series_missed(risk, ctx.policy.parameters())
        if plan.unchanged or not missed:
            if final:
                return SeriesOutcome(release, plan, exposure, risk, diff, steps)
            final = True  # the series holds: make the release itself once, and check it again
            continue
        final = make_final is None
        nxt = next_start(ctx.policy, release.policy, missed, max_levels, loc_levels, ctx.data.n_people)
        if steps >= escalations or nxt is None:
            reasons = "; ".join(text for _, text in missed)
            raise SeriesRiskError(f"{plan.release_id}: {reasons} over {risk.n_releases} release(s) "
                                  f"of the {_window(plan.window_months)} window (people appear in "
                                  f"{risk.mean_releases_per_target:.1f} on average), at k = {release.policy.k} after "
                                  f"{steps} series escalation(s). Nothing is released: coarsen the release, or wait "
                                  "until earlier releases leave the window.", release.history)
        steps += 1
        ctx = ctx.with_policy(nxt)  # the requested policy, escalated: reproducible from the ledger


def series_missed(risk: SeriesRisk, policy: Mapping) -> list[tuple[str, str]]:
    """The series targets a release misses under a policy's parameters, each as (target kind, sentence):
    ``criteria.SERIES_RISK`` for the re-identification risk, ``criteria.SINGLE_OUT`` for single-out."""
    out = []
    target, releases = float(policy["target_risk"]), float(policy["series_expected_releases"])
    if risk.risk > target:
        out.append((SERIES_RISK, f"series risk {risk.risk:.4f} > target {target}"))
    if risk.release_risk > target / releases:
        out.append((SERIES_RISK, f"this release's share of it {risk.release_risk:.4f} > {target / releases:.4f} "
                                 "(target / series_expected_releases)"))
    limit = policy.get("max_series_single_out_rate")
    if limit is not None:
        if risk.single_out_rate > limit:
            out.append((SINGLE_OUT, f"series single-out rate {risk.single_out_rate:.4f} > limit {limit}"))
        if risk.release_single_out > limit / releases:
            out.append((SINGLE_OUT, f"this release's single-out rate {risk.release_single_out:.4f} > "
                                    f"{limit / releases:.4f}"))
    return out


def next_start(requested: PrivacyPolicy, released: PrivacyPolicy, missed: list[tuple[str, str]],
               max_levels: Mapping[str, int], location_levels: int, n_people: int) -> PrivacyPolicy | None:
    """The next starting policy: coarser amounts, location or age for a single-out miss (k does not lower it),
    else the released configuration with k doubled, or, at the largest k, one step coarser where it lowers
    linkage (age bands, location, dates); None when nothing is left.

    A series-risk miss starts from the released configuration, not the requested one: the loop's search would
    otherwise refine the coarsening it needed back to the edge of the per-release target (issue 13)."""
    if any(kind == SINGLE_OUT for kind, _ in missed):
        steps = single_out_steps(requested, max_levels, location_levels)
        return steps[0].policy if steps else None
    k_next = int(min(released.k * 2, released.max_k, n_people))
    if k_next > released.k:
        return released.with_changes(k=k_next)
    coarser = [step for step in escalate(released, max_levels, location_levels)
               if LINKAGE_RISK in step.acts_on and step.policy.k == released.k]
    return coarser[0].policy if coarser else None


def _window(months: int | None) -> str:
    return "all-time" if months is None else f"{months}-month"


"""One protection pass: merge -> noise -> risk -> utility at fixed policy parameters.

``protect`` is what the auto-adjust loop repeats; strings are only built for the released tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from personatwin.core.policy import PrivacyPolicy
from personatwin.measure import criteria, risk, utility
from personatwin.measure.assess import StageClock, evaluate
from personatwin.protect import noise
from personatwin.protect.merge import Grouping
from personatwin.protect.personas import PersonaAttributes
from personatwin.protect.prepared import PassContext
from personatwin.protect.stages import Merged, Noised, merge_stage, noise_stage


@dataclass(frozen=True)
class Protection:
    """The result of one pass: release tables plus every risk and utility figure."""

    policy: PrivacyPolicy
    personas: pd.DataFrame
    events: pd.DataFrame
    sensitive: pd.DataFrame  # person-level sensitive attributes per persona (persona_id, attribute, value, count)
    pram: noise.PramMatrix
    risk: risk.RiskReport
    utility: utility.UtilityReport
    grouping: Grouping = field(repr=False)
    attributes: PersonaAttributes = field(repr=False)
    person_persona: np.ndarray = field(repr=False)  # internal only: never exported
    suppressed_events: int = 0
    timings: dict = field(default_factory=dict, repr=False)  # seconds per stage of this pass
    # internal: the merge and noise stages this pass was made of (the series exposure of the released pass
    # reuses them instead of rebuilding both); never exported
    stages: tuple[Merged, Noised] | None = field(default=None, repr=False, compare=False)

    def figures(self) -> dict:
        """Every risk and utility figure of this pass, by metric name (what the criteria read)."""
        return {**self.risk.as_dict(), **self.utility.as_dict()}

    def missed(self) -> tuple[criteria.Outcome, ...]:
        """The loop's targets (``criteria.LOOP_TARGETS``) this pass misses, each with its kind and amount."""
        return criteria.missed(self.figures(), self.policy.parameters())

    def failures(self) -> tuple[str, ...]:
        """Targets this pass misses, each with the amount, as text."""
        return tuple(o.failure for o in self.missed())


def protect(ctx: PassContext, grouping: Grouping | None = None) -> Protection:
    """One protection pass at fixed parameters; the key and salt drive every random draw."""
    clock = StageClock()
    merged = merge_stage(ctx, grouping)
    clock.lap("merge")
    noised = noise_of(ctx, merged)
    clock.lap("noise")
    return protection_of(ctx, merged, noised, clock)


def noise_of(ctx: PassContext, merged: Merged) -> Noised:
    """The noise stage, shard by shard on the context's runner when it has one (and more than one bucket): the
    same result either way."""
    if ctx.runner is not None and ctx.n_buckets > 1:
        from personatwin.scale.noise import sharded_noise_stage

        return sharded_noise_stage(ctx, merged, ctx.runner)  # type: ignore[arg-type]
    return noise_stage(ctx, merged)


def protection_of(ctx: PassContext, merged: Merged, noised: Noised, clock: StageClock | None = None) -> Protection:
    """The pass made of these merge and noise stages, with its risk and utility."""
    risk_report, util = evaluate(ctx, merged, noised, clock)
    return Protection(ctx.policy, merged.personas, noised.events, noised.sensitive, noised.pram, risk_report, util,
                      merged.grouping, merged.attributes, merged.person_persona,
                      timings=clock.laps if clock is not None else {}, stages=(merged, noised))

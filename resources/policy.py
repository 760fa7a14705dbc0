"""The privacy policy of the releases: a level preset with optional overrides, or a reviewed release's policy
pinned for later periods (``PERSONATWIN_POLICY_FROM``)."""

from __future__ import annotations

import dagster as dg

from personatwin.core.errors import PinnedConfigurationError
from personatwin.core.policy import PrivacyPolicy, UtilityGates, policy_for_level
from personatwin.govern.pinned import PinnedConfiguration, pinned_configuration, with_overrides
from personatwin.series.ledger import Ledger
from resources import fs


class PrivacyPolicyResource(dg.ConfigurableResource):
    """Privacy level, target risk and overrides of the preset (None keeps the preset's value). With ``policy_from``
    (a published period) the policy that release was published under replaces the level's preset: the privacy
    loop starts at its final configuration, and any override set here is a change of configuration."""

    level: str = "high"
    target_risk: float | None = None
    k: int | None = None
    date_precision: str | None = None
    pram_p: float | None = None
    attacker_knowledge: int | None = None
    l_diversity: int | None = None
    linkage_targets: int | None = None
    series_expected_releases: float | None = None  # planning share of the series budget (None: the preset's)
    dp_rho_per_release: float | None = None  # DP tables (zCDP rho per release); None: none released
    dp_rho_cap: float | None = None  # the window's rho budget; None: 12 releases' worth
    overlapping_public_data: list[str] = []  # known public data that could be linked (the dossier's checklist)
    max_quarantine_share: float = 0.05  # a partition quarantining more than this share is not released
    max_iterations: int = 25
    policy_from: str = ""  # a published period whose policy and final configuration are pinned ("": none)
    pinned_ledger: str = ""  # the series ledger that recorded it
    pinned_series: str = ""  # its series ("": the only series that published that period)
    pinned_reviewed: bool = False  # only a release that went through disclosure review may be pinned

    def _overrides(self) -> dict:
        return dict(target_risk=self.target_risk, k=self.k, date_precision=self.date_precision, pram_p=self.pram_p,
                    attacker_knowledge=self.attacker_knowledge, l_diversity=self.l_diversity,
                    linkage_targets=self.linkage_targets, dp_rho_per_release=self.dp_rho_per_release,
                    dp_rho_cap=self.dp_rho_cap, series_expected_releases=self.series_expected_releases,
                    overlapping_public_data=tuple(self.overlapping_public_data) or None)

    def pinned(self) -> PinnedConfiguration | None:
        """The pinned release's policy, read from the series ledger (None when nothing is pinned); a period that
        cannot be pinned fails the run with the reason."""
        if not self.policy_from:
            return None
        try:
            if not self.pinned_ledger or fs.is_url(self.pinned_ledger):
                raise PinnedConfigurationError(f"PERSONATWIN_POLICY_FROM={self.policy_from}: no local series ledger "
                                               "to read the pinned configuration from (PERSONATWIN_SERIES)")
            ledger = Ledger(fs.local_path(self.pinned_ledger))
            series = self.pinned_series or _only_series(ledger, self.policy_from)
            return pinned_configuration(ledger, series, self.policy_from, reviewed=self.pinned_reviewed)
        except PinnedConfigurationError as exc:
            raise dg.Failure(description=str(exc)) from None

    def resolve(self) -> tuple[PrivacyPolicy, PinnedConfiguration | None]:
        """The policy of this run and the pinned release it comes from (None: the level's preset), read once."""
        pinned = self.pinned()
        if pinned is not None:
            return with_overrides(pinned, self._overrides()), pinned
        return policy_for_level(self.level, **self._overrides()), None

    def policy(self) -> PrivacyPolicy:
        return self.resolve()[0]

    def gates(self) -> UtilityGates:
        return self.policy().gates


def _only_series(ledger: Ledger, period: str) -> str:
    """The series that published ``period`` (a ledger shared by several populations must name one)."""
    series = sorted({e.series for e in ledger.entries() if e.period == period})
    if len(series) > 1:
        raise PinnedConfigurationError(f"PERSONATWIN_POLICY_FROM={period}: series {', '.join(series)} each published "
                                       f"{period}; name one as <series>:{period}")
    return series[0] if series else ""

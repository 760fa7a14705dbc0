"""The privacy policy of the releases: a level preset with optional overrides."""

from __future__ import annotations

import dagster as dg

from personatwin.core.policy import PrivacyPolicy, UtilityGates, policy_for_level


class PrivacyPolicyResource(dg.ConfigurableResource):
    """Privacy level, target risk and overrides of the preset (None keeps the preset's value)."""

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
    max_quarantine_share: float = 0.05  # a partition quarantining more than this share is not released
    max_iterations: int = 25

    def policy(self) -> PrivacyPolicy:
        return policy_for_level(self.level, target_risk=self.target_risk, k=self.k, date_precision=self.date_precision,
                                pram_p=self.pram_p, attacker_knowledge=self.attacker_knowledge,
                                l_diversity=self.l_diversity, linkage_targets=self.linkage_targets,
                                dp_rho_per_release=self.dp_rho_per_release, dp_rho_cap=self.dp_rho_cap,
                                series_expected_releases=self.series_expected_releases)

    def gates(self) -> UtilityGates:
        return self.policy().gates

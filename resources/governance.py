"""Disclosure review: where runs stage their releases, where decisions are logged, how many approvals publish one."""

from __future__ import annotations

import dagster as dg

from personatwin.govern.approvals import ApprovalLog, ApprovalPolicy
from personatwin.govern.staging import StagingArea


class GovernanceResource(dg.ConfigurableResource):
    """Local (or mounted) internal folders, never under the releases root. ``required`` distinct reviewers,
    none the run's launcher, publish a staged release; 0 publishes at export without review (local and ci
    environments only: ``personatwin_dag.environments`` refuses it in prod)."""

    staging: str
    approvals: str
    required: int = 2

    @property
    def reviewed(self) -> bool:
        return self.required > 0

    def area(self) -> StagingArea:
        return StagingArea(self.staging)

    def log(self) -> ApprovalLog:
        return ApprovalLog(self.approvals)

    def policy(self) -> ApprovalPolicy:
        return ApprovalPolicy(required=max(1, self.required))

"""A reviewed configuration pinned for later periods (ARX users' "reuse the configuration the board approved").

A published release's whole policy (its targets and the configuration the privacy loop released) is kept in the
series ledger. Pinned (``PERSONATWIN_POLICY_FROM=<period>``), it is where the next periods' loop starts: a
month that meets every pinned target at that very configuration is released unchanged and needs only the
approvals; a month whose loop had to move (a target missed, the series coarsened it, an override) is released
at the configuration that holds, and the change is flagged so that its reviewers do a full review.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from personatwin.core.errors import PinnedConfigurationError
from personatwin.core.policy import PrivacyPolicy, policy_from_configuration
from personatwin.series.ledger import Ledger

APPROVALS_ONLY, FULL_REVIEW = "approvals only", "full review"


@dataclass(frozen=True)
class PinnedConfiguration:
    """The policy of one published release, as the series ledger recorded it."""

    period: str
    version: int
    release_id: str
    configuration: Mapping[str, Any]
    approval_id: str = ""  # the review board's number of the pinned release (empty: published without review)

    @property
    def policy(self) -> PrivacyPolicy:
        return policy_from_configuration(self.configuration)

    def source(self) -> str:
        """The pinned release in words: period, version and approval id."""
        return (f"{self.period} (version {self.version}"
                + (f", approval {self.approval_id}" if self.approval_id else ", published without review") + ")")


@dataclass(frozen=True)
class ConfigurationChange:
    """One field whose released value differs from the pinned one."""

    field: str
    pinned: Any
    released: Any

    def text(self) -> str:
        return f"{self.field} {self.pinned!r} -> {self.released!r}"


def pinned_configuration(ledger: Ledger, series: str, period: str, *, reviewed: bool = False) -> PinnedConfiguration:
    """The configuration of ``period``'s latest published version of ``series``; with ``reviewed``, only a release
    that went through disclosure review (it has an approval id) may be pinned. ``PinnedConfigurationError`` says
    what is missing."""
    entry = ledger.latest(series, period)
    if entry is None:
        published = sorted({e.period for e in ledger.entries() if e.series == series})
        raise PinnedConfigurationError(
            f"PERSONATWIN_POLICY_FROM={period}: no release of {period} is published in series {series!r}"
            + (f" (published: {', '.join(published[-12:])})" if published else " (nothing is published yet)"))
    configuration = entry.figures.get("configuration")
    if not isinstance(configuration, Mapping):
        raise PinnedConfigurationError(
            f"PERSONATWIN_POLICY_FROM={period}: {entry.release_id} (version {entry.version}) was published before "
            "configurations were recorded; pin a later release, or rerun it")
    approval = str(entry.figures.get("approval_id") or "")
    if reviewed and not approval:
        raise PinnedConfigurationError(
            f"PERSONATWIN_POLICY_FROM={period}: version {entry.version} of {period} was published without disclosure "
            "review; only a reviewed configuration can be pinned")
    pinned = PinnedConfiguration(period, entry.version, entry.release_id, dict(configuration), approval)
    try:
        pinned.policy  # noqa: B018 (checked here, so a bad record is refused before any run uses it)
    except (TypeError, ValueError) as exc:
        raise PinnedConfigurationError(f"PERSONATWIN_POLICY_FROM={period}: the recorded configuration of version "
                                       f"{entry.version} is not a policy: {exc}") from None
    return pinned


def with_overrides(pinned: PinnedConfiguration, overrides: Mapping[str, Any]) -> PrivacyPolicy:
    """The pinned policy with explicit overrides (None: not overridden); an override that changes a value is a
    change of configuration (``changes``)."""
    return pinned.policy.with_changes(**{k: v for k, v in overrides.items() if v is not None})


def changes(pinned: Mapping[str, Any], released: PrivacyPolicy) -> tuple[ConfigurationChange, ...]:
    """Every field of the released policy that differs from the pinned configuration."""
    now = released.configuration()
    base = policy_from_configuration(pinned).configuration()  # defaults of fields the record lacks
    return tuple(ConfigurationChange(name, base.get(name), now[name]) for name in now if base.get(name) != now[name])


def review_block(pinned: PinnedConfiguration, released: PrivacyPolicy) -> dict:
    """What the manifest and the dossier say about a pinned release: where its configuration comes from, whether
    it was kept (approvals only) or changed (full review), and each change."""
    found = changes(pinned.configuration, released)
    return {"pinned_from": pinned.period, "pinned_version": pinned.version, "pinned_release_id": pinned.release_id,
            "pinned_approval_id": pinned.approval_id, "review": FULL_REVIEW if found else APPROVALS_ONLY,
            "changes": [{"field": c.field, "pinned": c.pinned, "released": c.released} for c in found]}


def review_sentence(block: Mapping | None) -> str:
    """The block in one sentence for people (the dossier, the approval list)."""
    if not block:
        return "not pinned: the privacy loop chose this configuration for this release (full review)"
    source = f"{block['pinned_from']} (version {block['pinned_version']}" + (
        f", approval {block['pinned_approval_id']})" if block.get("pinned_approval_id") else ")")
    if block["review"] == APPROVALS_ONLY:
        return f"pinned from {source}, unchanged: every pinned target holds at it (approvals only)"
    listed = "; ".join(f"{c['field']} {c['pinned']!r} -> {c['released']!r}" for c in block["changes"])
    return f"changed from the configuration pinned from {source}: {listed} (full review)"

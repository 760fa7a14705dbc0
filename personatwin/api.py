"""The original PersonaTwin API: ``create_safe_personas`` and the helpers of its quick start.

    import personatwin as pt
    result = pt.create_safe_personas(data, privacy_level="high", domain="criminal_justice", target_risk=0.05)
    print(result.summary())
    pt.export_personas(result.personas, "safe_personas.csv")
    pt.export_privacy_report(result, "privacy_report.html")
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pandas as pd

from personatwin.core.domains import Domain, get_domain
from personatwin.core.errors import MissingKeyError
from personatwin.core.keys import KEY_ENV, ReleaseKey, as_key
from personatwin.core.memory import reuse_freed_memory
from personatwin.core.policy import PrivacyLevel, PrivacyPolicy, policy_for_level
from personatwin.ingest.tables import Ingested, load_input
from personatwin.measure.analyses import Analysis, as_analyses
from personatwin.publish.export import export_tables
from personatwin.publish.report import write_report
from personatwin.release.identity import derived_release_id
from personatwin.release.release import Release, make_release
from personatwin.release.research import Declared, DomainDefaults, check_analyses
from personatwin.validate.validation import validate

log = logging.getLogger(__name__)


class EphemeralKeyWarning(UserWarning):
    """No release key was given: a random one was used, so the noise cannot be reproduced."""


def resolve_key(key: ReleaseKey | str | bytes | None) -> ReleaseKey:
    """The given key, else the environment's, else (only when none is set) a fresh random one with a warning.

    A key that is given or set but unusable (e.g. too short) raises ``InvalidKeyError``: it is never
    silently replaced by a random one."""
    if key is not None:
        return as_key(key)
    try:
        return ReleaseKey.from_env()
    except MissingKeyError:
        warnings.warn(f"no release key given and {KEY_ENV} is unset: a random one-off key was used, so this "
                      "release cannot be reproduced byte for byte; pass key=... or set the variable",
                      EphemeralKeyWarning, stacklevel=3)
        return ReleaseKey.generate()


def quarantine_table(validated) -> pd.DataFrame:
    """Rejected people and events in one table, each with its reason."""
    frames = [f for f in (validated.quarantine_people, validated.quarantine_events) if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["table", "row", "reason"])


def create_safe_personas(
    data: Any = None,
    privacy_level: str | PrivacyLevel = "medium",
    domain: str | Domain | Mapping = "criminal_justice",
    target_risk: float | None = None,
    *,
    people: Any = None,
    events: Any = None,
    key: ReleaseKey | str | bytes | None = None,
    column_mapping: Mapping | None = None,
    allow_columns=(),
    policy: PrivacyPolicy | None = None,
    salt: str | None = None,
    as_of: Any = None,
    max_iterations: int = 25,
    anonymeter: bool = False,
    anonymeter_options: Any = None,
    preserve_for_analysis: Sequence[Analysis | Mapping | str] | None = None,
    require_analyses: bool = False,
    advisor: Any = None,
    runner: Any = None,
    **policy_overrides: Any,
) -> Release:
    """Protect people-events data: ingest, validate, then raise protection until every target holds.

    ``data`` is a flat DataFrame, a list of dicts or ``Person`` objects, a file or folder path, or
    a (people, events) pair; ``people=``/``events=`` give the two tables separately. Raises
    ``PrivacyTargetError`` (nothing released) when no configuration of the ladder meets the target.
    Rows that fail validation are returned in ``result.quarantine`` with a reason each.

    ``anonymeter=True`` adds the independent Anonymeter evaluation (singling out, linkability,
    inference; ``personatwin.measure.anonymeter_eval``, run in its own environment made by
    ``scripts/setup-anonymeter``): its figures go to ``result.attacks``, the report and the manifest,
    and at a policy with ``anonymeter_max_risk`` (high, maximum) a risk above it refuses the release
    (``AttackRefusedError``). ``anonymeter_options`` takes an ``AnonymeterOptions``.

    ``salt`` is the release id: with the key it seeds every random draw. Without one, an id is derived
    from the validated data (``personatwin.release.identity``): the same data and key reproduce the
    release, different data (another month, a correction) never shares its randomness. The id is in
    ``result.salt`` and the manifest (``release_id``).

    ``preserve_for_analysis`` declares the analyses the release must support (``personatwin.measure.analyses``:
    ``RateDisparity``, ``AdjustedOddsRatio``, ``EventCounts``, or their dict / string forms such as
    ``"odds_ratio detained by race: Black vs White in hearing"``). Each runs on the original data and on the
    release (outcomes unbiased by inverting PRAM, its variance in the intervals); ``result.research_validation``
    says which hold (``.analyses``, ``.supported_questions``). Left at None, the domain's default analyses
    run (a few bincounts); ``[]`` runs none. ``require_analyses=True`` refuses the release
    (``ResearchValidationError``, naming each analysis and why) when one does not hold.

    ``advisor`` ("rules", "anthropic", "openai", an ``AdvisorConfig`` or an advisor; None: none) explains the
    verdict and, when no configuration meets every target, recommends changes that the loop tries once more (never
    a lower target: ``personatwin.advisor.advise``). Only aggregates go to it; its explanation and every exchange
    are in ``result.advice`` and the internal report, never in published files.

    ``runner`` (``personatwin.scale.runners.DaskRunner`` for a Dask cluster, ``InProcess`` for shards one after
    another) runs the event-level stages shard by shard: the released files are the same as without it.

    Large arrays reuse freed heap memory in this process from the first call on (``personatwin.core.memory``;
    ``PERSONATWIN_MALLOC_TUNING=0`` opts out).
    """
    reuse_freed_memory()
    dom = get_domain(domain)
    if isinstance(data, tuple) and len(data) == 2 and people is None and events is None:
        data, people, events = None, data[0], data[1]
    if isinstance(data, Ingested):  # already loaded, e.g. by load_healthcare_data
        ingested = data
    else:
        ingested = load_input(data, people=people, events=events, domain=dom,
                              column_mapping=column_mapping, allow_columns=allow_columns)
    checked = validate(ingested.people, ingested.events, dom, as_of=as_of)
    if policy is None:
        policy = policy_for_level(privacy_level, target_risk=target_risk, **policy_overrides)
    elif target_risk is not None:
        policy = policy.with_changes(target_risk=target_risk)
    analyses: Declared | None = DomainDefaults()
    if preserve_for_analysis is not None:
        declared = as_analyses(preserve_for_analysis)
        check_analyses(declared, dom, list(checked.people.columns))  # a typo fails before the privacy loop
        analyses = declared or None
    release_key = resolve_key(key)
    if salt is None:
        salt = derived_release_id(release_key, checked.people, checked.events, dom.name)
    def make(pol: PrivacyPolicy, d: Domain) -> Release:
        return make_release(checked.people, checked.events, d, pol, release_key, salt=salt,
                            max_iterations=max_iterations, anonymeter=anonymeter,
                            anonymeter_options=anonymeter_options, analyses=analyses,
                            require_analyses=require_analyses, runner=runner)

    if advisor is None:
        result = make(policy, dom)
    else:
        from personatwin.advisor.advise import release_with_advisor
        from personatwin.advisor.config import get_advisor

        result = release_with_advisor(make, policy, dom, get_advisor(advisor))
    log.info("released %d personas at release risk %.4f", len(result.personas), result.release_risk)
    return replace(result, quarantine=quarantine_table(checked), counts=dict(checked.counts),
                   dropped_identifiers=tuple(ingested.dropped_identifiers),
                   ignored_columns=tuple(ingested.ignored_columns))


def _persona_table(obj: Any) -> pd.DataFrame:
    if isinstance(obj, Release):
        return obj.personas.to_dataframe()
    if hasattr(obj, "to_dataframe"):
        return obj.to_dataframe()
    if isinstance(obj, pd.DataFrame):
        return obj.copy()
    rows = [p.to_dict() for p in obj]
    return pd.json_normalize(rows)


def personas_to_dataframe(personas: Any) -> pd.DataFrame:
    """One row per persona: id, size and the published (generalized) QIs."""
    return _persona_table(personas)


def personas_to_event_dataframe(personas: Any) -> pd.DataFrame:
    """One row per released event, with the persona's published QIs joined on."""
    if isinstance(personas, Release):
        personas = personas.personas
    events = personas.events
    table = personas.to_dataframe()
    return events.merge(table, on="persona_id", how="left", validate="many_to_one")


def export_personas(personas: Any, path, format: str | None = None) -> list:
    """Write the personas (and, for a release, its events) as CSV, JSON or Parquet."""
    return export_tables(personas, path, format=format)


def export_privacy_report(result: Release, path) -> str:
    """Write the published HTML privacy report of a release (release-derived figures only); returns its path."""
    return write_report(result, path)


def export_internal_report(result: Release, path) -> str:
    """Write the internal HTML report (original vs release, small cells suppressed): never publish it."""
    return write_report(result, path, internal=True)

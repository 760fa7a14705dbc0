"""Resources per environment, chosen in one place (``PERSONATWIN_ENV``: local, ci or prod)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from personatwin.core.errors import InputError
from personatwin.govern.approvals import ApprovalPolicy
from personatwin.scale.runners import SCHEDULER_ENV
from personatwin_dag.constants import (
    ENV_ADVISOR,
    ENV_APPROVALS,
    ENV_ASSET_STORE,
    ENV_DASK_WORKERS,
    ENV_DOMAIN,
    ENV_DP_RHO,
    ENV_DP_RHO_CAP,
    ENV_INTERNAL,
    ENV_LEVEL,
    ENV_NAME,
    ENV_OVERLAPPING,
    ENV_POLICY_FROM,
    ENV_RECIPIENTS,
    ENV_RELEASES,
    ENV_SERIES,
    ENV_SERIES_RELEASES,
    ENV_SHARDS,
    ENV_SOURCE,
    ENV_SOURCE_CHANGE_COLUMN,
    ENV_SOURCE_COLUMN_MAPPING,
    ENV_SOURCE_DATE_COLUMN,
    ENV_SOURCE_EVENTS,
    ENV_SOURCE_PASSWORD,
    ENV_SOURCE_PEOPLE,
    ENV_SOURCE_PERSON_COLUMN,
    ENV_SOURCE_URL,
    ENV_TARGET,
)
from resources import (
    AdvisorResource,
    GovernanceResource,
    PartitionedParquetIOManager,
    PrivacyPolicyResource,
    ReleaseKeyResource,
    ReleaseStorageResource,
    SeriesLedgerResource,
    ShardRunnerResource,
    SourceResource,
    SqlSourceResource,
    fs,
)

PROJECT_DIR = Path(__file__).resolve().parents[1]


def _local_defaults() -> dict[str, str]:
    return {
        ENV_SOURCE: str(PROJECT_DIR / "data" / "sample"),
        ENV_RELEASES: str(PROJECT_DIR / "releases"),
        ENV_ASSET_STORE: str(PROJECT_DIR / ".dagster_home" / "assets"),
        ENV_DOMAIN: "criminal_justice",
        ENV_LEVEL: "high",
    }


def _setting(name: str, env: str) -> str:
    value = os.environ.get(name)
    if value:
        return value
    if env == "prod":
        raise RuntimeError(f"{name} must be set in the prod environment ({ENV_NAME}=prod)")
    return _local_defaults()[name]


def _internal_location(env: str, releases: str) -> str:
    """Where internal reports go: ``PERSONATWIN_INTERNAL``, else (local, ci) ``internal/`` beside the
    releases root, never inside it (everything under the releases root is published)."""
    value = os.environ.get(ENV_INTERNAL)
    if value:
        return value
    if env == "prod":
        raise RuntimeError(f"{ENV_INTERNAL} must be set in the prod environment ({ENV_NAME}=prod)")
    if fs.is_url(releases):
        return releases.rstrip("/").rsplit("/", 1)[0] + "/internal"
    return str(Path(releases).resolve().parent / "internal")


def _series_location(env: str, internal: str) -> str:
    """The series ledger: ``PERSONATWIN_SERIES``, else ``series/`` inside a local internal folder; with
    an internal URL (object store) it must be set, since the ledger needs a lockable folder."""
    value = os.environ.get(ENV_SERIES)
    if value:
        return value
    if fs.is_url(internal):
        if env == "prod":
            raise RuntimeError(f"{ENV_SERIES} must be set to a local or mounted folder when the internal "
                               f"storage is an object store ({internal})")
        return str(PROJECT_DIR / ".dagster_home" / "series")
    return str(Path(fs.local_path(internal)) / "series")


def _float_or_none(name: str) -> float | None:
    value = os.environ.get(name)
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise RuntimeError(f"{name} must be a number, got {value!r}") from None


def _column_mapping(name: str) -> dict[str, str]:
    """A JSON object {source column: contract column} from an environment variable (unset: none)."""
    text = os.environ.get(name, "").strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise RuntimeError(f"{name} must be a JSON object {{\"<source column>\": \"<contract column>\"}}") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise RuntimeError(f"{name} must map column names to column names (a JSON object of strings)")
    return value


def sql_source_for(env: str) -> SqlSourceResource | None:
    """The SQL source when ``PERSONATWIN_SOURCE_URL`` is set (None: the file source). The URL and password stay in
    the environment (the resource names the variables); a URL that does not parse stops the code location."""
    if not os.environ.get(ENV_SOURCE_URL, "").strip():
        return None
    source = SqlSourceResource(
        url_env=ENV_SOURCE_URL, password_env=ENV_SOURCE_PASSWORD, domain=_setting(ENV_DOMAIN, env),
        people=os.environ.get(ENV_SOURCE_PEOPLE) or "people", events=os.environ.get(ENV_SOURCE_EVENTS) or "events",
        event_date_column=os.environ.get(ENV_SOURCE_DATE_COLUMN) or "event_date",
        person_id_column=os.environ.get(ENV_SOURCE_PERSON_COLUMN) or "person_id",
        change_column=os.environ.get(ENV_SOURCE_CHANGE_COLUMN) or "",
        column_mapping=_column_mapping(ENV_SOURCE_COLUMN_MAPPING))
    try:
        source.url()
    except InputError as exc:  # the message masks the password
        raise RuntimeError(str(exc)) from None
    return source


def resources_for(env: str | None = None) -> dict:
    """The resources of one environment: local (defaults inside the project), ci, or prod (all from env vars)."""
    env = (env or os.environ.get(ENV_NAME) or "local").lower()
    if env not in ("local", "ci", "prod"):
        raise ValueError(f"{ENV_NAME} must be local, ci or prod, got {env!r}")
    target = os.environ.get(ENV_TARGET)
    releases = _setting(ENV_RELEASES, env)
    internal = _internal_location(env, releases)
    series = _series_location(env, internal)
    pinned_series, _, policy_from = os.environ.get(ENV_POLICY_FROM, "").strip().rpartition(":")
    overlapping = [d.strip() for d in os.environ.get(ENV_OVERLAPPING, "").split(";") if d.strip()]
    return {
        "source": sql_source_for(env) or SourceResource(location=_setting(ENV_SOURCE, env),
                                                        domain=_setting(ENV_DOMAIN, env)),
        "release_storage": ReleaseStorageResource(location=releases),
        "internal_storage": ReleaseStorageResource(location=internal),
        "series_ledger": SeriesLedgerResource(location=series,
                                              recipients=os.environ.get(ENV_RECIPIENTS, "")),
        "policy": PrivacyPolicyResource(level=_setting(ENV_LEVEL, env), target_risk=float(target) if target else None,
                                        dp_rho_per_release=_float_or_none(ENV_DP_RHO),
                                        dp_rho_cap=_float_or_none(ENV_DP_RHO_CAP),
                                        series_expected_releases=_float_or_none(ENV_SERIES_RELEASES),
                                        overlapping_public_data=overlapping, policy_from=policy_from,
                                        pinned_ledger=series, pinned_series=pinned_series,
                                        pinned_reviewed=governance_for(env).required > 0),
        "release_key": ReleaseKeyResource(),
        "io_manager": PartitionedParquetIOManager(base_dir=_setting(ENV_ASSET_STORE, env)),
        "governance": governance_for(env).resource(),
        "advisor": AdvisorResource(provider=os.environ.get(ENV_ADVISOR, "")),
        "shards": ShardRunnerResource(mode=os.environ.get(ENV_SHARDS, ""),
                                      scheduler=os.environ.get(SCHEDULER_ENV, ""),
                                      workers=int(os.environ.get(ENV_DASK_WORKERS) or 2)),
    }


@dataclass(frozen=True)
class Governance:
    """Where an environment's staged releases wait for review, where decisions are logged, and how many it needs
    (0: no review, publish at export; refused in prod)."""

    staging_root: Path  # beside the series ledger (default <internal>/staging): never under the releases root
    approvals_root: Path  # beside it too: <...>/governance/approvals.jsonl
    releases: str
    required: int

    @property
    def policy(self) -> ApprovalPolicy:
        return ApprovalPolicy(required=max(1, self.required))

    def resource(self) -> GovernanceResource:
        return GovernanceResource(staging=str(self.staging_root), approvals=str(self.approvals_root),
                                  required=self.required)


def governance_for(env: str | None = None) -> Governance:
    """The disclosure review settings of one environment: staging and approval log beside the series ledger (a
    local or mounted internal folder, since the log is locked while a decision is recorded)."""
    env = (env or os.environ.get(ENV_NAME) or "local").lower()
    releases = _setting(ENV_RELEASES, env)
    internal = _internal_location(env, releases)
    text = os.environ.get(ENV_APPROVALS, "2")
    try:
        required = int(text)
    except ValueError:
        raise RuntimeError(f"{ENV_APPROVALS} must be a whole number, got {text!r}") from None
    if required < 0 or (required == 0 and env == "prod"):
        raise RuntimeError(f"{ENV_APPROVALS} must be at least 1" + (" in the prod environment" if env == "prod"
                                                                     else f", or 0 for no review; got {required}"))
    root = Path(fs.local_path(_series_location(env, internal))).parent
    return Governance(root / "staging", root / "governance", releases, required)

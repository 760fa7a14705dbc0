"""Resources per environment, chosen in one place (``PERSONATWIN_ENV``: local, ci or prod)."""

from __future__ import annotations

import os
from pathlib import Path

from personatwin_dag.constants import (
    ENV_ASSET_STORE,
    ENV_DOMAIN,
    ENV_INTERNAL,
    ENV_LEVEL,
    ENV_NAME,
    ENV_RELEASES,
    ENV_SOURCE,
    ENV_TARGET,
)
from resources import (
    PartitionedParquetIOManager,
    PrivacyPolicyResource,
    ReleaseKeyResource,
    ReleaseStorageResource,
    SourceResource,
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


def resources_for(env: str | None = None) -> dict:
    """The resources of one environment: local (defaults inside the project), ci, or prod (all from env vars)."""
    env = (env or os.environ.get(ENV_NAME) or "local").lower()
    if env not in ("local", "ci", "prod"):
        raise ValueError(f"{ENV_NAME} must be local, ci or prod, got {env!r}")
    target = os.environ.get(ENV_TARGET)
    releases = _setting(ENV_RELEASES, env)
    return {
        "source": SourceResource(location=_setting(ENV_SOURCE, env), domain=_setting(ENV_DOMAIN, env)),
        "release_storage": ReleaseStorageResource(location=releases),
        "internal_storage": ReleaseStorageResource(location=_internal_location(env, releases)),
        "policy": PrivacyPolicyResource(level=_setting(ENV_LEVEL, env), target_risk=float(target) if target else None),
        "release_key": ReleaseKeyResource(),
        "io_manager": PartitionedParquetIOManager(base_dir=_setting(ENV_ASSET_STORE, env)),
    }

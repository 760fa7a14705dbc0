"""Resources per environment: where published and internal outputs go (issue 11: internal never under releases)."""

from __future__ import annotations

from pathlib import Path

import pytest

from personatwin_dag.constants import ENV_INTERNAL, ENV_RELEASES
from personatwin_dag.environments import resources_for


def test_internal_reports_default_beside_the_releases_root_never_inside(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_RELEASES, str(tmp_path / "out" / "releases"))
    monkeypatch.delenv(ENV_INTERNAL, raising=False)
    res = resources_for("ci")
    releases = Path(res["release_storage"].location).resolve()
    internal = Path(res["internal_storage"].location).resolve()
    assert internal == tmp_path / "out" / "internal"
    assert releases not in internal.parents and internal != releases


def test_remote_roots_get_a_sibling_internal_prefix(monkeypatch):
    monkeypatch.setenv(ENV_RELEASES, "s3://bucket/personatwin/releases/")
    monkeypatch.delenv(ENV_INTERNAL, raising=False)
    assert resources_for("ci")["internal_storage"].location == "s3://bucket/personatwin/internal"


def test_prod_requires_the_internal_root(monkeypatch, tmp_path):
    for name in ("PERSONATWIN_SOURCE", ENV_RELEASES, "PERSONATWIN_ASSET_STORE", "PERSONATWIN_DOMAIN",
                 "PERSONATWIN_PRIVACY_LEVEL"):
        monkeypatch.setenv(name, str(tmp_path / name) if "LEVEL" not in name and "DOMAIN" not in name else
                           ("high" if "LEVEL" in name else "criminal_justice"))
    monkeypatch.delenv(ENV_INTERNAL, raising=False)
    with pytest.raises(RuntimeError, match=ENV_INTERNAL):
        resources_for("prod")
    monkeypatch.setenv(ENV_INTERNAL, str(tmp_path / "internal"))
    assert resources_for("prod")["internal_storage"].location == str(tmp_path / "internal")


@pytest.mark.parametrize("env, value, message", [
    ("prod", "0", "must be at least 1 in the prod environment"),
    ("ci", "-1", "must be at least 1, or 0 for no review"),
    ("ci", "two", "must be a whole number"),
])
def test_disclosure_review_settings_are_checked(monkeypatch, tmp_path, env, value, message):
    """Publishing without review is a local/ci choice only; a bad setting stops the code location from loading."""
    from personatwin_dag.constants import ENV_APPROVALS
    from personatwin_dag.environments import governance_for

    for name in ("PERSONATWIN_SOURCE", ENV_RELEASES, "PERSONATWIN_ASSET_STORE", ENV_INTERNAL):
        monkeypatch.setenv(name, str(tmp_path / name))
    monkeypatch.setenv("PERSONATWIN_DOMAIN", "criminal_justice")
    monkeypatch.setenv("PERSONATWIN_PRIVACY_LEVEL", "high")
    monkeypatch.setenv(ENV_APPROVALS, value)
    with pytest.raises(RuntimeError, match=message):
        governance_for(env)
    monkeypatch.delenv(ENV_APPROVALS)
    gov = governance_for(env)  # the default: two reviewers, staging and log beside the series ledger
    assert gov.required == 2 and gov.staging_root.parent == Path(tmp_path / ENV_INTERNAL)
    assert Path(tmp_path / ENV_RELEASES) not in gov.staging_root.parents

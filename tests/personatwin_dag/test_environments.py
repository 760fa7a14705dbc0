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

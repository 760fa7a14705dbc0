"""Helpers shared by the engine tests: markers for optional tools and data sets."""

from __future__ import annotations

import os

import pytest

from personatwin.measure import anonymeter_eval as ae
from tests.paths import PYCANON_PYTHON, PYCANON_VENV, SYNTHEA_NEBRASKA


def anonymeter_available() -> bool:
    """Is the separate Anonymeter environment (.venv-anonymeter) installed?"""
    try:
        ae.anonymeter_python()
    except ae.AnonymeterUnavailableError:
        return False
    return True


needs_anonymeter = pytest.mark.skipif(
    not anonymeter_available(),
    reason="the Anonymeter environment (.venv-anonymeter) is missing: run scripts/setup-anonymeter")


def pycanon_available() -> bool:
    """Is the separate pyCANON environment (.venv-pycanon) installed? Its stamp is written last by
    scripts/setup-pycanon, so a half-made environment counts as missing."""
    return PYCANON_PYTHON.is_file() and any(PYCANON_VENV.glob(".installed-*"))


# CI installs it (scripts/test): there a missing environment fails the tests instead of skipping them.
needs_pycanon = pytest.mark.skipif(
    not pycanon_available() and not os.environ.get("PERSONATWIN_CI"),
    reason="the pyCANON environment (.venv-pycanon) is missing: run scripts/setup-pycanon")

needs_nebraska = pytest.mark.skipif(
    not (SYNTHEA_NEBRASKA / "patients.csv").is_file(),
    reason=f"shared Synthea sample not found at {SYNTHEA_NEBRASKA} (shared/data/synthea-nebraska)")

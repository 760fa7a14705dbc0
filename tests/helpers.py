"""Helpers shared by the engine tests: markers for optional tools and data sets."""

from __future__ import annotations

import pytest

from personatwin.measure import anonymeter_eval as ae
from tests.paths import SYNTHEA_NEBRASKA


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
needs_nebraska = pytest.mark.skipif(
    not (SYNTHEA_NEBRASKA / "patients.csv").is_file(),
    reason=f"shared Synthea sample not found at {SYNTHEA_NEBRASKA} (shared/data/synthea-nebraska)")

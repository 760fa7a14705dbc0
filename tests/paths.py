"""Paths the tests share: the project root and the shared public data sets beside it."""

from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT.parent / "shared" / "data"
ARX_ADULT = SHARED_DATA / "arx-adult"
SYNTHEA_NEBRASKA = SHARED_DATA / "synthea-nebraska"
BENCHMARKS = PROJECT / "benchmarks"
# pyCANON (pins pandas 2.3.3 / numpy 2.0.2) in its own environment, made by scripts/setup-pycanon
PYCANON_VENV = PROJECT / ".venv-pycanon"
PYCANON_PYTHON = PYCANON_VENV / "bin" / "python"

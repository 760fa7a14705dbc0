"""Paths the tests share: the project root and the shared public data sets beside it."""

from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT.parent / "shared" / "data"
ARX_ADULT = SHARED_DATA / "arx-adult"
SYNTHEA_NEBRASKA = SHARED_DATA / "synthea-nebraska"
BENCHMARKS = PROJECT / "benchmarks"

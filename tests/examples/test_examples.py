"""The runnable examples run and release (small sizes)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.paths import PROJECT


def run(script: str, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(PROJECT), "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, str(PROJECT / "examples" / script), *args], capture_output=True,
                          text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_quickstart_example(tmp_path):
    out = run("quickstart.py", "--people", "3000", "--out", str(tmp_path))
    assert "safe for research: True" in out and "release_risk" in out
    assert (tmp_path / "safe_personas.parquet").exists() and (tmp_path / "privacy_report.html").exists()


def test_domains_example_releases_every_domain_and_a_custom_one():
    out = run("domains.py", "--people", "2000")
    for name in ("criminal_justice", "healthcare", "education", "social_services", "employment", "housing (custom)"):
        line = next(ln for ln in out.splitlines() if ln.startswith(name))
        assert "SAFE_FOR" in line, line

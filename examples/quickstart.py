"""The README quick start: 50,000 generated criminal-justice people released at HIGH.

    .venv/bin/python examples/quickstart.py [--people 50000] [--out releases/quickstart]
"""

import argparse
from pathlib import Path

import personatwin as pt
from personatwin.ingest import synth

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--people", type=int, default=50_000)
ap.add_argument("--out", default="releases/quickstart")
args = ap.parse_args()

data = synth.flat(synth.generate("criminal_justice", args.people, seed=1))
result = pt.create_safe_personas(data, privacy_level="high", domain="criminal_justice", target_risk=0.05)
print(result.summary())
print("safe for research:", result.is_safe_for_research())
out = Path(args.out)
pt.export_personas(result.personas, out / "safe_personas.parquet")
print("report:", pt.export_privacy_report(result, out / "privacy_report.html"))

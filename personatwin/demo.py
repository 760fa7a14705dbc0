"""Engine demo: generate sample data, release it through the privacy loop, write files and report.

    python -m personatwin.demo --people 50000 --out releases/demo
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from personatwin.api import create_safe_personas, export_internal_report, export_personas, export_privacy_report
from personatwin.core.keys import demo_key
from personatwin.ingest import synth


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--domain", default="criminal_justice")
    ap.add_argument("--people", type=int, default=50_000)
    ap.add_argument("--level", default="high")
    ap.add_argument("--target-risk", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", default="releases/demo")
    args = ap.parse_args(argv)
    key, note = demo_key(Path.cwd())
    print(note)
    t0 = time.perf_counter()
    data = synth.generate(args.domain, args.people, seed=args.seed)
    print(f"generated {len(data.people):,} people and {len(data.events):,} events ({args.domain}) "
          f"in {time.perf_counter() - t0:.1f}s")
    t1 = time.perf_counter()
    result = create_safe_personas(people=data.people, events=data.events, privacy_level=args.level,
                                  domain=args.domain, target_risk=args.target_risk, key=key, salt="demo")
    print(f"privacy loop finished in {time.perf_counter() - t1:.1f}s\n")
    print(result.summary())
    out = Path(args.out)
    for fmt in ("csv", "json", "parquet"):
        export_personas(result, out / f"personas.{fmt}")
    report = export_privacy_report(result, out / "privacy_report.html")
    internal = export_internal_report(result, out.parent / f"{out.name}-internal" / "internal_report.html")
    print(f"\nwrote personas and events as CSV, JSON and Parquet, and {report} (internal: {internal})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

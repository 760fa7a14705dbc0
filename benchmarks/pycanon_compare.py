"""k-anonymity, l-diversity and t-closeness of released tables: our code vs pyCANON (DESIGN §5, §8).

    python benchmarks/pycanon_compare.py [--n 100000]

pyCANON 1.3.6 pins pandas 2.3.3 / numpy 2.0.2, so it lives in its own virtual environment,
``.venv-pycanon`` at the project root (made by ``scripts/setup-pycanon``, which this script runs: instant
once installed; the same environment the tests use; not part of the repository), and runs there through
a subprocess.

Tables (one row per person, the person's persona's PUBLISHED QIs and a released sensitive value):

* ARX Adult (/work/shared/data/arx-adult, skipped with a message when absent), released as in
  tests/personatwin/test_adult.py (k=5, l=1, target 0.1); QIs sex, age, race, marital-status,
  education, native-country; sensitive salary-class.
* The synthetic criminal-justice generator at n people (default 100k); people-level sensitive
  column ``top_outcome`` = the person's most frequent event outcome ("none" without events, ties
  to the alphabetically first), declared sensitive in the domain; QIs age, sex, race, zip as the
  personas publish them (age band, zip3, ...).

Both are built from the release only: every persona's published QI row repeated once per released
(PRAM-randomized) sensitive count, so the flat table holds exactly n rows. Metrics on that table:

* k = min EC size, EC = rows with identical QI tuples (pyCANON: ``k_anonymity``; ours:
  ``risk.class_sizes`` on a one-row-per-person ``PersonaAttributes``);
* l = min over ECs of the distinct sensitive values (pyCANON ``l_diversity``; ours
  ``risk.value_counts_matrix`` + ``risk.diversity``);
* t = max over ECs of the distance to the global distribution. pyCANON uses, for string
  attributes, the "equal distance" EMD = 0.5 sum |q - p| (``aux_t_closeness_str``), which is
  exactly the total variation distance ``risk.diversity`` computes, so no variant is needed.
  The engine's own RiskReport computes l and t per PERSONA (and over event outcomes too), not per EC
  of the flat table; those figures are reported alongside for reference, but the compared numbers
  are both per EC.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VENV = ROOT / ".venv-pycanon"  # made by scripts/setup-pycanon (pycanon==1.3.6)
VENV_PY = VENV / "bin" / "python"
ARX = Path("/work/shared/data/arx-adult")
ADULT_QIS = ("sex", "age", "race", "marital-status", "education", "native-country")
ADULT_SENSITIVE = "salary-class"
GEN_QIS = ("age", "sex", "race", "zip")
GEN_SENSITIVE = "top_outcome"
TOL = 1e-12

PYCANON_RUNNER = r"""
import json, sys, time
import pandas as pd
from pycanon import anonymity
path, qis, sa = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
data = pd.read_csv(path, dtype=str, keep_default_na=False)
out = {"pandas": pd.__version__}
t0 = time.perf_counter(); out["k"] = int(anonymity.k_anonymity(data, qis))
out["seconds_k"] = time.perf_counter() - t0
t0 = time.perf_counter(); out["l"] = int(anonymity.l_diversity(data, qis, sa))
out["seconds_l"] = time.perf_counter() - t0
t0 = time.perf_counter(); out["t"] = float(anonymity.t_closeness(data, qis, sa))
out["seconds_t"] = time.perf_counter() - t0
out["seconds"] = out["seconds_k"] + out["seconds_l"] + out["seconds_t"]
print(json.dumps(out))
"""


def _run(cmd: list[str], timeout: int = 1200) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def ensure_venv() -> dict:
    """.venv-pycanon by scripts/setup-pycanon (instant once it is installed); returns version info."""
    r = _run([str(ROOT / "scripts" / "setup-pycanon")], timeout=1800)
    if r.returncode:
        raise RuntimeError(f"scripts/setup-pycanon failed: {r.stderr[-2000:]}")
    r = _run([str(VENV_PY), "-c", "import importlib.metadata as m, sys; "
              "print(m.version('pycanon'), m.version('pandas'), m.version('numpy'), sys.version.split()[0])"])
    pyc, pdv, npv, pyv = r.stdout.split()
    return {"pycanon": pyc, "pandas": pdv, "numpy": npv, "python": pyv, "venv": str(VENV.relative_to(ROOT))}


def run_pycanon(csv: Path, qis, sensitive: str) -> dict:
    r = _run([str(VENV_PY), "-c", PYCANON_RUNNER, str(csv), json.dumps(list(qis)), json.dumps([sensitive])],
             timeout=3600)
    if r.returncode:
        raise RuntimeError(f"pyCANON failed: {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def ours(table: pd.DataFrame, qis, sensitive: str) -> dict:
    """k, distinct l and t (equal-distance EMD) per EC of a flat table, with the engine's functions."""
    # local imports: the project loads on use, after the sys.path set-up above (--help stays instant)
    from personatwin.measure.risk import class_sizes, diversity, equivalence_classes, value_counts_matrix
    from personatwin.protect.merge import factorize
    from personatwin.protect.personas import PersonaAttributes

    attrs = PersonaAttributes(table=table[list(qis)].assign(size=1), levels=pd.DataFrame(), qi_columns=tuple(qis))
    f, n_ec = class_sizes(attrs)  # f per row (each row = one person, size 1)
    ec = equivalence_classes(attrs)
    codes, cats = factorize(table[sensitive])
    counts = value_counts_matrix(ec, codes, n_ec, len(cats))
    l_distinct, _, t = diversity([counts])
    return {"k": int(f.min()), "l": int(l_distinct), "t": float(t), "n_ec": int(n_ec)}


def time_ours(table: pd.DataFrame, qis, sensitive: str, repeat: int = 3) -> tuple[dict, float]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = ours(table, qis, sensitive)
        best = min(best, time.perf_counter() - t0)
    return out, best


def flat_release(release, qis, sensitive: str) -> pd.DataFrame:
    """One row per person: the persona's published QIs repeated per released sensitive count."""
    personas = release.personas.table
    sens = release.sensitive[release.sensitive["attribute"] == sensitive]
    merged = sens.merge(personas[["persona_id", *qis]], on="persona_id", how="left", validate="many_to_one")
    rep = np.repeat(np.arange(len(merged)), merged["count"].to_numpy().astype(np.int64))
    out = merged.iloc[rep][[*qis, "value"]].rename(columns={"value": sensitive}).reset_index(drop=True)
    return out.astype({c: str for c in out.columns})


def adult_release():
    # local imports: the project loads on use, after the sys.path set-up above (--help stays instant)
    from personatwin.core.domains import Domain
    from personatwin.core.hierarchy import MappingHierarchy
    from personatwin.core.keys import ReleaseKey
    from personatwin.core.policy import PrivacyPolicy
    from personatwin.release.release import make_release

    raw = pd.read_csv(ARX / "adult.csv", sep=";", dtype=str, keep_default_na=False)
    hierarchies = {q: MappingHierarchy.from_csv(ARX / f"adult_hierarchy_{q}.csv") for q in ADULT_QIS}
    domain = Domain(name="arx_adult", event_types={}, qis=ADULT_QIS, bias_attributes=("sex", "race"),
                    sensitive=(ADULT_SENSITIVE,), hierarchies=hierarchies, location_qi=None)
    people = pd.DataFrame({"person_id": pd.array([f"row{i}" for i in range(len(raw))], dtype="string"),
                           **{c: pd.array(raw[c], dtype="string") for c in (*ADULT_QIS, ADULT_SENSITIVE)}})
    events = pd.DataFrame({"person_id": pd.array([], dtype="string"), "event_type": pd.array([], dtype="string"),
                           "event_date": np.array([], dtype="datetime64[s]"), "outcome": pd.array([], dtype="string")})
    policy = PrivacyPolicy(k=5, target_risk=0.1, l_diversity=1)
    return make_release(people, events, domain, policy, ReleaseKey("arx-adult-test-release-key"), "adult"), len(people)


def generated_release(n: int, seed: int = 0):
    # local imports: the project loads on use, after the sys.path set-up above (--help stays instant)
    from personatwin.core.domains import get_domain
    from personatwin.core.keys import ReleaseKey
    from personatwin.core.policy import PrivacyPolicy
    from personatwin.ingest import synth
    from personatwin.release.release import make_release
    from personatwin.validate.validation import validate

    data = synth.generate("criminal_justice", n, seed=seed)
    domain = get_domain("criminal_justice")
    checked = validate(data.people, data.events, domain)  # derives age from birth_date, as the pipeline does
    people, events = checked.people.copy(), checked.events
    top = (events.groupby(["person_id", "outcome"], observed=True).size().rename("c").reset_index()
           .sort_values(["person_id", "c", "outcome"], ascending=[True, False, True])
           .drop_duplicates("person_id").set_index("person_id")["outcome"].astype(str))
    people[GEN_SENSITIVE] = pd.array(people["person_id"].map(top).fillna("none").astype(str), dtype="string")
    domain = domain.with_overrides(sensitive=(*domain.sensitive, GEN_SENSITIVE))
    release = make_release(people, events, domain, PrivacyPolicy(k=5), ReleaseKey("pycanon-benchmark-release-key"),
                           "gen")
    return release, len(people)


def compare(name: str, release, n: int, qis, sensitive: str, workdir: Path) -> list[dict]:
    table = flat_release(release, qis, sensitive)
    assert len(table) == n, (len(table), n)
    csv = workdir / f"{name}.csv"
    table.to_csv(csv, index=False)
    table = pd.read_csv(csv, dtype=str, keep_default_na=False)  # exactly what pyCANON reads
    mine, t_ours = time_ours(table, qis, sensitive)
    theirs = run_pycanon(csv, qis, sensitive)
    r = release.risk
    engine = {"k": r.k_anonymity, "l": r.l_diversity_distinct, "t": r.t_closeness}
    rows = []
    print(f"{name}: QIs {list(qis)}, released k={release.policy.k} after {release.iterations} iteration(s)", flush=True)
    for m in ("k", "l", "t"):
        equal = abs(mine[m] - theirs[m]) <= TOL if m == "t" else mine[m] == theirs[m]
        rows.append({"dataset": name, "n": n, "qis": list(qis), "sensitive": sensitive, "metric": m,
                     "ours": mine[m], "pycanon": theirs[m], "equal": bool(equal),
                     "engine_release_report": float(engine[m]), "n_ec": mine["n_ec"],
                     "seconds_ours": t_ours, "seconds_pycanon": theirs["seconds"],
                     "seconds_pycanon_this_metric": theirs[f"seconds_{m}"],
                     "speed_ratio": theirs["seconds"] / t_ours})
    print(f"{name} n={n}: ours k={mine['k']} l={mine['l']} t={mine['t']:.6f} ({t_ours:.3f}s) | pyCANON k={theirs['k']} "
          f"l={theirs['l']} t={theirs['t']:.6f} ({theirs['seconds']:.2f}s) -> {theirs['seconds'] / t_ours:.0f}x",
          flush=True)
    return rows


def run(n: int = 100_000, seed: int = 0) -> dict:
    env = ensure_venv()
    rows, skipped = [], []
    with tempfile.TemporaryDirectory(prefix="peers-") as tmp:
        work = Path(tmp)
        if (ARX / "adult.csv").exists():
            release, size = adult_release()
            rows += compare("arx_adult", release, size, ADULT_QIS, ADULT_SENSITIVE, work)
        else:
            msg = f"ARX Adult not found at {ARX / 'adult.csv'}: skipped"
            print(msg)
            skipped.append(msg)
        release, size = generated_release(n, seed)
        qis = tuple(q for q in GEN_QIS if q in release.personas.table.columns)
        rows += compare("generated_criminal_justice", release, size, qis, GEN_SENSITIVE, work)
        generated_policy = release.policy.parameters()
    big = [r for r in rows if r["dataset"] == "generated_criminal_justice"]
    return {
        "pycanon_env": env, "rows": rows, "skipped": skipped, "generated_released_policy": generated_policy,
        "target_all_equal": all(r["equal"] for r in rows),
        "target_speed_20x_on_generated": bool(big and big[0]["speed_ratio"] >= 20),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    print(json.dumps(run(args.n, args.seed), indent=2))  # peers.py writes the result files
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

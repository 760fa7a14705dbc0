"""Exact MDAV microaggregation as a reference for the engine's information loss (DESIGN §4, §8).

    python benchmarks/mdav_reference.py --sizes 5000 10000 20000 --k 5

MDAV (maximum distance to average vector; Domingo-Ferrer & Mateo-Sanz 2002, fixed-size variant):
while at least 3k rows remain, take the row r farthest from the centroid of the remaining rows and
group it with its k-1 nearest remaining rows; then take the row s farthest from r and group it with
its k-1 nearest. With 2k..3k-1 rows left, one more group around the row farthest from the centroid
and the rest form the last group; with k..2k-1 left they form one group. Every group has k..2k-1
rows. Plain numpy, O(n^2 d / k) time, O(n d) memory: fine up to ~20k rows.

Both methods group the SAME standardized feature matrix (``personatwin.protect.merge.features_from_tables``
on ``personatwin.ingest.synth.generate("criminal_justice", n, seed)`` after
``personatwin.validate.validation.validate``, which derives age from birth_date as the pipeline does: features
age, sex, race, zip + event summary) and both losses are ``personatwin.protect.merge.information_loss``
(100 SSE / SST). "Ours (unstratified)" is
``microaggregate(X, zeros, k)``, like with like; "ours (stratified engine)" is ``group_people`` with
the default policy's starting QI levels, i.e. what a release actually uses (personas never cross
sex x race x ... strata, so its loss is higher by construction).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def mdav(X: np.ndarray, k: int) -> np.ndarray:
    """Group index per row from exact MDAV; every group holds k..2k-1 rows."""
    n = X.shape[0]
    if n < k:
        raise ValueError(f"{n} rows, fewer than k={k}")
    X = np.ascontiguousarray(X, dtype=np.float64)
    group = np.full(n, -1, dtype=np.int64)
    alive = np.arange(n)  # indices of the rows not yet grouped
    total = X.sum(axis=0)  # running sum of the alive rows (centroid = total / len(alive))
    g = 0

    def sqdist(Y: np.ndarray, p: np.ndarray) -> np.ndarray:
        d = Y - p
        return np.einsum("ij,ij->i", d, d)

    def take_group(Y: np.ndarray, center: int) -> np.ndarray:
        """Positions (in Y) of row ``center`` and its k-1 nearest rows of Y (ties: lowest position)."""
        d = sqdist(Y, Y[center])
        d[center] = -1.0  # the centre itself always belongs to its group
        part = np.argpartition(d, k - 1)[:k]
        return part

    def remove(pos: np.ndarray) -> None:
        nonlocal alive, total, g
        rows = alive[pos]
        group[rows] = g
        g += 1
        total = total - X[rows].sum(axis=0)
        keep = np.ones(len(alive), dtype=bool)
        keep[pos] = False
        alive = alive[keep]

    while len(alive) >= 3 * k:
        Y = X[alive]
        r = int(np.argmax(sqdist(Y, total / len(alive))))
        xr = Y[r].copy()
        remove(take_group(Y, r))
        Y = X[alive]
        s = int(np.argmax(sqdist(Y, xr)))
        remove(take_group(Y, s))
    if len(alive) >= 2 * k:
        Y = X[alive]
        r = int(np.argmax(sqdist(Y, total / len(alive))))
        remove(take_group(Y, r))
    if len(alive):
        remove(np.arange(len(alive)))
    return group


def check_sizes(group: np.ndarray, k: int) -> tuple[int, int]:
    sizes = np.bincount(group)
    assert sizes.min() >= k and sizes.max() <= 2 * k - 1, (sizes.min(), sizes.max())
    return int(sizes.min()), int(sizes.max())


def machine() -> str:
    import os

    import numpy as _np
    import pandas as _pd
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}, "
            f"Python {platform.python_version()}, "
            f"numpy {_np.__version__}, pandas {_pd.__version__}")


def run(sizes=(5_000, 10_000, 20_000), k: int = 5, seed: int = 0) -> list[dict]:
    """One row per size: information loss and seconds of MDAV vs the engine on identical features."""
    # local imports: the project loads on use, after the sys.path set-up above (--help stays instant)
    from personatwin.core.domains import get_domain
    from personatwin.core.policy import PrivacyPolicy
    from personatwin.ingest import synth
    from personatwin.protect.merge import features_from_tables, group_people, information_loss, microaggregate
    from personatwin.protect.personas import start_levels
    from personatwin.validate.validation import validate

    domain = get_domain("criminal_justice")
    levels = start_levels(domain, PrivacyPolicy(k=k))
    # The merge kernel is compiled by numba; loading it (from the on-disk cache, or compiling it on a
    # fresh checkout) is paid once per process, so it is timed apart from the grouping itself.
    t0 = time.perf_counter()
    microaggregate(np.zeros((2 * k, 2)), np.zeros(2 * k, dtype=np.int64), k)
    kernel_load = time.perf_counter() - t0
    rows = []
    for n in sizes:
        data = synth.generate("criminal_justice", int(n), seed=seed)
        data = validate(data.people, data.events, domain)  # derives age from birth_date, as the pipeline does
        X = features_from_tables(data.people, data.events, domain)

        t0 = time.perf_counter()
        ours = microaggregate(X, np.zeros(len(X), dtype=np.int64), k)
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        grouping = group_people(data.people, None, domain, k, levels, X)
        t_strat = time.perf_counter() - t0
        t0 = time.perf_counter()
        ref = mdav(X, k)
        t_mdav = time.perf_counter() - t0

        check_sizes(ours, k)
        check_sizes(grouping.persona_index, k)
        check_sizes(ref, k)
        il_ours, il_mdav = information_loss(X, ours), information_loss(X, ref)
        row = {
            "n": int(n), "k": k, "features": int(X.shape[1]), "seed": seed,
            "il_ours_unstratified": il_ours, "il_ours_stratified_engine": grouping.information_loss,
            "il_mdav": il_mdav, "il_ratio_ours_over_mdav": il_ours / il_mdav,
            "il_ratio_stratified_over_mdav": grouping.information_loss / il_mdav,
            "seconds_ours": t_ours, "seconds_ours_stratified": t_strat, "seconds_mdav": t_mdav,
            "time_ratio_ours_over_mdav": t_ours / t_mdav,
            "groups_ours": int(ours.max()) + 1, "groups_stratified": grouping.n_personas,
            "groups_mdav": int(ref.max()) + 1, "strata": grouping.n_strata,
            "stratified_levels": levels, "kernel_load_seconds_once_per_process": kernel_load,
        }
        row["target_il_within_1_25x"] = bool(row["il_ratio_ours_over_mdav"] <= 1.25)
        rows.append(row)
        print(f"MDAV n={n}: IL ours {il_ours:.2f} (stratified {grouping.information_loss:.2f}) vs MDAV {il_mdav:.2f} "
              f"-> ratio {il_ours / il_mdav:.3f}; time ours {t_ours:.3f}s vs MDAV {t_mdav:.2f}s", flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[5_000, 10_000, 20_000])
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rows = run(args.sizes, args.k, args.seed)
    print(json.dumps({"machine": machine(), "mdav": rows}, indent=2))  # peers.py writes the result files
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

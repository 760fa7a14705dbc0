"""Runs Anonymeter's three evaluators on a flattened release; executed by the Anonymeter virtual environment.

    <.venv-anonymeter>/bin/python -I personatwin/measure/_anonymeter_runner.py <folder>

Anonymeter pins numpy < 1.27 and cannot be imported into the project's environment, so this file
is a standalone script: it imports nothing from PersonaTwin, only Anonymeter and its dependencies.
``<folder>`` (private, made and deleted by ``personatwin.measure.anonymeter_eval``) holds ``ori.parquet``
(original rows of the people in the evaluated release), ``syn.parquet`` (that release flattened to
one row per person), ``control.parquet`` (original rows of held-out people) and ``config.json``;
the script writes ``results.json`` there. It prints nothing: a failure is reported in
``results.json`` by exception type and evaluator only, never with values from the data.
"""

import json
import sys
import time
import warnings
from pathlib import Path

POOLED = "all secrets (pooled)"  # the variant name of the pooled inference row (as in anonymeter_eval.py)


def _rate(rate) -> dict:
    return {"value": float(rate.value), "error": float(rate.error)}


def _result(evaluator, attack: str, variant: str, confidence: float, n_attacks: int, extra: dict) -> dict:
    return _from_results(evaluator.results(confidence_level=confidence), attack, variant, n_attacks, extra)


def _from_results(res, attack: str, variant: str, n_attacks: int, extra: dict) -> dict:
    risk = res.risk()
    return {
        "attack": attack, "variant": variant,
        "risk": float(risk.value), "ci_low": float(risk.ci[0]), "ci_high": float(risk.ci[1]),
        "attack_rate": _rate(res.attack_rate), "baseline_rate": _rate(res.baseline_rate),
        "control_rate": None if res.control_rate is None else _rate(res.control_rate),
        "n_attacks": int(n_attacks), "n_success": float(res.n_success), "n_baseline": float(res.n_baseline),
        "n_control": None if res.n_control is None else float(res.n_control), **extra,
    }


def _design_effect(per_person: dict, n_secrets: int) -> dict:
    """Variance of the pooled success rates when people (not single guesses) are the unit, over the
    binomial variance the Wilson interval assumes: above 1 means the guesses about one person are
    correlated and the pooled interval is too narrow by the square root of this."""
    out = {}
    for side, counts in per_person.items():
        n = len(counts)
        if n < 2:
            continue
        p = counts.sum() / (n * n_secrets)
        binomial = p * (1 - p) / (n * n_secrets)
        clustered = counts.var(ddof=1) / n / n_secrets**2
        out[side] = float(clustered / binomial) if binomial > 0 else float("nan")
    return out


def _seeded_random_links(seed: int):
    """Anonymeter draws the linkability baseline from an unseeded generator: a seeded copy of the
    same draw keeps reruns identical (same inputs and seed, same figures)."""
    import numpy as np

    rng = np.random.default_rng(seed)

    def random_links(n_synthetic: int, n_attacks: int, n_neighbors: int):
        return np.array([rng.choice(n_synthetic, size=n_neighbors, replace=False) for _ in range(n_attacks)])

    return random_links


def cache_compiled_neighbours() -> None:
    """Anonymeter's nearest-neighbour kernels are numba functions compiled at every start (several
    seconds); recompile them with numba's on-disk cache (machine code only, in NUMBA_CACHE_DIR)."""
    import numba
    from anonymeter.neighbors import mixed_types_kneighbors as mtk

    opts = {"nopython": True, "nogil": True, "cache": True}
    mtk.gower_distance = numba.jit(**opts)(mtk.gower_distance.py_func)
    mtk._nearest_neighbors = numba.jit(**opts)(mtk._nearest_neighbors.py_func)


def deterministic_baseline_queries() -> None:
    """Anonymeter's random-guess baseline for singling out draws each value from a column's distinct
    values in the order polars' ``unique()`` returns them, which changes from run to run: the same
    draws over the distinct values in first-seen order make reruns identical (the baseline is
    reported, never part of the risk)."""
    from anonymeter.evaluators import singling_out_evaluator as so

    def random_queries(df, n_queries: int, n_cols: int, rng) -> list:
        unique_values = {col: df[col].unique(maintain_order=True).to_list() for col in df.columns}
        column_types = {col: so._convert_polars_dtype(df[col].dtype) for col in df.columns}
        queries = []
        for _ in range(n_queries):
            selected_cols = rng.choice(df.columns, size=n_cols, replace=False).tolist()
            queries.append(so._random_query(unique_values=unique_values, cols=selected_cols,
                                            column_types=column_types, rng=rng))
        return queries

    so._random_queries = random_queries


def fix_numeric_ranges(*tables) -> None:
    """Scale numeric columns by one range for every nearest-neighbour search of the run.

    Anonymeter divides each numeric column by its range over the release and the queries of one
    search, so the attack on the members and the attack on the held-out people measure distances
    with different scales (one held-out person with many events shrinks every event count of the
    control attack). Then a difference in success can come from the scale, not from the release.
    Here every search divides by the column's range over all three tables (release, members,
    held-out people): the same distance for every target."""
    import pandas as pd
    from anonymeter.preprocessing import transformations

    numeric = [c for c in tables[0].columns if pd.api.types.is_numeric_dtype(tables[0][c])]
    both = pd.concat([t[numeric] for t in tables], ignore_index=True)
    ranges = both.max() - both.min()
    ranges[~(ranges > 0)] = 1.0

    def scale(df1: pd.DataFrame, df2: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        r = ranges.reindex(df1.columns)
        if r.isna().any():  # a column not numeric in the members' table: Anonymeter's own range for it
            both = pd.concat([df1, df2], ignore_index=True)
            own = both.max() - both.min()
            own[~(own > 0)] = 1.0
            r = r.fillna(own)
        return df1 / r, df2 / r

    transformations._scale_numerical = scale


class SharedNearestRows:
    """Anonymeter's nearest-neighbour inference model (the guess is the secret of the target's nearest
    release row, as in its ``KNNInferencePredictor``), with each target's nearest row searched once for
    every secret. The attacker's knowledge (the aux columns) is the same for every secret, so the
    per-secret searches would repeat one search; with one numeric scale for every search
    (``fix_numeric_ranges``) a target's neighbour does not depend on the targets searched with it, so
    the guesses are the same as the per-secret searches'. Passed to ``InferenceEvaluator`` through its
    ``inference_model`` parameter; ``secret`` is set before each evaluator runs."""

    def __init__(self, syn, aux: list, targets, n_jobs: int):
        import pandas as pd
        from anonymeter.neighbors.mixed_types_kneighbors import MixedTypeKNeighbors

        nn = MixedTypeKNeighbors(n_jobs=n_jobs, n_neighbors=1).fit(candidates=syn[aux])
        self._nearest = pd.Series(nn.kneighbors(queries=targets[aux]).flatten(), index=targets.index)
        self._syn = syn
        self.secret = None

    def predict(self, x):
        guesses = self._syn[self.secret].iloc[self._nearest.loc[x.index].to_numpy()]
        guesses.index = x.index
        return guesses


def equal_distinct_rows(ori, control, below: int):
    """Singling out counts queries that isolate one *distinct* row (Anonymeter drops duplicate rows).
    When members and held-out people differ in distinct rows, Anonymeter rescales the held-out
    successes by a curve fitted on random subsets of 1,000 rows and more; below 1,000 that fit is
    degenerate (every subset is the whole table). There both sides are cut to the same number of
    distinct rows instead (the rows are in a keyed random order, so the first ones are a random
    sample), and no correction is needed."""
    u_ori, u_control = ori.drop_duplicates(ignore_index=True), control.drop_duplicates(ignore_index=True)
    n = min(len(u_ori), len(u_control))
    if n >= below or len(u_ori) == len(u_control):
        return ori, control
    return u_ori.iloc[:n], u_control.iloc[:n]


def run(folder: Path, state: dict) -> dict:
    import numpy as np
    import pandas as pd
    import polars as pl
    from anonymeter.evaluators import (
        InferenceEvaluator,
        LinkabilityEvaluator,
        SinglingOutEvaluator,
        inference_evaluator,
        linkability_evaluator,
    )
    from anonymeter.stats.confidence import EvaluationResults

    cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if cfg.get("numba_cache"):
        cache_compiled_neighbours()
    ori = pd.read_parquet(folder / "ori.parquet")
    syn = pd.read_parquet(folder / "syn.parquet")
    control = pd.read_parquet(folder / "control.parquet")
    if cfg.get("fixed_ranges"):
        fix_numeric_ranges(ori, syn, control)
    deterministic_baseline_queries()
    seeds = cfg["seeds"]
    conf = float(cfg["confidence_level"])
    n_jobs = int(cfg.get("n_jobs", 1))
    out, seconds = [], {}

    so = cfg["singling_out"]
    so_ori, so_control = equal_distinct_rows(ori, control, int(so.get("equal_sizes_below", 0)))
    for mode in so["modes"]:
        state["stage"] = f"singling out ({mode})"
        t0 = time.perf_counter()
        n = int(so["n_attacks"])
        # the size correction's random subsets (polars' sample, unseeded in Anonymeter) follow the run's seed
        pl.set_random_seed(int(seeds[f"singling_out_{mode}"]))
        ev = SinglingOutEvaluator(ori=so_ori, syn=syn, control=so_control, n_attacks=n, n_cols=int(so["n_cols"]),
                                  max_attempts=int(so["max_attempts"]), seed=int(seeds[f"singling_out_{mode}"]))
        ev.evaluate(mode=mode)
        out.append(_result(ev, "singling_out", mode, conf, n, {"n_queries": len(ev.queries())}))
        seconds[f"singling_out_{mode}"] = time.perf_counter() - t0

    lk = cfg["linkability"]
    for _ in range(1 if lk["n_attacks"] else 0):
        state["stage"] = "linkability"
        t0 = time.perf_counter()
        n = int(lk["n_attacks"])
        np.random.seed(int(seeds["linkability"]) % 2**32)  # pandas .sample() of the targets uses the global state
        linkability_evaluator._random_links = _seeded_random_links(int(seeds["linkability_baseline"]))
        ev = LinkabilityEvaluator(ori=ori, syn=syn, control=control, n_attacks=n, aux_cols=tuple(lk["aux_cols"]),
                                  n_neighbors=int(lk["n_neighbors"]))
        ev.evaluate(n_jobs=n_jobs)
        out.append(_result(ev, "linkability", " | ".join("+".join(c) for c in lk["aux_cols"]), conf, n, {}))
        seconds["linkability"] = time.perf_counter() - t0

    inf = cfg["inference"]
    # Members of a persona share one release row, so identical rows give identical guesses: the
    # nearest-neighbour search runs over the distinct rows only (same guesses, a fraction of the time).
    syn_distinct = syn.drop_duplicates(ignore_index=True)
    # held-out people get their own index values (after the members'), so one search serves both
    control_inf = control.set_axis(pd.RangeIndex(len(ori), len(ori) + len(control)))
    shared = None
    if inf["secrets"] and inf.get("shared_neighbours") and not set(inf["secrets"]) & set(inf["aux_cols"]):
        state["stage"] = "inference (nearest release rows)"
        t0 = time.perf_counter()
        shared = SharedNearestRows(syn_distinct, list(inf["aux_cols"]), pd.concat([ori, control_inf]), n_jobs)
        seconds["inference_neighbours"] = time.perf_counter() - t0
    pooled = {"ori": 0, "baseline": 0, "control": 0, "success": 0, "n_baseline": 0, "n_control": 0}
    per_person = {"ori": np.zeros(len(ori)), "control": np.zeros(len(control))}
    for i, secret in enumerate(inf["secrets"]):
        state["stage"] = f"inference ({secret})"
        t0 = time.perf_counter()
        n = int(inf["n_attacks"])
        np.random.seed((int(seeds["inference"]) + i) % 2**32)  # target and naive-guess sampling
        aux = [c for c in inf["aux_cols"] if c != secret]
        if shared is not None:
            shared.secret = secret
        ev = InferenceEvaluator(ori=ori, syn=syn_distinct, control=control_inf, aux_cols=aux, secret=secret,
                                regression=False, n_attacks=n, inference_model=shared)
        ev.evaluate(n_jobs=n_jobs)
        n_ori, n_base, n_ctrl = ev._n_attacks_ori, ev._n_attacks_baseline, ev._n_attacks_control
        out.append(_result(ev, "inference", secret, conf, n_ori, {"n_attacks_control": int(n_ctrl)}))
        pooled["ori"] += n_ori
        pooled["baseline"] += n_base
        pooled["control"] += n_ctrl
        pooled["success"] += int(ev._n_success)
        pooled["n_baseline"] += int(ev._n_baseline)
        pooled["n_control"] += int(ev._n_control)
        for side, table, guesses in (("ori", ori, ev._guesses_success), ("control", control_inf, ev._guesses_control)):
            if len(guesses) == len(table):  # every person a target: successes per person, for the design effect
                hit = inference_evaluator.evaluate_inference_guesses(
                    guesses=guesses, secrets=table.loc[guesses.index, secret], regression=False)
                per_person[side][table.index.get_indexer(guesses.index)] += hit
        seconds[f"inference_{secret}"] = time.perf_counter() - t0
    if inf["secrets"] and inf.get("pooled"):
        # One attack per (person, secret), scored with Anonymeter's own rates and Wilson intervals on
        # the summed counts. Guesses about one person are correlated (one nearest release row serves
        # every secret), so each side's counts are divided by its design effect (Kish): the interval
        # is as wide as the number of independent people behind it allows, never narrower than binomial.
        deff = _design_effect(per_person, len(inf["secrets"]))
        d_ori, d_ctrl = max(1.0, deff.get("ori", 1.0)), max(1.0, deff.get("control", 1.0))
        res = EvaluationResults(n_attacks=(pooled["ori"] / d_ori, pooled["baseline"], pooled["control"] / d_ctrl),
                                n_success=pooled["success"] / d_ori, n_baseline=pooled["n_baseline"],
                                n_control=pooled["n_control"] / d_ctrl, confidence_level=conf)
        row = _from_results(res, "inference", POOLED, pooled["ori"], {"n_attacks_control": pooled["control"],
                                                                     "n_secrets": len(inf["secrets"])})
        row.update(n_success=float(pooled["success"]), n_control=float(pooled["n_control"]),
                   design_effect=max(d_ori, d_ctrl))
        out.append(row)

    import anonymeter

    versions = {"anonymeter": getattr(anonymeter, "__version__", None), "numpy": np.__version__,
                "pandas": pd.__version__, "python": sys.version.split()[0]}
    try:
        from importlib.metadata import version

        versions["anonymeter"] = version("anonymeter")
    except Exception:  # noqa: BLE001 - the version is informative only
        pass
    return {"results": out, "seconds": seconds, "versions": versions}


def die_with_parent(parent: int) -> None:
    """Be killed when the parent process dies (Linux), so a killed release run leaves no runner behind."""
    import os

    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: the parent's timeout still bounds the runner
        return
    if os.getppid() != parent:  # the parent died before the call
        sys.exit(3)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        return 2
    folder = Path(argv[1])
    die_with_parent(int(argv[2]))
    state = {"stage": "start"}
    try:
        warnings.simplefilter("ignore")  # Anonymeter's warnings may quote figures of the data: never printed
        import logging

        logging.disable(logging.CRITICAL)
        state["stage"] = "loading the inputs"
        payload = run(folder, state)
    except Exception as exc:  # noqa: BLE001 - reported by type only: messages may hold data values
        payload = {"error": type(exc).__name__, "stage": state["stage"]}
        (folder / "results.json").write_text(json.dumps(payload), encoding="utf-8")
        return 1
    (folder / "results.json").write_text(json.dumps(payload), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

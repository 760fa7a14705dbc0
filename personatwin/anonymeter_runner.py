"""Runs Anonymeter's three evaluators on a flattened release; executed by the Anonymeter virtual environment.

    <.venv-anonymeter>/bin/python -I personatwin/anonymeter_runner.py <folder>

Anonymeter pins numpy < 1.27 and cannot be imported into the project's environment, so this file
is a standalone script: it imports nothing from PersonaTwin, only Anonymeter and its dependencies.
``<folder>`` (private, made and deleted by ``personatwin.anonymeter_eval``) holds ``ori.parquet``
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


def _rate(rate) -> dict:
    return {"value": float(rate.value), "error": float(rate.error)}


def _result(evaluator, attack: str, variant: str, confidence: float, n_attacks: int, extra: dict) -> dict:
    res = evaluator.results(confidence_level=confidence)
    risk = res.risk()
    return {
        "attack": attack, "variant": variant,
        "risk": float(risk.value), "ci_low": float(risk.ci[0]), "ci_high": float(risk.ci[1]),
        "attack_rate": _rate(res.attack_rate), "baseline_rate": _rate(res.baseline_rate),
        "control_rate": None if res.control_rate is None else _rate(res.control_rate),
        "n_attacks": int(n_attacks), "n_success": float(res.n_success), "n_baseline": float(res.n_baseline),
        "n_control": None if res.n_control is None else float(res.n_control), **extra,
    }


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


def run(folder: Path, state: dict) -> dict:
    import numpy as np
    import pandas as pd
    from anonymeter.evaluators import InferenceEvaluator, LinkabilityEvaluator, SinglingOutEvaluator
    from anonymeter.evaluators import linkability_evaluator

    cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if cfg.get("numba_cache"):
        cache_compiled_neighbours()
    ori = pd.read_parquet(folder / "ori.parquet")
    syn = pd.read_parquet(folder / "syn.parquet")
    control = pd.read_parquet(folder / "control.parquet")
    seeds = cfg["seeds"]
    conf = float(cfg["confidence_level"])
    n_jobs = int(cfg.get("n_jobs", 1))
    out, seconds = [], {}

    so = cfg["singling_out"]
    for mode in so["modes"]:
        state["stage"] = f"singling out ({mode})"
        t0 = time.perf_counter()
        n = int(so["n_attacks"])
        ev = SinglingOutEvaluator(ori=ori, syn=syn, control=control, n_attacks=n, n_cols=int(so["n_cols"]),
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
    for i, secret in enumerate(inf["secrets"]):
        state["stage"] = f"inference ({secret})"
        t0 = time.perf_counter()
        n = int(inf["n_attacks"])
        np.random.seed((int(seeds["inference"]) + i) % 2**32)  # target and naive-guess sampling
        aux = [c for c in inf["aux_cols"] if c != secret]
        ev = InferenceEvaluator(ori=ori, syn=syn_distinct, control=control, aux_cols=aux, secret=secret,
                                regression=False, n_attacks=n)
        ev.evaluate(n_jobs=n_jobs)
        out.append(_result(ev, "inference", secret, conf, min(n, len(ori)), {}))
        seconds[f"inference_{secret}"] = time.perf_counter() - t0

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

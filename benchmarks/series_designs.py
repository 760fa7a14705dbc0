"""Series protection designs measured by a series attack (issue 12, item 3).

    python benchmarks/series_designs.py --people 25000 --months 12      # full run
    python benchmarks/series_designs.py --quick                         # small smoke run

Generated criminal-justice data over ``--months`` months of 2024 (validated once, ages at the window's
end); a month's release = that month's events and the people with an event in it. Privacy level
``--level`` (default high: monthly dates, zip level 2, age bands, PRAM p = 0.85, attacker knowledge
m = 3, l = 2) with k fixed per run and swept over ``--k``. A fixed keyed sample of ``--targets``
people of the window's roster is attacked in every month they appear in (m true events of that month
plus their true QIs, every released column; ``personatwin.measure.linkage``). Known events are drawn
from the same stream per month for every design and k (common random numbers).

Designs:

* A, fresh grouping per release (the engine today): each month grouped on its own people and events,
  fresh salt and persona ids. Personas are not linkable across months: series success of a target =
  1 - prod_r (1 - s_r), series single-out = 1 - prod_r (1 - o_r) over the months they appear in.
* B-window, stable personas grouped once on the window's roster (everyone with an event in any month)
  on the window's events; B-cohort, the first month's people grouped on that month's events and each
  later month's newcomers grouped among themselves into new personas (deployable month by month).
  Each month's release carries the same personas (all members, sizes >= k) with that month's events,
  fresh date blur and PRAM (``personatwin.series.stable``). The attacker links a persona across months
  by its id and intersects the candidate sets: C* = AND_r C_r; success 1 / (people in C*) if the true
  persona is in C*, single-out if C* is the true persona alone. The naive 1 - prod(1 - s_r) is shown too.

Utility per month (averaged over months): information loss 100 SSE/SST on the month's present people
and month features (design A: the engine's own figure; B: the stable personas restricted to the month's
people), and the unbiased group-rate gaps of gated cells (``utility.group_rates``: diff_pp where
gate != none): largest and mean absolute. Everything vectorized; loops run over months and k only.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from personatwin.core.domains import get_domain  # noqa: E402
from personatwin.core.keys import ReleaseKey  # noqa: E402
from personatwin.core.policy import policy_for_level  # noqa: E402
from personatwin.core.schema import EVENT_DATE, PERSON_ID  # noqa: E402
from personatwin.ingest import synth  # noqa: E402
from personatwin.measure import linkage  # noqa: E402
from personatwin.measure.assess import counts_of, measure  # noqa: E402
from personatwin.measure.linkage import confidence  # noqa: E402
from personatwin.protect.merge import information_loss  # noqa: E402
from personatwin.protect.prepared import PassContext, PreparedData, prepare  # noqa: E402
from personatwin.protect.stages import merge_stage, noise_stage  # noqa: E402
from personatwin.series import stable  # noqa: E402
from personatwin.validate.validation import validate  # noqa: E402

DOMAIN = "criminal_justice"
TARGET = 0.05  # series risk target at medium and high (research)


@dataclass
class Months:
    """The window split into monthly releases, prepared once (independent of k). People are held as
    positions in the roster (everyone with an event in the window, sorted by id)."""

    labels: list[str]
    present: list[np.ndarray]  # sorted roster positions with an event in each month
    events: list[pd.DataFrame]
    event_pos: list[np.ndarray]  # roster position of each event of the month
    people: pd.DataFrame  # validated people of the roster, sorted by id (row = roster position)
    ids: np.ndarray  # person id of each roster position
    targets: np.ndarray  # sorted roster positions attacked
    fresh: list[PreparedData] = field(default_factory=list)  # design A: present people, month events
    window_all: PreparedData | None = None  # B-window grouping input: roster, all events
    window: list[PreparedData] = field(default_factory=list)  # B-window releases: roster, month events


def build(n_people: int, n_months: int, n_targets: int, seed: int, key: ReleaseKey) -> tuple[Months, dict]:
    dom = get_domain(DOMAIN)
    start = pd.Period("2024-01", "M")
    end = (start + n_months - 1).end_time.strftime("%Y-%m-%d")
    t = time.perf_counter()
    raw = synth.generate(DOMAIN, n_people, seed=seed, start="2024-01-01", end=end)
    checked = validate(raw.people, raw.events, dom, as_of=end)
    people = checked.people.sort_values(PERSON_ID, kind="stable").reset_index(drop=True)
    events = checked.events.reset_index(drop=True)
    month = events[EVENT_DATE].dt.to_period("M").astype(str).to_numpy()
    pidx = pd.Index(people[PERSON_ID].astype(str)).get_indexer(events[PERSON_ID].astype(str))
    on_roster = np.zeros(len(people), dtype=bool)
    on_roster[pidx] = True
    people = people[on_roster].reset_index(drop=True)
    pos = (np.cumsum(on_roster) - 1)[pidx]  # roster position of each event's person
    labels = [str(start + i) for i in range(n_months)]
    sel = [np.flatnonzero(month == lab) for lab in labels]
    present = [np.unique(pos[s]) for s in sel]
    rng = key.rng("series-designs", "targets")
    targets = np.sort(rng.choice(len(people), size=min(n_targets, len(people)), replace=False))
    mo = Months(labels, present, [events.iloc[s] for s in sel], [pos[s] for s in sel], people,
                people[PERSON_ID].astype(str).to_numpy(dtype=object), targets)
    for ids, ev in zip(present, mo.events):
        mo.fresh.append(prepare(people.iloc[ids], ev, dom))
        mo.window.append(prepare(people, ev, dom))
    mo.window_all = prepare(people, events.iloc[np.concatenate(sel)], dom)
    per_person = np.zeros(len(people), dtype=np.int64)
    for ids in present:
        per_person[ids] += 1
    info = {"people_generated": n_people, "events": int(sum(len(e) for e in mo.events)), "roster": len(people),
            "people_per_month": [len(p) for p in present], "events_per_month": [len(e) for e in mo.events],
            "months_present": {int(k): int(v) for k, v in zip(*np.unique(per_person, return_counts=True))},
            "months_present_mean": float(per_person.mean()),
            "targets": len(targets), "targets_months_present_mean": float(per_person[targets].mean()),
            "setup_seconds": time.perf_counter() - t}
    return mo, info


def gaps(rates: pd.DataFrame) -> tuple[float, float]:
    gated = rates[rates["gate"] != "none"] if len(rates) else rates
    if not len(gated):
        return 0.0, 0.0
    d = gated["diff_pp"].abs().to_numpy(dtype=np.float64)
    return float(d.max()), float(d.mean())


class Tally:
    """Per-target series accumulators and per-month figures of one design at one k."""

    def __init__(self, n_targets: int, months_present: np.ndarray):
        self.months_present = months_present  # per target
        self.log_miss = np.zeros(n_targets)  # sum_r log(1 - s_r)
        self.log_not_single = np.zeros(n_targets)
        self.month_risk: list[float] = []
        self.month_single: list[float] = []
        self.month_kept: list[float] = []  # share of the month's targets whose true persona is a candidate
        self.il: list[float] = []
        self.max_gap: list[float] = []
        self.mean_gap: list[float] = []
        self.failures: list[int] = []
        self.personas: list[int] = []
        self.thin_1: list[float] = []  # share of the month's events in personas with one active member
        self.thin_k: list[float] = []  # ... with fewer than k active members (people with an event that month)
        self.active_mean: list[float] = []  # active members behind a persona's month events (event-weighted)
        self.gated: list[int] = []  # gated group-rate cells

    def active(self, data: PreparedData, persona: np.ndarray, k: int) -> None:
        """How many distinct people stand behind each persona's events of the month."""
        has = np.bincount(data.event_person, minlength=data.n_people) > 0
        n_p = int(persona.max()) + 1
        active = np.bincount(persona, weights=has, minlength=n_p)
        events = np.bincount(persona[data.event_person], minlength=n_p)
        total = max(int(events.sum()), 1)
        self.thin_1.append(float(events[active == 1].sum()) / total)
        self.thin_k.append(float(events[active < k].sum()) / total)
        self.active_mean.append(float((events * active).sum()) / total)

    def month(self, slots, success, single, il, util, n_personas):
        self.log_miss[slots] += np.log1p(-np.minimum(success, 1.0 - 1e-12))
        self.log_not_single[slots] += np.log1p(-np.minimum(single.astype(np.float64), 1.0 - 1e-12))
        self.month_risk.append(float(success.mean()) if len(success) else 0.0)
        self.month_single.append(float(single.mean()) if len(single) else 0.0)
        self.month_kept.append(float((success > 0).mean()) if len(success) else 0.0)
        self.il.append(il)
        mx, mn = gaps(util.group_rates)
        self.max_gap.append(mx)
        self.mean_gap.append(mn)
        self.failures.append(len(util.gate_failures))
        rates = util.group_rates
        self.gated.append(int((rates["gate"] != "none").sum()) if len(rates) else 0)
        self.personas.append(n_personas)

    def row(self, design: str, k: int, seconds: float, series=None, single=None, extra=None) -> dict:
        naive = -np.expm1(self.log_miss)
        if series is None:
            series, single = naive, -np.expm1(self.log_not_single)
        s, lo, hi = confidence(series)
        heavy = self.months_present >= 9
        o, olo, ohi = confidence(single.astype(np.float64))
        return {"design": design, "k": k, "series_success": s, "series_ci_low": lo, "series_ci_high": hi,
                "series_single_out": o, "series_single_out_ci_low": olo, "series_single_out_ci_high": ohi,
                "naive_series_success": float(naive.mean()),
                "month_risk": float(np.mean(self.month_risk)), "month_risk_max": float(np.max(self.month_risk)),
                "month_single_out": float(np.mean(self.month_single)),
                "month_true_kept": float(np.mean(self.month_kept)),
                "information_loss": float(np.mean(self.il)), "max_gap_pp": float(np.mean(self.max_gap)),
                "mean_gap_pp": float(np.mean(self.mean_gap)), "gate_failures": float(np.mean(self.failures)),
                "personas": float(np.mean(self.personas)), "seconds": seconds,
                "series_p95": float(np.quantile(series, 0.95)), "series_max": float(series.max()),
                "series_heavy": float(series[heavy].mean()) if heavy.any() else float("nan"),
                "heavy_targets": int(heavy.sum()),
                "events_one_active": float(np.mean(self.thin_1)) if self.thin_1 else 0.0,
                "events_under_k_active": float(np.mean(self.thin_k)) if self.thin_k else 0.0,
                "active_members": float(np.mean(self.active_mean)) if self.active_mean else 0.0,
                "gated_cells": float(np.mean(self.gated)), **(extra or {})}


def months_present(mo: Months) -> np.ndarray:
    """Months each target appears in."""
    return np.sum([np.isin(mo.targets, ids, assume_unique=True) for ids in mo.present], axis=0)


def attack_rng(key: ReleaseKey, label: str) -> np.random.Generator:
    return key.rng(label, "series-designs-attack")  # the same knowledge draws for every design and k


def run_fresh(mo: Months, policy, key: ReleaseKey) -> dict:
    """Design A: every month grouped on its own, fresh salt; independent chances."""
    t = time.perf_counter()
    dom = get_domain(DOMAIN)
    tally = Tally(len(mo.targets), months_present(mo))
    for lab, data, ids in zip(mo.labels, mo.fresh, mo.present):
        ctx = PassContext(data, policy, key, salt=lab)
        merged = merge_stage(ctx)
        noised = noise_stage(ctx, merged)
        inp = stable.attack_inputs(ctx, merged, noised)
        here = np.isin(mo.targets, ids, assume_unique=True)
        tgt = np.searchsorted(ids, mo.targets[here])
        res = linkage.simulate(inp, dom, policy.attacker_knowledge, 0, attack_rng(key, lab), use_qis=True,
                               targets=tgt)
        util = measure(data, policy, merged.person_persona, merged.attributes, noised.pram, merged.grouping,
                       counts_of(ctx, merged, noised))
        tally.month(np.flatnonzero(here), res.success, res.singled_out, util.information_loss, util,
                    merged.grouping.n_personas)
        tally.active(data, merged.person_persona, policy.k)
    return tally.row("A fresh", policy.k, time.perf_counter() - t)


def run_stable(mo: Months, policy, key: ReleaseKey, variant: str) -> dict:
    """Design B: stable personas for the window (``window`` or ``cohort`` grouping), candidate sets
    intersected across the months a target appears in."""
    t = time.perf_counter()
    dom = get_domain(DOMAIN)
    m = policy.attacker_knowledge
    tally = Tally(len(mo.targets), months_present(mo))
    slots_by_month, bits_by_month = [], []
    personas: stable.StablePersonas | None = None
    if variant == "window":
        assert mo.window_all is not None
        personas = stable.window_personas(PassContext(mo.window_all, policy, key, salt="window-" + mo.labels[0]))
    seen = np.zeros(len(mo.people), dtype=bool)  # roster positions already in a persona (cohort)
    for r, (lab, ids) in enumerate(zip(mo.labels, mo.present)):
        if variant == "window":
            data = mo.window[r]
        else:  # cohort: this month's newcomers form new personas of their own
            new = ids[~seen[ids]]
            if len(new):
                fresh = np.zeros(len(mo.people), dtype=bool)
                fresh[new] = True
                ctx_new = PassContext(prepare(mo.people.iloc[new], mo.events[r][fresh[mo.event_pos[r]]], dom),
                                      policy, key, salt=lab + "-cohort")
                personas = stable.StablePersonas.from_merge(ctx_new) if personas is None else \
                    personas.extend(ctx_new)
            seen[ids] = True
            data = prepare(mo.people.iloc[np.flatnonzero(seen)], mo.events[r], dom)
        assert personas is not None
        ctx = PassContext(data, policy, key, salt=lab)
        merged = personas.merged(ctx)
        noised = noise_stage(ctx, merged)
        inp = stable.attack_inputs(ctx, merged, noised)
        here = np.isin(mo.targets, ids, assume_unique=True)
        tgt = np.searchsorted(personas.person_ids, mo.ids[mo.targets[here]])
        cand = stable.candidates(inp, dom, m, tgt, attack_rng(key, lab))
        success, single = stable.outcome(cand.bits, cand.true_persona, cand.sizes)
        util = measure(data, policy, merged.person_persona, merged.attributes, noised.pram, merged.grouping,
                       counts_of(ctx, merged, noised))
        present_persona = personas.persona[np.searchsorted(personas.person_ids, mo.ids[ids])]
        il = information_loss(mo.fresh[r].features, present_persona)  # month features of the month's people
        tally.month(np.flatnonzero(here), success, single, il, util, personas.n_personas)
        tally.active(data, merged.person_persona, policy.k)
        slots_by_month.append(np.flatnonzero(here))
        bits_by_month.append(cand.bits)
    assert personas is not None
    words = (personas.n_personas + 63) // 64
    n_t = len(mo.targets)
    cstar = stable.intersect(bits_by_month, slots_by_month, n_t, words)
    true_p = personas.persona[np.searchsorted(personas.person_ids, mo.ids[mo.targets])]
    sizes = np.bincount(personas.persona, minlength=personas.n_personas).astype(np.float64)
    success, single = stable.outcome(cstar, true_p, sizes)
    v_success, v_single = stable.outcome(stable.vote(bits_by_month, slots_by_month, n_t, words), true_p, sizes)
    vs, vlo, vhi = confidence(v_success)
    tp = true_p
    hit = ((cstar[np.arange(n_t), tp >> 6] >> (tp & 63).astype(np.uint64)) & np.uint64(1)).astype(bool)
    extra = {"window_information_loss": (information_loss(mo.window_all.features, personas.persona)
                                         if variant == "window" and mo.window_all is not None else float("nan")),
             "mean_persona_size": float(sizes.mean()), "ceiling_1_over_size": float((1.0 / sizes[true_p]).mean()),
             "vote_success": vs, "vote_ci_low": vlo, "vote_ci_high": vhi, "vote_single_out": float(v_single.mean()),
             "vote_p95": float(np.quantile(v_success, 0.95)),
             "vote_heavy": (float(v_success[tally.months_present >= 9].mean()) if (tally.months_present >= 9).any()
                            else float("nan")),
             "intersection_keeps_true": float(hit.mean()),
             "intersection_candidates": float(np.bitwise_count(cstar).sum(axis=1).mean())}
    return tally.row(f"B {variant}", policy.k, time.perf_counter() - t, success, single, extra)


def table(rows: list[dict]) -> str:
    """The main table: series risk of each design and k, and the utility at that k."""
    head = ("| design | k | series success [95% CI] | series single-out | vote attack (B): success [95% CI], "
            "single-out | naive 1-Π(1-s_r) | monthly risk mean (max month) | info loss % | max gated gap pp "
            "| mean abs gated gap pp | time s |")
    out = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        vote = (f"{r['vote_success']:.4f} [{r['vote_ci_low']:.4f}, {r['vote_ci_high']:.4f}], "
                f"{r['vote_single_out']:.3f}" if "vote_success" in r else "(no linking)")
        out.append(
            f"| {r['design']} | {r['k']} | {r['series_success']:.4f} [{r['series_ci_low']:.4f}, "
            f"{r['series_ci_high']:.4f}] | {r['series_single_out']:.3f} | {vote} | {r['naive_series_success']:.4f} | "
            f"{r['month_risk']:.4f} ({r['month_risk_max']:.4f}) | {r['information_loss']:.1f} | "
            f"{r['max_gap_pp']:.2f} | {r['mean_gap_pp']:.2f} | {r['seconds']:.1f} |")
    return "\n".join(out)


def diagnostics(rows: list[dict]) -> str:
    """Per-target spread, the attack's per-month figures, and what stands behind each persona-month."""
    head = ("| design | k | series p95 / max per target | series, targets in >= 9 months (vote) | monthly single-out "
            "| monthly true persona kept | personas | active members per persona-month | events behind < k / 1 "
            "active member % | gated cells / month | window info loss % |")
    out = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        heavy = f"{r['series_heavy']:.4f}" + (f" ({r['vote_heavy']:.4f})" if "vote_heavy" in r else "")
        window = r.get("window_information_loss", float("nan"))
        out.append(
            f"| {r['design']} | {r['k']} | {r['series_p95']:.3f} / {r['series_max']:.3f} | {heavy} | "
            f"{r['month_single_out']:.3f} | {r['month_true_kept']:.3f} | {r['personas']:.0f} | "
            f"{r['active_members']:.1f} | {100 * r['events_under_k_active']:.1f} / "
            f"{100 * r['events_one_active']:.1f} | "
            f"{r['gated_cells']:.0f} | {'' if np.isnan(window) else f'{window:.1f}'} |")
    return "\n".join(out)


def smallest_k(rows: list[dict]) -> str:
    lines = []
    for design in dict.fromkeys(r["design"] for r in rows):
        mine = sorted((r for r in rows if r["design"] == design), key=lambda r: r["k"])
        attacks = [("series", "series_success", "series_ci_low", "series_ci_high", "series_single_out")]
        if "vote_success" in mine[0]:
            attacks.append(("vote attack", "vote_success", "vote_ci_low", "vote_ci_high", "vote_single_out"))
        for name, col, lo, hi, single in attacks:
            ok = [r for r in mine if r[col] <= TARGET]
            if not ok:
                best = min(mine, key=lambda r: r[col])
                lines.append(f"- {design}, {name}: <= {TARGET} at no k swept "
                             f"(lowest {best[col]:.4f} at k = {best['k']})")
                continue
            r = ok[0]
            upper = next((x["k"] for x in mine if x[hi] <= TARGET), None)
            lines.append(f"- {design}, {name}: smallest k = {r['k']} ({r[col]:.4f} [{r[lo]:.4f}, {r[hi]:.4f}], "
                         f"single-out {r[single]:.3f}); information loss {r['information_loss']:.1f} %, largest "
                         f"gated gap {r['max_gap_pp']:.2f} pp, mean abs gated gap {r['mean_gap_pp']:.2f} pp; "
                         f"95% upper bound <= {TARGET} from k = {upper}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--people", type=int, default=25_000, help="people generated (the roster is those with events)")
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--k", type=int, nargs="+", default=[5, 8, 10, 15, 20, 25, 30, 35, 40, 50, 60])
    ap.add_argument("--targets", type=int, default=2000)
    ap.add_argument("--level", default="high")
    ap.add_argument("--designs", nargs="+", default=["fresh", "window", "cohort"],
                    choices=["fresh", "window", "cohort"])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--location-level", type=int, help="override the preset's location level (3: suppressed)")
    ap.add_argument("--value-rounding", type=float, help="override the preset's amount rounding (e.g. 10000)")
    ap.add_argument("--json", type=Path, help="also write every figure as JSON here")
    ap.add_argument("--quick", action="store_true", help="small run: 4,000 people, 4 months, k 5 10 20, 500 targets")
    args = ap.parse_args(argv)
    if args.quick:
        args.people, args.months, args.k, args.targets = 4000, 4, [5, 10, 20], 500
    key = ReleaseKey("x" * 64)
    t0 = time.perf_counter()
    mo, info = build(args.people, args.months, args.targets, args.seed, key)
    overrides = {"location_level": args.location_level, "value_rounding": args.value_rounding}
    base = policy_for_level(args.level, **overrides)
    print(f"# series designs: {args.level}, m = {base.attacker_knowledge}, dates {base.date_precision}, "
          f"PRAM p = {base.pram_p}, l = {base.l_diversity}; {platform.machine()} {platform.python_version()}")
    print(json.dumps(info))
    rows = []
    for k in args.k:
        policy = policy_for_level(args.level, k=k, **overrides)
        for d in args.designs:
            try:
                row = run_fresh(mo, policy, key) if d == "fresh" else run_stable(mo, policy, key, d)
            except Exception as exc:  # e.g. a month's newcomers fewer than k: report, go on
                print(f"{d} k={k}: {type(exc).__name__}: {exc}", file=sys.stderr)
                continue
            rows.append(row)
            print(f"  {row['design']:9s} k={k:3d}  series {row['series_success']:.4f}  "
                  f"single {row['series_single_out']:.3f}"
                  f"  monthly {row['month_risk']:.4f}  IL {row['information_loss']:.1f}  {row['seconds']:.1f}s",
                  file=sys.stderr, flush=True)
    rows.sort(key=lambda r: (r["design"], r["k"]))
    total = time.perf_counter() - t0
    print()
    print(table(rows))
    print()
    print(diagnostics(rows))
    print()
    print(f"Target: series success <= {TARGET}.")
    print(smallest_k(rows))
    print(f"\nTotal runtime {total:.1f} s (setup {info['setup_seconds']:.1f} s).")
    if args.json:
        args.json.write_text(json.dumps({"info": info, "rows": rows, "seconds": total}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The independent Anonymeter evaluation (issue #6, attacks): flattening, the keyed split, the gate (a
headline risk above the limit is never released), a real run in the Anonymeter environment on generated
criminal-justice data at HIGH, and an unsafe release it refuses."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pandas as pd
import pytest

from personatwin.core.domains import get_domain
from personatwin.core.errors import AttackRefusedError
from personatwin.core.keys import ReleaseKey
from personatwin.core.policy import policy_for_level
from personatwin.ingest import synth
from personatwin.measure import anonymeter_eval as ae
from personatwin.protect.prepared import PassContext, prepare
from personatwin.publish.export import (
    verify_manifest,
    write_release_folder,
)
from personatwin.release import release as release_mod
from personatwin.release.release import make_release_from_prepared
from personatwin.validate.validation import validate
from tests.helpers import needs_anonymeter

KEY = ReleaseKey("anonymeter-test-key-0123456789abcdef")
DOMAIN = get_domain("criminal_justice")


def prepared_data(n: int, seed: int = 1):
    g = synth.generate("criminal_justice", n, seed=seed)
    checked = validate(g.people, g.events, DOMAIN)
    return prepare(checked.people, checked.events, DOMAIN)


@pytest.fixture(scope="module")
def small():
    return prepared_data(3000, seed=5)


def test_flatten_gives_one_row_per_person_with_the_personas_attributes(small):
    policy = policy_for_level("high")
    flat = ae.flatten(PassContext(small, policy, KEY, "p"))
    assert len(flat.ori) + len(flat.control) == small.n_people
    assert len(flat.syn) == len(flat.ori)  # the evaluation release: one row per person in it
    assert len(flat.control) == ae.AnonymeterOptions().n_control(small.n_people) == small.n_people // 2  # small: half
    cols = flat.columns
    assert list(flat.ori.columns) == list(flat.syn.columns) == list(flat.control.columns) == list(cols.all)
    assert cols.qis == ("age", "sex", "race", "zip")
    assert set(cols.secrets) == {f"outcome_{t}" for t in DOMAIN.event_types}
    # members of a persona share one row: distinct release rows come in groups of at least k
    sizes = flat.syn.value_counts(dropna=False)
    assert sizes.min() >= policy.k
    # originals are in the published form: QI labels at the policy's starting level, own integer counts
    assert flat.ori["zip"].str.endswith("*").all()
    assert flat.ori["age"].str.contains("-|\\+").all()  # 10-year bands at HIGH, never exact ages
    assert (flat.ori[list(cols.counts)] % 1 == 0).all().all()
    # most personas publish the starting-level label (others a coarser one, e.g. 20-39 or *)
    assert flat.syn["age"].isin(set(flat.ori["age"])).mean() > 0.5


def test_release_rows_carry_persona_event_counts(small):
    policy = policy_for_level("high")
    flat_syn = ae.release_frame(PassContext(small, policy, KEY, "x"))
    assert len(flat_syn) == small.n_people
    total = flat_syn["events_arrest"].sum()  # per-member means summed over members = persona totals
    arrests = int((np.asarray(small.type_names)[small.type_codes] == "arrest").sum())
    assert abs(total - arrests) < 0.01 * len(flat_syn)  # rounding of the means to 2 decimals only


def test_split_is_keyed_and_deterministic():
    a = ae.split_control(10_000, KEY, "2024-01")
    assert a.sum() == 2000
    assert np.array_equal(a, ae.split_control(10_000, KEY, "2024-01"))
    assert not np.array_equal(a, ae.split_control(10_000, KEY, "2024-02"))
    assert not np.array_equal(a, ae.split_control(10_000, ReleaseKey("another-key-0123456789abcdef"), "2024-01"))
    # held out: the larger of 20% and half of the people up to 2,000, at most 5,000
    sizes = {1000: 500, 2496: 1248, 4000: 2000, 6000: 2000, 16_576: 3315, 30_000: 5000, 100_000: 5000}
    for n, held_out in sizes.items():
        assert ae.AnonymeterOptions().n_control(n) == held_out, n
    assert ae.split_control(1000, KEY, "").sum() == 500
    with pytest.raises(ae.AnonymeterError, match="too few"):
        ae.split_control(999, KEY, "")


def test_missing_environment_fails_clearly(small, monkeypatch, tmp_path):
    monkeypatch.setenv(ae.PYTHON_ENV, str(tmp_path / "nowhere" / "python"))
    stock = ae.AnonymeterOptions(engine="anonymeter")  # the reference engine needs its environment ...
    with pytest.raises(ae.AnonymeterUnavailableError, match="setup-anonymeter"):
        ae.evaluate_prepared(PassContext(small, policy_for_level("high"), KEY), stock)
    with pytest.raises(ae.AnonymeterUnavailableError):
        make_release_from_prepared(PassContext(small, policy_for_level("high"), KEY), anonymeter=True,
                                   anonymeter_options=stock)
    # ... the default sampled engine does not
    assert ae.evaluate_prepared(PassContext(small, policy_for_level("high"), KEY)).engine == "sampled"


def test_gate_rule():
    # a headline risk counts against the release when its point estimate is above the limit, whatever its interval
    assert ae.exceeds(0.0501, 0.0, 0.05)
    assert ae.exceeds(0.08, 0.01, 0.05)
    assert not ae.exceeds(0.05, 0.0, 0.05)
    assert not ae.exceeds(0.04, 0.02, 0.05)
    # any other figure (one secret's inference risk) only when even its lower bound is above the limit
    assert not ae.exceeds(0.2, 0.04, 0.05, headline=False)
    assert ae.exceeds(0.2, 0.06, 0.05, headline=False)
    assert not ae.exceeds(0.9, 0.5, None)  # no limit: reported only


def _risk(attack, variant, risk, lo=None, hi=None, n=1000):
    lo = max(0.0, risk - 0.03) if lo is None else lo
    hi = min(1.0, risk + 0.03) if hi is None else hi
    return ae.AttackRisk(attack=attack, variant=variant, risk=risk, ci_low=lo, ci_high=hi, attack_rate=0.5,
                         baseline_rate=0.1, control_rate=0.5, n_attacks=n, n_success=500.0, n_baseline=100.0,
                         n_control=500.0)


def fake_evaluation(max_risk=0.05, so=0.01, li=0.0, inf=0.02, secret=(0.03, 0.0, 0.1)) -> ae.AnonymeterEvaluation:
    """An evaluation with chosen headline risks and one secret's (risk, ci_low, ci_high)."""
    rows = [_risk("singling_out", "univariate", 0.0), _risk("singling_out", "multivariate", so),
            _risk("linkability", "age+sex+race+zip | events", li)]
    rows += [_risk("inference", f"outcome_{t}", 0.0) for t in ("arrest", "charge", "hearing", "sentence")]
    rows += [_risk("inference", "outcome_disposition", *secret), _risk("inference", ae.POOLED, inf, n=5000)]
    return ae.AnonymeterEvaluation(results=tuple(rows), n_people=3000, n_train=1500, n_control=1500,
                                   confidence_level=0.95, max_risk=max_risk)


def test_headlines_are_the_pooled_inference_and_the_stronger_singling_out():
    ev = fake_evaluation(so=0.02, inf=0.03, secret=(0.2, 0.04, 0.36))
    assert ev.inference.variant == ae.POOLED and ev.inference.risk == 0.03  # not the largest secret (0.2)
    assert ev.singling_out.variant == "multivariate"
    assert ev.passed  # the secret's 0.2 is reported, but its lower bound 0.04 is within the limit
    m = ev.metrics()
    assert m["anonymeter_inference_risk"] == 0.03 and m["anonymeter_gate_failures"] == 0
    section = ev.as_dict()
    assert section["passed"] is True and section["risks"]["inference"]["variant"] == ae.POOLED
    assert len(section["evaluators"]) == len(ev.results)  # every secret stays in the detail
    assert not fake_evaluation(secret=(0.2, 0.06, 0.34)).passed  # a secret above the limit at its lower bound
    assert "even the lower bound" in fake_evaluation(secret=(0.2, 0.06, 0.34)).failures()[0]


@pytest.mark.parametrize("attack", ["singling_out", "linkability", "inference", "one secret"])
def test_a_release_with_a_headline_risk_above_the_limit_is_never_released(small, monkeypatch, attack):
    """Pins the literal gate: every reported headline risk <= anonymeter_max_risk, else k is doubled (3 times)
    and then nothing is released, even when the risk is not significantly above 0."""
    import personatwin.release.release as rel

    figures = {"singling_out": dict(so=0.0501), "linkability": dict(li=0.0501), "inference": dict(inf=0.0501),
               "one secret": dict(secret=(0.3, 0.0501, 0.55))}[attack]
    seen = []

    def evaluate(ctx, options):
        seen.append(ctx.policy.k)
        return fake_evaluation(ctx.policy.anonymeter_max_risk, **figures)

    monkeypatch.setattr(rel, "evaluate_prepared", evaluate)
    with pytest.raises(AttackRefusedError, match="refuses the release") as info:
        make_release_from_prepared(PassContext(small, policy_for_level("high"), KEY), anonymeter=True)
    assert seen == [10, 20, 40, 80]  # k doubled three times, then refused
    assert [it.step for it in info.value.history].count(release_mod.ANONYMETER_STEP) == 3
    assert info.value.evaluation.failures() and not info.value.evaluation.passed


def test_a_release_within_the_limit_after_raising_k_is_released(small, monkeypatch):
    import personatwin.release.release as rel

    def evaluate(ctx, options):  # pooled inference 0.06 at k = 10, 0.03 from k = 20
        return fake_evaluation(ctx.policy.anonymeter_max_risk, inf=0.06 if ctx.policy.k < 20 else 0.03)

    monkeypatch.setattr(rel, "evaluate_prepared", evaluate)
    release = make_release_from_prepared(PassContext(small, policy_for_level("high"), KEY), anonymeter=True)
    assert release.policy.k == 20 and release.attacks.passed
    assert [it.step for it in release.history].count(release_mod.ANONYMETER_STEP) == 1
    for attack in ae.ATTACKS:
        assert release.attacks.headline(attack).risk <= 0.05
    assert "all secrets (pooled)" in release.summary() and "inference per secret" in release.summary()


@needs_anonymeter
def test_high_release_on_generated_data_reports_three_risks_and_meets_the_limit_or_is_refused(tmp_path):
    data = prepared_data(20_000, seed=1)
    t0 = time.perf_counter()
    try:
        release = make_release_from_prepared(PassContext(data, policy_for_level("high"), KEY, ""), anonymeter=True,
                                             anonymeter_options=ae.AnonymeterOptions(engine="anonymeter"))
    except AttackRefusedError as exc:  # refused: the figures still come with the refusal
        ev = exc.evaluation
        assert exc.evaluation.failures()
        print(f"refused: {exc}")
        release = None
    else:
        ev = release.attacks
    seconds = time.perf_counter() - t0
    m = ev.metrics()
    for attack in ae.ATTACKS:
        risk, lo, hi = (m[f"anonymeter_{attack}_{x}"] for x in ("risk", "ci_low", "ci_high"))
        assert 0.0 <= lo <= risk <= hi <= 1.0, attack
    assert ev.n_control == 4000 and ev.n_train == len(data.people) - 4000
    assert {r.attack for r in ev.results} == set(ae.ATTACKS)
    # inference: one evaluator per secret, every member and every held-out person a target, and the pooled headline
    per_secret = [r for r in ev.results if r.attack == "inference" and r.variant != ae.POOLED]
    assert {r.variant for r in per_secret} == {f"outcome_{t}" for t in DOMAIN.event_types}
    assert all(r.n_attacks == ev.n_train and r.n_attacks_control == ev.n_control for r in per_secret)
    pooled = ev.inference
    assert pooled.variant == ae.POOLED and pooled.n_attacks == ev.n_train * len(per_secret)
    assert pooled.n_success == sum(r.n_success for r in per_secret)
    assert pooled.n_control == sum(r.n_control for r in per_secret)
    assert pooled.attack_rate == pytest.approx(pooled.n_success / pooled.n_attacks, abs=2e-3)  # Wilson centre
    assert 1.0 <= pooled.design_effect < 3.0
    assert ev.inference.ci_high - ev.inference.ci_low < min(r.ci_high - r.ci_low for r in per_secret)
    print(ev.table()[["attack", "variant", "risk", "ci_low", "ci_high", "attack_rate", "control_rate",
                      "n_attacks"]].to_string(), f"\n{seconds:.1f} s", ev.attack_seconds)
    if release is None:
        return
    # released: every headline risk of the released configuration is at most the limit (the literal gate)
    assert ev.max_risk == 0.05 and ev.passed
    for attack in ae.ATTACKS:
        assert ev.headline(attack).risk <= 0.05, attack
    assert all(r.ci_low <= 0.05 for r in per_secret)
    # the figures are in the release metrics, the manifest and the HTML report
    folder = tmp_path / "release"
    manifest = write_release_folder(release.tables(), folder)
    assert verify_manifest(folder) == []
    section = json.loads((folder / "manifest.json").read_text())["anonymeter"]
    assert section == manifest["anonymeter"]
    assert section["risks"]["inference"]["variant"] == ae.POOLED and len(section["evaluators"]) == len(ev.results)
    for attack in ae.ATTACKS:
        assert section["risks"][attack]["risk"] == pytest.approx(m[f"anonymeter_{attack}_risk"])
        assert manifest["metrics"][f"anonymeter_{attack}_ci_high"] == pytest.approx(m[f"anonymeter_{attack}_ci_high"],
                                                                                   abs=1e-6)  # published: rounded
    assert section["passed"] is True and section["max_risk"] == 0.05 and section["control_people"] == 4000
    html = (folder / "privacy_report.html").read_text()
    assert 'id="attacks"' in html and "Anonymeter" in html
    for attack in ("singling out", "linkability", "inference", ae.POOLED, "counts against"):
        assert attack in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "<script" not in html
    # no temporary folder of the evaluation is left behind
    import tempfile
    from pathlib import Path

    assert not [p for p in Path(tempfile.gettempdir()).glob(f"{ae.TMP_PREFIX}{os.getpid()}-*")]


@needs_anonymeter
def test_runner_scales_every_search_alike():
    """Anonymeter scales numeric columns by the range of each search's own queries; the runner uses one range
    over the release, the members and the held-out people, so both attacks measure distance alike."""
    import subprocess

    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import pandas as pd, _anonymeter_runner as r\n"
        "from anonymeter.preprocessing import transformations as t\n"
        "ori = pd.DataFrame({'x': [0.0, 1.0]}); control = pd.DataFrame({'x': [0.0, 10.0]}); "
        "syn = pd.DataFrame({'x': [2.0, 3.0]})\n"
        "assert t._scale_numerical(syn, ori)[1]['x'].tolist() == [0.0, 1 / 3]  # Anonymeter: range of syn and ori\n"
        "assert t._scale_numerical(syn, control)[1]['x'].tolist() == [0.0, 1.0]  # ... of syn and control\n"
        "r.fix_numeric_ranges(ori, syn, control)\n"
        "assert t._scale_numerical(syn, ori)[1]['x'].tolist() == [0.0, 0.1]\n"
        "assert t._scale_numerical(syn, control)[1]['x'].tolist() == [0.0, 1.0]\n")
    subprocess.run([str(ae.anonymeter_python()), "-I", "-c", code, str(ae.RUNNER.parent)], check=True, timeout=120)


@needs_anonymeter
def test_shared_inference_search_gives_the_per_secret_guesses(small):
    """One nearest-row search for every secret gives exactly the counts of one search per secret."""
    opts = ae.AnonymeterOptions(attacks=("inference",))
    flat = ae.flatten(PassContext(small, policy_for_level("high"), KEY, "shared"), opts)
    seeds = ae._seeds(KEY, "shared")
    shared = ae.run_anonymeter(flat, seeds, opts)
    separate = ae.run_anonymeter(flat, seeds, ae.AnonymeterOptions(attacks=("inference",), shared_neighbours=False))
    assert "inference_neighbours" in shared["seconds"] and "inference_neighbours" not in separate["seconds"]
    counts = lambda raw: [(r["variant"], r["n_success"], r["n_control"], r["risk"]) for r in raw["results"]]  # noqa: E731
    assert counts(shared) == counts(separate) and len(counts(shared)) == len(DOMAIN.event_types) + 1


@needs_anonymeter
def test_rerun_gives_the_same_figures(small):
    """Same data, key and salt: the same figures, although Anonymeter draws at random in places (the
    linkability baseline, target samples, the singling-out size correction): every draw follows the run's seeds."""
    policy = policy_for_level("high")
    stock = ae.AnonymeterOptions(engine="anonymeter")
    first, second = (ae.evaluate_prepared(PassContext(small, policy, KEY, "again"), stock).table() for _ in range(2))
    pd.testing.assert_frame_equal(first, second)


@needs_anonymeter
def test_unsafe_release_is_detected_and_refused():
    data = prepared_data(5000, seed=2)
    fast = ae.AnonymeterOptions(n_attacks=300, engine="anonymeter")  # the sampled engine: test_attack_sample
    # k = 2, exact ages and zip codes, day dates, no PRAM: a release that barely protects anyone
    unsafe = policy_for_level("high", k=2, pram_p=1.0, date_precision="day", location_level=0,
                              qi_levels={"age": 0}, target_risk=1.0, l_diversity=1) \
        .with_changes(max_single_out_rate=None, max_t_closeness=None)  # only Anonymeter may refuse it here
    ev = ae.evaluate_prepared(PassContext(data, unsafe, KEY, "unsafe"), fast)
    print(ev.table()[["attack", "variant", "risk", "ci_low", "ci_high", "attack_rate", "control_rate"]].to_string())
    worst = max(ev.results, key=lambda r: r.risk)
    assert worst.risk > 0.15 and worst.ci_low > 0.05  # clearly above the limit
    assert ev.failures()
    with pytest.raises(ae.AttackRiskError, match="refuses the release"):
        ae.check(ev)
    # through the release step (no escalation allowed): nothing is released
    with pytest.raises(AttackRefusedError) as info:
        make_release_from_prepared(PassContext(data, unsafe, KEY, "unsafe"), anonymeter=True, anonymeter_options=fast,
                                   anonymeter_escalations=0, max_iterations=1)
    assert info.value.evaluation.failures() and info.value.history


def test_report_without_evaluation_says_so(small):
    from personatwin.publish.report import render_report

    release = make_release_from_prepared(PassContext(small, policy_for_level("medium"), KEY))
    tables = release.tables()
    assert tables.anonymeter is None
    html = render_report(tables)
    assert 'id="attacks"' in html and "Not evaluated" in html
    from personatwin.publish.export import anonymeter_section

    assert anonymeter_section(None) is None

"""The independent Anonymeter evaluation (issue #6, attacks): flattening, the keyed split, a real run in
the Anonymeter environment on generated criminal-justice data at HIGH, and an unsafe release it refuses."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pandas as pd
import pytest

from personatwin import anonymeter_eval as ae
from personatwin import synth
from personatwin.domains import get_domain
from personatwin.export import verify_manifest, write_release_folder, release_tables
from personatwin.keys import ReleaseKey
from personatwin.policy import policy_for_level
from personatwin.protect import prepare
from personatwin.release import AttackRefusedError, make_release_from_prepared
from personatwin.validate import validate

KEY = ReleaseKey("anonymeter-test-key-0123456789abcdef")
DOMAIN = get_domain("criminal_justice")


def prepared_data(n: int, seed: int = 1):
    g = synth.generate("criminal_justice", n, seed=seed)
    checked = validate(g.people, g.events, DOMAIN)
    return prepare(checked.people, checked.events, DOMAIN)


def venv_available() -> bool:
    try:
        ae.anonymeter_python()
    except ae.AnonymeterUnavailableError:
        return False
    return True


needs_anonymeter = pytest.mark.skipif(
    not venv_available(), reason="the Anonymeter environment (.venv-anonymeter) is missing: run scripts/setup-anonymeter")


@pytest.fixture(scope="module")
def small():
    return prepared_data(3000, seed=5)


def test_flatten_gives_one_row_per_person_with_the_personas_attributes(small):
    policy = policy_for_level("high")
    flat = ae.flatten(small, policy, KEY, "p")
    assert len(flat.ori) + len(flat.control) == small.n_people
    assert len(flat.syn) == len(flat.ori)  # the evaluation release: one row per person in it
    assert len(flat.control) == round(0.2 * small.n_people)
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
    flat_syn = ae.release_frame(small, policy, KEY, "x")
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
    assert ae.split_control(100_000, KEY, "").sum() == 5000  # capped
    with pytest.raises(ae.AnonymeterError, match="too few"):
        ae.split_control(500, KEY, "")


def test_missing_environment_fails_clearly(small, monkeypatch, tmp_path):
    monkeypatch.setenv(ae.PYTHON_ENV, str(tmp_path / "nowhere" / "python"))
    with pytest.raises(ae.AnonymeterUnavailableError, match="setup-anonymeter"):
        ae.evaluate_prepared(small, policy_for_level("high"), KEY)
    with pytest.raises(ae.AnonymeterUnavailableError):
        make_release_from_prepared(small, policy_for_level("high"), KEY, anonymeter=True)


def test_gate_rule():
    assert ae.exceeds(0.08, 0.01, 0.05)  # above the limit and significantly above 0
    assert not ae.exceeds(0.08, 0.0, 0.05)  # not distinguishable from 0 at this sample size
    assert not ae.exceeds(0.04, 0.02, 0.05)
    assert not ae.exceeds(0.9, 0.5, None)  # no limit: reported only


@needs_anonymeter
def test_high_release_on_generated_data_reports_three_risks_and_meets_the_limit_or_is_refused(tmp_path):
    data = prepared_data(20_000, seed=1)
    t0 = time.perf_counter()
    try:
        release = make_release_from_prepared(data, policy_for_level("high"), KEY, salt="", anonymeter=True,
                                             anonymeter_options=ae.AnonymeterOptions(n_attacks=500))
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
    assert len([r for r in ev.results if r.attack == "inference"]) == len(DOMAIN.event_types)
    print(ev.table()[["attack", "variant", "risk", "ci_low", "ci_high", "attack_rate", "control_rate",
                      "n_attacks"]].to_string(), f"\n{seconds:.1f} s", ev.attack_seconds)
    if release is None:
        return
    # released: each risk of the released configuration is within the limit (or not significantly above 0)
    assert ev.max_risk == 0.05 and ev.passed
    for attack in ae.ATTACKS:
        h = ev.headline(attack)
        assert h.risk <= 0.05 or h.ci_low == 0.0
    # the figures are in the release metrics, the manifest and the HTML report
    folder = tmp_path / "release"
    manifest = write_release_folder(release_tables(release), folder)
    assert verify_manifest(folder) == []
    section = json.loads((folder / "manifest.json").read_text())["anonymeter"]
    assert section == manifest["anonymeter"]
    for attack in ae.ATTACKS:
        assert section["risks"][attack]["risk"] == pytest.approx(m[f"anonymeter_{attack}_risk"])
        assert manifest["metrics"][f"anonymeter_{attack}_ci_high"] == pytest.approx(m[f"anonymeter_{attack}_ci_high"])
    assert section["passed"] is True and section["max_risk"] == 0.05 and section["control_people"] == 4000
    html = (folder / "privacy_report.html").read_text()
    assert 'id="attacks"' in html and "Anonymeter" in html
    for attack in ("singling out", "linkability", "inference"):
        assert attack in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "<script" not in html
    # no temporary folder of the evaluation is left behind
    import tempfile
    from pathlib import Path

    assert not [p for p in Path(tempfile.gettempdir()).glob(f"{ae.TMP_PREFIX}{os.getpid()}-*")]


@needs_anonymeter
def test_unsafe_release_is_detected_and_refused():
    data = prepared_data(5000, seed=2)
    fast = ae.AnonymeterOptions(n_attacks=300)
    # k = 2, exact ages and zip codes, day dates, no PRAM: a release that barely protects anyone
    unsafe = policy_for_level("high", k=2, pram_p=1.0, date_precision="day", location_level=0,
                              qi_levels={"age": 0}, target_risk=1.0, l_diversity=1)
    ev = ae.evaluate_prepared(data, unsafe, KEY, "unsafe", fast)
    print(ev.table()[["attack", "variant", "risk", "ci_low", "ci_high", "attack_rate", "control_rate"]].to_string())
    worst = max(ev.results, key=lambda r: r.risk)
    assert worst.risk > 0.15 and worst.ci_low > 0.05  # clearly above the limit
    assert ev.failures()
    with pytest.raises(ae.AttackRiskError, match="refuses the release"):
        ae.check(ev)
    # through the release step (no escalation allowed): nothing is released
    with pytest.raises(AttackRefusedError) as info:
        make_release_from_prepared(data, unsafe, KEY, salt="unsafe", anonymeter=True, anonymeter_options=fast,
                                   anonymeter_escalations=0, max_iterations=1)
    assert info.value.evaluation.failures() and info.value.history


def test_report_without_evaluation_says_so(small):
    from personatwin.report import render_report_tables

    release = make_release_from_prepared(small, policy_for_level("medium"), KEY)
    tables = release_tables(release)
    assert "anonymeter" not in tables
    html = render_report_tables(tables)
    assert 'id="attacks"' in html and "Not evaluated" in html
    from personatwin.export import anonymeter_section

    assert anonymeter_section(None) is None

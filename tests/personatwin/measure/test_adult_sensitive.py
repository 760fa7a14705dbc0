"""ARX Adult with two sensitive attributes, ``occupation`` and ``salary-class`` (issue 13).

People without events (30,162 records), QIs sex, age, race, marital-status, education, native-country
with ARX's hierarchies (as in test_adult.py), both sensitive columns categorical. The engine must
release at the medium and the high preset (Anonymeter off), and its l-diversity and t-closeness per
sensitive attribute, judged on TRUE values per persona, must equal:

* an independent computation in plain pandas from the original table and the internal person ->
  persona assignment (``release.person_persona``): distinct l, entropy l, t (total variation distance
  to the attribute's overall distribution), the share of homogeneous personas and recursive c;
* pyCANON 1.3.6 (in its own environment, ``.venv-pycanon``, made by ``scripts/setup-pycanon``) on the
  flat table one row per person with the persona as the only quasi-identifier, so that pyCANON's
  equivalence classes are exactly the personas.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from personatwin.core.domains import Domain
from personatwin.core.errors import PrivacyTargetError, UtilityGateError
from personatwin.core.hierarchy import MappingHierarchy
from personatwin.core.keys import ReleaseKey
from personatwin.core.policy import PrivacyPolicy, policy_for_level
from personatwin.release.release import Release, make_release
from tests.helpers import needs_pycanon
from tests.paths import ARX_ADULT, PYCANON_PYTHON

ADULT = ARX_ADULT / "adult.csv"
pytestmark = pytest.mark.skipif(not ADULT.exists(), reason=f"ARX Adult data set not found at {ADULT}")

QIS = ("sex", "age", "race", "marital-status", "education", "native-country")
SENSITIVE = ("occupation", "salary-class")
LEVELS = ("medium", "high")
KEY = ReleaseKey("arx-adult-test-release-key")
TOL = 1e-9

# Runs in .venv-pycanon (``python -I -c``): per attribute and over both at once (pyCANON's gen=True takes
# the least diverse attribute per class), with the persona as the only quasi-identifier.
PYCANON_RUNNER = r"""
import json, sys
import pandas as pd
from pycanon import anonymity
path, attributes = sys.argv[1], json.loads(sys.argv[2])
data = pd.read_csv(path, dtype=str, keep_default_na=False)
qi = ["persona"]
def figures(sa):
    return {"l": int(anonymity.l_diversity(data, qi, sa)),
            "entropy_l": float(anonymity.entropy_l_diversity(data, qi, sa)),
            "t": float(anonymity.t_closeness(data, qi, sa))}
out = {"k": int(anonymity.k_anonymity(data, qi)), "all": figures(attributes)}
out.update({a: figures([a]) for a in attributes})
print(json.dumps(out))
"""


def empty_events() -> pd.DataFrame:
    """An events table with no rows: Adult has people only."""
    return pd.DataFrame({"person_id": pd.array([], dtype="string"), "event_type": pd.array([], dtype="string"),
                         "event_date": np.array([], dtype="datetime64[s]"), "outcome": pd.array([], dtype="string")})


@pytest.fixture(scope="module")
def adult() -> tuple[pd.DataFrame, Domain]:
    """The people table (person_id = row number as text, QIs and both sensitive columns) and its domain."""
    raw = pd.read_csv(ADULT, sep=";", dtype=str, keep_default_na=False)
    assert len(raw) == 30_162
    hierarchies = {q: MappingHierarchy.from_csv(ARX_ADULT / f"adult_hierarchy_{q}.csv") for q in QIS}
    domain = Domain(name="arx_adult", event_types={}, qis=QIS, bias_attributes=("sex", "race"),
                    sensitive=SENSITIVE, hierarchies=hierarchies, location_qi=None)
    people = pd.DataFrame({"person_id": pd.array([f"row{i}" for i in range(len(raw))], dtype="string"),
                           **{c: pd.array(raw[c], dtype="string") for c in (*QIS, *SENSITIVE)}})
    return people, domain


@pytest.fixture(scope="module", params=LEVELS)
def released(request, adult) -> tuple[str, Release, pd.DataFrame]:
    """(level, release, people with their persona): people in the engine's canonical order (sorted by
    person_id, as ``protect.prepared.prepare`` orders them), which ``release.person_persona`` follows."""
    people, domain = adult
    level = request.param
    try:
        release = make_release(people, empty_events(), domain, policy_for_level(level), KEY, "adult-sensitive")
    except (PrivacyTargetError, UtilityGateError) as exc:  # the Done-when item needs a release: say why not
        pytest.fail(f"{level}: refused: {exc}\n{pd.DataFrame([it.row() for it in exc.history]).to_string()}")
    ordered = people.sort_values("person_id", kind="stable").reset_index(drop=True)
    assert release.person_persona is not None and len(release.person_persona) == len(ordered)
    return level, release, ordered.assign(persona=release.person_persona)


def independent_diversity(persona: pd.Series, values: pd.Series, l: int) -> dict[str, float]:  # noqa: E741
    """Per-persona figures of one categorical attribute in plain pandas, on true values: distinct l (min
    distinct values), entropy l (exp of the min entropy, natural log), t (max of 0.5 sum |q - g|, g the
    attribute's overall distribution), the homogeneous share and recursive c at l (max r1 / (r_l + ...))."""
    frame = pd.DataFrame({"persona": persona.to_numpy(), "value": values.astype(str).to_numpy()})
    counts = pd.crosstab(frame["persona"], frame["value"])  # persona x value, absent values as 0
    q = counts.div(counts.sum(axis=1), axis=0)
    g = frame["value"].value_counts(normalize=True).reindex(counts.columns)
    distinct = (counts > 0).sum(axis=1)
    entropy = -(q * np.log(q.where(q > 0))).sum(axis=1)  # 0 log 0 = 0: NaN is skipped by sum
    t = 0.5 * (q - g).abs().sum(axis=1)
    ranked = -np.sort(-counts.to_numpy(), axis=1)  # each persona's counts, largest first
    tails = ranked[:, l - 1:].sum(axis=1)
    c = max(r[0] / tail if tail > 0 else math.inf for r, tail in zip(ranked, tails, strict=True))
    return {"l_diversity_distinct": float(distinct.min()), "l_diversity_entropy": float(np.exp(entropy.min())),
            "t_closeness": float(t.max()), "homogeneous_personas": float((distinct == 1).mean()),
            "c_recursive": float(c)}


def attribute_l(policy: PrivacyPolicy, attribute: str) -> int:
    """The distinct l an attribute is held to: its own (``l_diversity_by_attribute``), else the policy's."""
    return int(dict(getattr(policy, "l_diversity_by_attribute", None) or {}).get(attribute) or policy.l_diversity)


def engine_figures(release: Release, attribute: str) -> dict[str, float]:
    """The engine's per-attribute figures, as the release publishes them (``risk_metrics.as_dict()``)."""
    d = release.risk_metrics.as_dict()
    names = ("l_diversity_distinct", "l_diversity_entropy", "t_closeness", "homogeneous_personas", "c_recursive")
    return {name: float(d[f"{name}.{attribute}"]) for name in names}


def test_adult_two_sensitive_attributes_release(released) -> None:
    """Medium and high both release: k at least the preset's, release risk within the target, the
    per-attribute targets met and every person in one persona of the released sizes."""
    level, release, people = released
    requested, r = policy_for_level(level), release.risk
    figures = {a: engine_figures(release, a) for a in SENSITIVE}
    print(f"\nAdult {level}: released k={release.policy.k}, k-anonymity={r.k_anonymity}, "
          f"release risk={release.release_risk:.6f}, personas={r.n_personas}, iterations={release.iterations}; "
          + "; ".join(f"{a}: l={f['l_diversity_distinct']:.0f} entropy l={f['l_diversity_entropy']:.6f} "
                      f"t={f['t_closeness']:.6f} c={f['c_recursive']:.4f}" for a, f in figures.items()))
    assert r.n_people == len(people)
    assert r.k_anonymity >= release.policy.k >= requested.k
    assert release.release_risk <= release.policy.target_risk == requested.target_risk
    assert [it.meets_targets for it in release.history if it.selected] == [True]
    for a, f in figures.items():
        assert f["l_diversity_distinct"] >= attribute_l(release.policy, a) >= requested.l_diversity, a
        assert f["t_closeness"] <= requested.max_t_closeness, a
    # person -> persona: every persona index used, with the sizes the personas table publishes
    sizes = people.groupby("persona")["person_id"].size()
    assert list(sizes.index) == list(range(len(release.personas.table)))
    assert sorted(sizes) == sorted(release.personas.table["size"].astype(int))
    assert sizes.min() >= release.policy.k


def test_per_attribute_figures_equal_independent_computation(released) -> None:
    """Each attribute's l, entropy l, t, homogeneous share and recursive c equal the plain-pandas figures;
    the release's overall l and t are the least diverse attribute's."""
    level, release, people = released
    # recursive c is reported at the attribute's l (its own, else the policy's), at least 2
    mine = {a: independent_diversity(people["persona"], people[a], max(attribute_l(release.policy, a), 2))
            for a in SENSITIVE}
    for a in SENSITIVE:
        engine = engine_figures(release, a)
        assert engine == pytest.approx(mine[a], rel=TOL, abs=TOL), (level, a)
    r = release.risk
    assert r.l_diversity_distinct == min(mine[a]["l_diversity_distinct"] for a in SENSITIVE)
    assert r.l_diversity_entropy == pytest.approx(min(mine[a]["l_diversity_entropy"] for a in SENSITIVE), rel=TOL)
    assert r.t_closeness == pytest.approx(max(mine[a]["t_closeness"] for a in SENSITIVE), rel=TOL, abs=TOL)


def run_pycanon(table: pd.DataFrame, workdir: Path) -> dict:
    """pyCANON's k, l, entropy l and t on the flat table (persona + true sensitive values), in .venv-pycanon."""
    csv = workdir / "flat.csv"
    table.to_csv(csv, index=False)
    done = subprocess.run([str(PYCANON_PYTHON), "-I", "-c", PYCANON_RUNNER, str(csv), json.dumps(list(SENSITIVE))],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"pyCANON failed: {done.stderr[-2000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


@needs_pycanon
def test_pycanon_agrees_on_the_persona_table(released, tmp_path) -> None:
    """pyCANON, personas as equivalence classes, gives the engine's per-attribute distinct l and t (its t for a
    text attribute is the equal-distance EMD, 0.5 sum |q - p|: the engine's total variation distance), and the
    engine's overall l and t over both attributes (gen=True). pyCANON's entropy l is int(exp(min entropy)),
    natural log, truncated: it is compared with the floor of the engine's. pyCANON's recursive (c, l) is not
    compared: it sorts counts ascending and takes floor(r1 / (r_l + ...) + 1) at the data's own l, a
    different quantity from the model's smallest c (largest count over the tail) at the policy's l."""
    level, release, people = released
    flat = pd.DataFrame({"persona": "p" + people["persona"].astype(str),
                         **{a: people[a].astype(str) for a in SENSITIVE}})
    theirs = run_pycanon(flat, tmp_path)
    print(f"\npyCANON {level}: {json.dumps(theirs)}")
    assert theirs["k"] == int(people.groupby("persona").size().min()) >= release.policy.k
    r = release.risk
    overall = {"l_diversity_distinct": r.l_diversity_distinct, "l_diversity_entropy": r.l_diversity_entropy,
               "t_closeness": r.t_closeness}
    for name, engine in [*((a, engine_figures(release, a)) for a in SENSITIVE), ("all", overall)]:
        got = theirs[name]
        assert got["l"] == engine["l_diversity_distinct"], (level, name)
        assert got["entropy_l"] == math.floor(engine["l_diversity_entropy"] + TOL), (level, name)
        assert got["t"] == pytest.approx(engine["t_closeness"], rel=TOL, abs=TOL), (level, name)

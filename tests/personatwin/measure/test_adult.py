"""The engine on ARX's Adult data set (30,162 records) and ARX's textbook example (test2.csv).

People without events; QIs sex, age, race, marital-status, education, native-country with ARX's own
hierarchy files (the age hierarchy is a mapping file: value;0-4;0-9;0-19;*); sensitive attribute
salary-class. Every privacy figure the engine reports is recomputed here, in plain pandas, from
the released tables only, and must be EQUAL:

* EC sizes: personas grouped by their published QI tuple, ``size`` summed; k = min EC size;
* population average risk = #EC / n;
* distinct l = min over personas of the number of distinct released salary-class values in the
  ``sensitive`` table (persona_id, attribute, value, count).

Choice of policy (found by running the loop): k=5, l=1, target risk 0.1. The first pass already
meets it (population average risk 1495 / 30162 = 0.0496, external linkage about 0.014), so the
release is a k=5 release after one iteration; 0.05 (the research threshold) is also met but only
just, so 0.1 leaves room for changes in the merge. With l=2 the loop has to raise k to 100 (about
three in four people earn <=50K, so small personas are often all <=50K after PRAM): that run is
pinned too, as a loop that ends in a release.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from personatwin.core.domains import Domain
from personatwin.core.hierarchy import MappingHierarchy
from personatwin.core.keys import ReleaseKey
from personatwin.core.policy import PrivacyPolicy
from personatwin.release.release import Release, make_release
from tests.paths import ARX_ADULT

ARX = ARX_ADULT
ADULT = ARX / "adult.csv"
pytestmark = pytest.mark.skipif(not ADULT.exists(), reason=f"ARX Adult data set not found at {ADULT}")

QIS = ("sex", "age", "race", "marital-status", "education", "native-country")
SENSITIVE = "salary-class"
KEY = ReleaseKey("arx-adult-test-release-key")


def empty_events() -> pd.DataFrame:
    return pd.DataFrame({"person_id": pd.array([], dtype="string"), "event_type": pd.array([], dtype="string"),
                         "event_date": np.array([], dtype="datetime64[s]"), "outcome": pd.array([], dtype="string")})


def people_table(raw: pd.DataFrame, columns) -> pd.DataFrame:
    """person_id = row number (as text), then the given columns as strings."""
    return pd.DataFrame({"person_id": pd.array([f"row{i}" for i in range(len(raw))], dtype="string"),
                         **{c: pd.array(raw[c], dtype="string") for c in columns}})


@pytest.fixture(scope="module")
def adult() -> tuple[pd.DataFrame, Domain]:
    raw = pd.read_csv(ADULT, sep=";", dtype=str, keep_default_na=False)
    assert len(raw) == 30_162
    hierarchies = {q: MappingHierarchy.from_csv(ARX / f"adult_hierarchy_{q}.csv") for q in QIS}
    for q in QIS:  # ARX's hierarchies cover every value: nothing is suppressed for being unknown
        assert set(raw[q]) <= set(hierarchies[q].values), q
    domain = Domain(name="arx_adult", event_types={}, qis=QIS, bias_attributes=("sex", "race"),
                    sensitive=(SENSITIVE,), hierarchies=hierarchies, location_qi=None)
    return people_table(raw, (*QIS, SENSITIVE)), domain


def independent_figures(release: Release, qis, n: int) -> dict:
    """k, #EC, population average risk and distinct l from the released tables only."""
    personas, sensitive = release.personas.table, release.sensitive
    ec = personas.groupby(list(qis), dropna=False, observed=True)["size"].sum()
    distinct = sensitive[sensitive["count"] > 0].groupby("persona_id", observed=True)["value"].nunique()
    assert set(distinct.index) == set(personas["persona_id"])  # every persona carries its members' values
    return {"k": int(ec.min()), "n_ec": len(ec), "population_average_risk": len(ec) / n, "l": int(distinct.min())}


def assert_no_people_rows(release: Release, people: pd.DataFrame, k: int, sensitive_col: str) -> None:
    personas, sensitive = release.personas.table, release.sensitive
    n = len(people)
    assert list(personas.columns) == ["persona_id", "size", *release.domain.qis]
    assert (personas["size"] >= k).all() and len(personas) <= n // k
    assert int(personas["size"].sum()) == n
    assert len(release.events) == 0
    assert list(sensitive.columns) == ["persona_id", "attribute", "value", "count"]
    assert set(sensitive["attribute"]) == {sensitive_col}
    counts = sensitive.groupby(sensitive["persona_id"].astype(str))["count"].sum()
    sizes = pd.Series(personas["size"].to_numpy(), index=personas["persona_id"].astype(str))
    assert counts.sort_index().astype(int).to_dict() == sizes.sort_index().astype(int).to_dict()
    assert len(sensitive) <= len(personas) * people[sensitive_col].nunique()
    ids = set(people["person_id"])
    for table in (personas, sensitive):
        for col in table.columns:
            assert not ids & set(table[col].astype(str)), col


# l = 2 on the true salary class: member swaps repair some personas short of a second class, the
# ladder raises k for the rest (k = 80 since issue 11 judges l on true values; 40 when it was judged on
# PRAM's released values, which add diversity of their own; k = 100 before the repair existed).
@pytest.mark.parametrize("l_div, target, expect_k", [(1, 0.1, 5), (2, 0.1, 80)], ids=["k5-l1", "k5-l2-loop"])
def test_adult_release_figures_equal_independent_computation(adult, l_div, target, expect_k) -> None:
    people, domain = adult
    n = len(people)
    policy = PrivacyPolicy(k=5, target_risk=target, l_diversity=l_div)
    release = make_release(people, empty_events(), domain, policy, KEY, "adult")  # must not raise
    r = release.risk
    mine = independent_figures(release, QIS, n)
    print(f"\nAdult l={l_div}: released k={release.policy.k}, k-anonymity={r.k_anonymity}, "
          f"l={r.l_diversity_distinct:.0f}, population average risk={r.population_average_risk:.6f}, "
          f"#EC={r.n_equivalence_classes}, personas={r.n_personas}, iterations={release.iterations}, "
          f"external linkage={r.external_linkage_risk:.4f}")
    assert r.n_people == n
    assert r.k_anonymity == mine["k"] >= 5
    assert r.n_equivalence_classes == mine["n_ec"]
    assert r.population_average_risk == mine["population_average_risk"]
    # l is judged on true values (the published counts are PRAM'd, so they cannot reproduce it)
    assert r.l_diversity_distinct >= l_div and mine["l"] >= 1
    assert release.release_risk <= target
    assert release.policy.k == expect_k
    if l_div == 1:
        assert release.iterations == 1 and r.k_anonymity == 5  # a k=5 release, first configuration
    assert_no_people_rows(release, people, release.policy.k, SENSITIVE)


# ------------------------------------------------------------------------------------------------
# ARX's textbook example: 9 records, QIs ZIPCode and Age, sensitive Disease
# ------------------------------------------------------------------------------------------------


def test_arx_textbook_example_is_3_anonymous_and_3_diverse() -> None:
    """test2.csv with its hierarchies, k=3 and PRAM off (p=1) so released diseases are the true
    ones: three personas of three, each publishing a QI tuple that exactly three records match,
    each with three distinct diseases (the 3-diverse table of the l-diversity paper's example)."""
    raw = pd.read_csv(ARX / "test2.csv", sep=";", dtype=str, keep_default_na=False)
    hierarchies = {q: MappingHierarchy.from_csv(ARX / f"test2_hierarchy_{q}.csv")
                   for q in ("ZIPCode", "Age", "Disease")}
    domain = Domain(name="arx_test2", event_types={}, qis=("ZIPCode", "Age"), bias_attributes=(),
                    sensitive=("Disease",), hierarchies=hierarchies, location_qi=None)
    people = people_table(raw, ("ZIPCode", "Age", "Salary", "Disease"))
    policy = PrivacyPolicy(k=3, target_risk=0.34, l_diversity=3, pram_p=1.0, qi_levels={})
    release = make_release(people, empty_events(), domain, policy, KEY, "test2")
    r = release.risk
    mine = independent_figures(release, ("ZIPCode", "Age"), len(people))
    assert ((r.k_anonymity, r.n_equivalence_classes, r.l_diversity_distinct)
            == (mine["k"], mine["n_ec"], mine["l"]) == (3, 3, 3))
    assert r.population_average_risk == mine["population_average_risk"] == pytest.approx(1 / 3)
    assert release.iterations == 1
    assert_no_people_rows(release, people, 3, "Disease")
    # Each published tuple is matched by exactly its persona's records, whose true diseases are released.
    for row in release.personas.table.itertuples(index=False):
        match = np.ones(len(people), dtype=bool)
        for qi, label in (("ZIPCode", row.ZIPCode), ("Age", row.Age)):
            h = hierarchies[qi]
            match &= np.any([h.generalize(people[qi], lv).astype(str).to_numpy() == label
                             for lv in range(h.n_levels)], axis=0)
        assert match.sum() == row.size == 3
        released = release.sensitive[release.sensitive["persona_id"] == row.persona_id]
        true = people.loc[match, "Disease"].value_counts()
        assert dict(zip(released["value"], released["count"])) == true.to_dict()
    # Salary is neither a QI nor sensitive: it is not released at all.
    assert "Salary" not in release.personas.table.columns and "Salary" not in set(release.sensitive["attribute"])

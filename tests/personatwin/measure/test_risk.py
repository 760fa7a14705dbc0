"""Risk metrics (DESIGN §5) on hand-made releases whose figures are computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from personatwin.core.domains import get_domain
from personatwin.core.keys import ReleaseKey
from personatwin.core.policy import PrivacyPolicy
from personatwin.measure.risk import (
    class_sizes,
    demographic_concentration,
    diversity,
    equivalence_classes,
    population_risks,
    risk_level,
    value_counts_matrix,
)
from personatwin.protect.merge import Grouping
from personatwin.protect.personas import PersonaAttributes
from personatwin.protect.prepared import PassContext, prepare
from personatwin.release.one_pass import protect

DOMAIN = get_domain("criminal_justice")
KEY = ReleaseKey("risk-test-release-key-000001")


def attributes(rows: list[tuple], levels: list[tuple], qis=("age", "sex")) -> PersonaAttributes:
    """Personas as (size, *labels) rows, with their hierarchy levels."""
    table = pd.DataFrame(rows, columns=["size", *qis]).astype({q: "string" for q in qis})
    return PersonaAttributes(table, pd.DataFrame(levels, columns=list(qis)), tuple(qis))


# ------------------------------------------------------------------------------------------------
# Equivalence classes, k, population average risk
# ------------------------------------------------------------------------------------------------


def test_two_equivalence_classes_of_known_size() -> None:
    # personas 0 and 1 publish the same tuple: one EC of 3 + 4 = 7; persona 2 alone: EC of 5
    attrs = attributes([(3, "20-24", "F"), (4, "20-24", "F"), (5, "30-34", "M")], [(1, 0)] * 3)
    ec = equivalence_classes(attrs)
    assert ec[0] == ec[1] != ec[2]
    f, n_ec = class_sizes(attrs)
    assert f.tolist() == [7, 7, 5] and n_ec == 2
    n = 12
    assert int(f.min()) == 5  # k-anonymity
    assert n_ec / n == pytest.approx(2 / 12)  # population average risk = mean of 1/f(i) over people
    assert np.average(1 / f, weights=attrs.table["size"]) == pytest.approx(2 / 12)


def test_no_qis_is_one_class() -> None:
    attrs = PersonaAttributes(pd.DataFrame({"size": [3, 4]}), pd.DataFrame(index=range(2)), ())
    f, n_ec = class_sizes(attrs)
    assert f.tolist() == [7, 7] and n_ec == 1


def test_population_risks_scale_class_sizes_to_the_population() -> None:
    f, size = np.array([7, 7, 5]), np.array([3, 4, 5])
    journalist, marketer = population_risks(f, size, 12, 120)  # population 10x the sample
    assert journalist == pytest.approx(1 / 50)  # smallest population class: 5 * 10
    assert marketer == pytest.approx((3 / 70 + 4 / 70 + 5 / 50) / 12)  # = 1/60
    assert population_risks(f, size, 12, None) == (None, None)
    # a population no larger than the sample cannot make classes smaller than in the sample
    assert population_risks(f, size, 12, 6) == (pytest.approx(1 / 5), pytest.approx(2 / 12))


@pytest.mark.parametrize("value, band", [(0.0, "SAFE_FOR_PUBLIC_RELEASE"), (0.01, "SAFE_FOR_PUBLIC_RELEASE"),
                                         (0.0101, "SAFE_FOR_RESEARCH"), (0.05, "SAFE_FOR_RESEARCH"),
                                         (0.15, "INTERNAL_USE_ONLY"), (0.1501, "NOT_SAFE_FOR_RELEASE"),
                                         (1.0, "NOT_SAFE_FOR_RELEASE")])
def test_risk_bands(value: float, band: str) -> None:
    assert risk_level(value) == band


# ------------------------------------------------------------------------------------------------
# l-diversity and t-closeness
# ------------------------------------------------------------------------------------------------


def test_diversity_by_hand() -> None:
    # outcome counts (booked, cited, released) per persona
    counts = np.array([[2, 2, 0], [3, 1, 0], [1, 1, 2], [0, 0, 0]])  # the last persona has no events
    l_distinct, l_entropy, t = diversity([counts])
    assert l_distinct == 2
    assert l_entropy == pytest.approx(1 / (0.75**0.75 * 0.25**0.25))  # exp(H(3/4, 1/4)), the least diverse
    # global (6, 4, 2)/12; largest TVD is persona 2: 0.5 * (|1/4-1/2| + |1/4-1/3| + |1/2-1/6|) = 1/3
    assert t == pytest.approx(1 / 3)


def test_diversity_takes_the_worst_attribute() -> None:
    events = np.array([[2, 2], [1, 1]])
    sensitive = np.array([[3, 0], [1, 1]])  # first persona: a single sensitive value
    l_distinct, l_entropy, t = diversity([events, sensitive])
    assert l_distinct == 1 and l_entropy == pytest.approx(1.0)
    # global sensitive mix (4/5, 1/5); persona 1 (1/2, 1/2) is farthest: 0.5 * (0.3 + 0.3)
    assert t == pytest.approx(0.3)
    assert all(math.isnan(x) for x in diversity([]))


def test_value_counts_matrix() -> None:
    m = value_counts_matrix(np.array([0, 0, 1, 2, 2, 2]), np.array([1, 1, 0, 2, 0, 2]), 3, 3)
    assert m.tolist() == [[0, 2, 0], [1, 0, 0], [1, 0, 2]]


# ------------------------------------------------------------------------------------------------
# Demographic concentration
# ------------------------------------------------------------------------------------------------


def test_demographic_concentration_counts_exposed_outliers() -> None:
    people = pd.DataFrame({"age": ["20", "20", "21", "30", "30", "30"], "sex": ["F", "F", "F", "M", "M", "M"]})
    # persona 0 = the two (20, F): published exactly (level 0); persona 1 = (21, F) + one (30, M): generalized;
    # persona 2 = two (30, M): published exactly
    person_persona = np.array([0, 0, 1, 2, 2, 1])
    attrs = attributes([(2, "20", "F"), (2, "*", "*"), (2, "30", "M")], [(0, 0), (4, 2), (0, 0)])
    # k=3: outliers are (20, F) x2 and (21, F) x1; (30, M) x3 is not rare. Exposed: the two (20, F).
    share, outliers = demographic_concentration(people, person_persona, attrs, 3)
    assert outliers == 3 and share == pytest.approx(2 / 6)
    # with k=2 only (21, F) is rare, and it is generalized: nothing exposed
    assert demographic_concentration(people, person_persona, attrs, 2) == (0.0, 1)


# ------------------------------------------------------------------------------------------------
# The whole risk report of one protection pass on a hand-made data set with a fixed grouping
# ------------------------------------------------------------------------------------------------


def hand_made():
    """12 people in 3 personas: {0,1,2} and {3..6} F aged 20-24 (zip 100**), {7..11} M aged 30-34."""
    people = pd.DataFrame({
        "person_id": pd.array([f"p{i:02d}" for i in range(12)], dtype="string"),
        "age": pd.array([20, 21, 22, 23, 24, 20, 21, 30, 31, 32, 33, 34], dtype="Int64"),
        "sex": pd.array(["F"] * 7 + ["M"] * 5, dtype="string"),
        "race": pd.array(["White"] * 12, dtype="string"),
        "zip": pd.array(["10001"] * 7 + ["10002"] * 5, dtype="string"),
    })
    # outcome mixes per persona: (2 booked, 2 cited), (3 booked, 1 cited), (1 booked, 1 cited, 2 released)
    rows = [(0, "booked"), (0, "cited"), (1, "booked"), (2, "cited"),
            (3, "booked"), (4, "booked"), (5, "booked"), (6, "cited"),
            (7, "booked"), (8, "cited"), (9, "released_no_charge"), (10, "released_no_charge")]
    events = pd.DataFrame({
        "person_id": pd.array([f"p{i:02d}" for i, _ in rows], dtype="string"),
        "event_type": pd.array(["arrest"] * len(rows), dtype="string"),
        "event_date": (np.datetime64("2024-01-01")
                       + np.arange(len(rows)).astype("timedelta64[D]")).astype("datetime64[s]"),
        "outcome": pd.array([o for _, o in rows], dtype="string"),
    })
    grouping = Grouping(np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2]), 3, 0.0, 1)
    return people, events, grouping


@pytest.mark.parametrize("threshold, at_risk", [(0.15, 5 / 12), (0.2, 0.0)])  # r = 1/5 is not > 0.2
def test_risk_report_of_a_hand_made_release(threshold: float, at_risk: float) -> None:
    people, events, grouping = hand_made()
    policy = PrivacyPolicy(k=3, pram_p=1.0, qi_levels={"age": 1}, location_level=1, attacker_knowledge=1,
                           records_at_risk_threshold=threshold, population_size=120)
    result = protect(PassContext(prepare(people, events, DOMAIN), policy, KEY, "hand"), grouping=grouping)
    personas = result.personas.sort_values("size").reset_index(drop=True)
    assert personas[["size", "age", "sex", "race", "zip"]].astype(str).values.tolist() == [
        ["3", "20-24", "F", "White", "100**"], ["4", "20-24", "F", "White", "100**"],
        ["5", "30-34", "M", "White", "100**"]]
    r = result.risk
    assert (r.n_people, r.n_personas, r.n_equivalence_classes, r.k_anonymity) == (12, 3, 2, 5)
    assert r.population_average_risk == pytest.approx(2 / 12)
    assert r.prosecutor_risk_max == pytest.approx(1 / 5)
    assert r.records_at_risk == pytest.approx(at_risk)
    assert r.journalist_risk == pytest.approx(1 / 50) and r.marketer_risk == pytest.approx(1 / 60)
    assert r.l_diversity_distinct == 2
    assert r.l_diversity_entropy == pytest.approx(1 / (0.75**0.75 * 0.25**0.25))
    assert r.t_closeness == pytest.approx(1 / 3)
    # every exact (age, sex, race, zip) combination is rarer than k=3, but none is published exactly
    assert r.demographic_outliers == 12 and r.demographic_concentration_risk == 0.0
    assert r.release_risk == max(r.population_average_risk, r.external_linkage_risk)
    # the attacker knows the QIs and 1 true event (type x day, released by month: all in 2024-01);
    # all 12 released arrests are in the same cell, so the event narrows nothing beyond the QIs:
    # a woman is in one of the two F personas (7 people), a man in the M persona (5 people).
    # The one man without an event (person 11) also has candidates = the M persona only.
    assert r.linkage_targets == 12
    assert r.external_linkage_risk == pytest.approx((7 * (1 / 7) + 5 * (1 / 5)) / 12)
    assert r.event_pattern_concentration_risk == 0.0  # one cell shared by all personas: no one singled out

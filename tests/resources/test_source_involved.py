"""The source's people filter equals ``Series.isin`` (Arrow hash set for text ids, pandas otherwise)."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from resources.source import involved

IDS = st.one_of(st.none(), st.sampled_from(["p1", "p2", "P1", "p 3", "", "10"]))


@settings(max_examples=200, deadline=None)
@given(st.lists(IDS, max_size=20), st.lists(IDS, max_size=20))
def test_involved_equals_isin_for_text_ids(people, events):
    p, e = pd.Series(people, dtype="string"), pd.Series(events, dtype="string")
    assert involved(p, e).tolist() == p.isin(e).tolist()


def test_involved_keeps_pandas_semantics_for_numeric_ids():
    p, e = pd.Series([1, 2, 3]), pd.Series([2.0, 3.0])
    assert involved(p, e).tolist() == [False, True, True]

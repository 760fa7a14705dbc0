"""The validation's fast paths give exactly what the plain pandas expressions they replace give."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from personatwin.validate.validation import _pair_labels, _positions, _to_labels

WORDS = st.sampled_from(["arrest", "Arrest ", "charge", "booked", "  Booked", "BOOKED  x", "cited", "x", ""])
CELLS = st.one_of(st.none(), WORDS)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(CELLS, CELLS), min_size=0, max_size=40))
def test_pair_labels_equal_labels_of_the_joined_strings(rows):
    first = pd.Series([a for a, _ in rows], dtype="string")
    second = pd.Series([b for _, b in rows], dtype="string")
    lookup = {"arrest\u241fbooked": "booked", "charge\u241fcited": "cited", "arrest\u241fbooked x": "odd"}
    expected = _to_labels(first + "\u241f" + second, lookup)
    pd.testing.assert_series_equal(_pair_labels(first, second, lookup), expected)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=3)), max_size=30), st.sets(st.text(max_size=3), max_size=10))
def test_positions_equal_get_indexer(values, known):
    index = pd.Index(sorted(known), dtype="string")
    series = pd.Series(values, dtype="string")
    expected = index.get_indexer(series)
    expected = np.where(series.isna().to_numpy(), -1, expected)
    assert np.array_equal(_positions(series, index), expected)

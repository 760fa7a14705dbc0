"""The validation's fast paths give exactly what the plain pandas expressions they replace give."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from personatwin.validate.validation import (
    _Coded,
    _dense_codes,
    _exact_duplicates,
    _factorize,
    _first_reason,
    _floor_days,
    _is_trimmed,
    _masked,
    _nul_reason,
    _pair_codes,
    _positions,
    _to_labels,
    clean_strings,
)

WORDS = st.sampled_from(["arrest", "Arrest ", "charge", "booked", "  Booked", "BOOKED  x", "cited", "x", ""])
CELLS = st.one_of(st.none(), WORDS)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(CELLS, CELLS), min_size=0, max_size=40))
def test_pair_labels_equal_labels_of_the_joined_strings(rows):
    first = pd.Series([a for a, _ in rows], dtype="string")
    second = pd.Series([b for _, b in rows], dtype="string")
    lookup = {"arrest\u241fbooked": "booked", "charge\u241fcited": "cited", "arrest\u241fbooked x": "odd"}
    expected = _to_labels(first + "\u241f" + second, lookup)
    labels = _pair_codes(_factorize(first), _factorize(second), lookup, second).text(first.index)
    pd.testing.assert_series_equal(labels, expected)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=3)), max_size=30), st.sets(st.text(max_size=3), max_size=10))
def test_positions_equal_get_indexer(values, known):
    index = pd.Index(sorted(known), dtype="string")
    series = pd.Series(values, dtype="string")
    expected = index.get_indexer(series)
    expected = np.where(series.isna().to_numpy(), -1, expected)
    assert np.array_equal(_positions(series, index), expected)


# --- the byte-level and code-level shortcuts against the pandas expressions they replace -----------

TEXT = st.one_of(st.none(), st.text(alphabet=[" ", "\t", "\x1c", "\x1f", "\x7f", "\xa0", "\u2003", "\x00", "a", "Z",
                                              "-", "é", "\u241f"], max_size=4))


def _series(values: list, storage: str, start: int) -> pd.Series:
    """Text as Arrow strings (sliced from ``start``: an Arrow offset), Python strings or objects."""
    if storage == "object":
        return pd.Series(values[start:], dtype=object)
    return pd.Series(values, dtype=pd.StringDtype(storage)).iloc[start:]


def _plain_clean(values: pd.Series) -> pd.Series:
    out = values.astype("string").str.strip()
    return out.mask((out == "").fillna(False))


@settings(max_examples=300, deadline=None)
@given(st.lists(TEXT, max_size=30), st.sampled_from(["pyarrow", "python", "object"]), st.integers(0, 3))
def test_clean_strings_equals_strip_and_mask(values, storage, start):
    s = _series(values, storage, min(start, len(values)))
    got = clean_strings(s)
    pd.testing.assert_series_equal(got, _plain_clean(s))
    assert got.dtype == "string"


@settings(max_examples=200, deadline=None)
@given(st.lists(TEXT, max_size=30), st.integers(0, 3))
def test_is_trimmed_looks_at_every_part(values, start):
    """Never True when stripping would change a value (it may say False for a NUL or an inner-only oddity)."""
    s = _series(values, "pyarrow", min(start, len(values))).astype("string")
    unchanged = _plain_clean(s).equals(s)
    plain = all(v is None or (v and v[0] in "aZ-" and v[-1] in "aZ-") for v in values[min(start, len(values)):])
    for head in (1, 2, 1 << 16):
        assert not _is_trimmed(s, head=head) or unchanged
        assert _is_trimmed(s, head=head) == plain  # exactly the values whose edges are plain ASCII


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(TEXT, TEXT), max_size=25), st.integers(0, 3), st.sampled_from(["pyarrow", "object"]))
def test_nul_reason_equals_contains(rows, start, storage):
    a = _series([x for x, _ in rows], storage, min(start, len(rows))).reset_index(drop=True)
    b = _series([y for _, y in rows], storage, min(start, len(rows))).reset_index(drop=True)
    df = pd.DataFrame({"a": a, "b": b, "n": np.arange(len(a))})
    expected = pd.Series(pd.NA, index=df.index, dtype="string")
    for col in ("b", "a"):  # the first column with a NUL names the reason
        found = df[col].astype("string").str.contains("\x00", regex=False).fillna(False).to_numpy(dtype=bool)
        expected = expected.mask(found, f"NUL byte in {col}")
    pd.testing.assert_series_equal(_nul_reason(df, ["a", "n", "b"]).text(df.index), expected)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(TEXT, st.booleans()), max_size=25), st.integers(0, 3))
def test_masked_equals_series_mask(rows, start):
    s = _series([x for x, _ in rows], "pyarrow", min(start, len(rows))).astype("string")
    mask = np.array([m for _, m in rows][min(start, len(rows)):], dtype=bool)
    pd.testing.assert_series_equal(_masked(s, mask), s.mask(mask))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(-(2**62), 2**62)), max_size=30),
       st.sampled_from(["s", "ms", "us", "ns"]))
def test_floor_days_equals_pandas_floor(values, unit):
    ints = np.array([np.iinfo(np.int64).min if v is None else v for v in values], dtype=np.int64)
    d = pd.Series(ints.view(f"datetime64[{unit}]"), name="d")
    try:
        expected = d.dt.floor("D").astype("datetime64[s]")
    except (OverflowError, ValueError):  # pandas refuses the extreme values: so must the fast path
        with pytest.raises((OverflowError, ValueError)):
            _floor_days(d)
        return
    pd.testing.assert_series_equal(_floor_days(d), expected)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 20).flatmap(lambda n: st.lists(
    st.tuples(st.lists(st.booleans(), min_size=n, max_size=n),
              st.one_of(st.just("text"), st.lists(st.integers(-1, 2), min_size=n, max_size=n))), max_size=6)))
def test_first_reason_equals_first_failing_check(checks):
    n = len(checks[0][0]) if checks else 0
    built = []
    for i, (mask, text) in enumerate(checks):
        built.append((np.array(mask, dtype=bool),
                      f"check {i}" if text == "text" else _Coded(np.array(text), np.array([f"{i}a", f"{i}b", f"{i}c"],
                                                                                           dtype=object))))
    expected: list = [None] * n
    for row in range(n):
        for mask, text in built:
            if mask[row]:
                expected[row] = text if isinstance(text, str) else (
                    None if text.codes[row] < 0 else text.labels[text.codes[row]])
                break
    got = _first_reason(n, built).text(pd.RangeIndex(n))
    pd.testing.assert_series_equal(got, pd.Series(expected, dtype="string"))


FLOATS = st.sampled_from([0.0, -0.0, 1.0, 1.5, np.nan, np.inf, 2.0**60])
WORDS = st.sampled_from([None, "a", "b", "\x00 b", " "])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([None, "p1", "p2", "p3"]), FLOATS, st.sampled_from([None, 0, 1, 40000]),
                          WORDS, WORDS), max_size=25))
def test_exact_duplicates_equal_duplicated_on_text(rows):
    """Floats compare as their text (``-0.0`` is not ``0.0``), missing values by their raw text."""
    pid = pd.Series([r[0] for r in rows], dtype="string")
    age = pd.Series([r[1] for r in rows], dtype="float64")
    birth = pd.Series(np.array([np.datetime64("NaT") if r[2] is None else np.datetime64(r[2], "D") for r in rows],
                               dtype="datetime64[s]"))
    word = pd.Series([r[3] for r in rows], dtype="string")
    raw = pd.DataFrame({"age": pd.Series([r[4] for r in rows], dtype="string"),
                        "word": pd.Series([r[4] for r in rows], dtype=object)})
    norm = {"age": age, "birth_date": birth, "word": word}
    cmp = {"person_id": pid}
    for col, values in norm.items():
        text = raw[col].astype("string") if col in raw else pd.Series(pd.NA, index=pid.index, dtype="string")
        cmp[col] = values.astype("string").fillna("\x00" + text.fillna(""))
    expected = pd.DataFrame(cmp).duplicated(keep="first").to_numpy() & pid.notna().to_numpy()
    assert np.array_equal(_exact_duplicates(_factorize(pid), norm, raw), expected)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-1, 50), max_size=40), st.sampled_from([51, 10**9]))
def test_dense_codes_number_the_distinct_values(values, size):
    values = np.array(values, dtype=np.int64)
    codes, distinct = _dense_codes(values, size)
    assert np.array_equal(codes < 0, values < 0)
    assert np.array_equal(distinct[codes[codes >= 0]], values[values >= 0])
    assert len(np.unique(distinct)) == len(distinct) == len(np.unique(values[values >= 0]))

"""Validate (DESIGN §3): type the ingested tables and move every bad row to quarantine with a reason.

Checks, in this order of precedence (a row gets the first reason that applies):

people: missing person_id; NUL byte in a kept column; duplicate person_id with conflicting
demographics (all rows of that person); unparseable birth_date; birth_date in the future (after
today); non-numeric age; missing age; impossible age (outside 0-120); missing/unknown sex;
missing/unknown race (unknown values map to ``Other`` where the hierarchy has it, counted);
missing/non-numeric/invalid zip; non-numeric or infinite values of numeric QIs; missing values of
other QIs. Exact duplicate person rows (after normalization) collapse to one and are counted, not
quarantined.

events: missing person_id; NUL byte in a kept column; unknown person_id; person quarantined;
missing/unknown event_type; missing/invalid outcome for the type; missing/unparseable event_date;
event_date in the future; event_date before 1900-01-01; unparseable end_date; end_date before
event_date; event before birth; non-numeric value; infinite value.

Reasons name the rule and the column, never the offending value (the quarantine table keeps the
row as given, for whoever fixes the source; it is never released).

Rows reconcile exactly: ``people_in = people_valid + people_quarantined + people_duplicates_collapsed``
and ``events_in = events_valid + events_quarantined`` (events are never collapsed: two identical
events are two events). Valid QIs are complete (no missing values), so later stages need no
missing-value rules; ``birth_date`` is used to derive ``age`` and then dropped (over-precise).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from personatwin.core import schema
from personatwin.core.domains import Domain, get_domain
from personatwin.core.errors import InputError
from personatwin.core.hierarchy import IntervalHierarchy, MappingHierarchy
from personatwin.ingest.tables import ROW, event_columns, people_columns

MIN_AGE, MAX_AGE = 0, 120
MIN_EVENT_DATE = pd.Timestamp("1900-01-01")  # earlier event dates are data errors (year 1, 1500, ...)
UNITS_PER_DAY = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}

DUPLICATE_CONFLICT = "duplicate person_id with conflicting demographics"
PERSON_QUARANTINED = "person quarantined: "

SEX_VALUES = {
    "f": "F", "female": "F", "woman": "F", "w": "F", "girl": "F",
    "m": "M", "male": "M", "man": "M", "boy": "M",
    "x": "X", "other": "X", "nonbinary": "X", "non-binary": "X", "non binary": "X", "nb": "X",
    "o": "X", "diverse": "X", "intersex": "X",
}
# Common spellings folded into the race hierarchy's values (used only where the target exists).
RACE_SYNONYMS = {
    "caucasian": "White",
    "african american": "Black",
    "black or african american": "Black",
    "african-american": "Black",
    "latino": "Hispanic",
    "latina": "Hispanic",
    "latinx": "Hispanic",
    "hispanic or latino": "Hispanic",
    "native": "Native American",
    "american indian": "Native American",
    "american indian or alaska native": "Native American",
    "alaska native": "Native American",
    "hawaiian": "Pacific Islander",
    "native hawaiian": "Pacific Islander",
    "native hawaiian or other pacific islander": "Pacific Islander",
    "multiple": "Multiracial",
    "two or more races": "Multiracial",
    "mixed": "Multiracial",
    "unknown": "Other",
}


@dataclass(frozen=True, eq=False)
class Validated:
    """Typed valid tables, the quarantined rows with their reasons, and reconciling counts."""

    people: pd.DataFrame
    events: pd.DataFrame
    quarantine_people: pd.DataFrame
    quarantine_events: pd.DataFrame
    counts: Mapping[str, int]
    as_of: pd.Timestamp | None = None  # reference date of derived ages

    @property
    def quarantine(self) -> pd.DataFrame:
        """Both quarantine tables in one frame (``table`` tells them apart)."""
        return pd.concat([self.quarantine_people, self.quarantine_events], ignore_index=True)

    @property
    def reconciles(self) -> bool:
        """Whether rows in = valid + quarantined (+ collapsed duplicates) for both tables."""
        c = self.counts
        return (c["people_in"] == c["people_valid"] + c["people_quarantined"] + c["people_duplicates_collapsed"]
                and c["events_in"] == c["events_valid"] + c["events_quarantined"])

    def reason_counts(self) -> pd.Series:
        """Number of quarantined rows per (table, reason)."""
        q = self.quarantine
        if q.empty:
            return pd.Series(dtype="int64")
        return q.groupby(["table", "reason"], observed=True).size().sort_values(ascending=False)


# --- column helpers ------------------------------------------------------------------------

def _arrow_text(values: pd.Series) -> pa.Array | None:
    """The values as one Arrow string array when they are Arrow-backed text (no copy for one chunk), else None."""
    if not isinstance(values.array, pd.arrays.ArrowStringArray):
        return None
    arr = values.array.__arrow_array__()
    if isinstance(arr, pa.ChunkedArray):  # combine_chunks copies even a single chunk
        arr = arr.chunk(0) if arr.num_chunks == 1 else arr.combine_chunks()
    return arr if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) else None


def _text_buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offsets, UTF-8 bytes and validity bitmap (empty when there are no nulls) of an Arrow string array."""
    validity, offsets, data = arr.buffers()[:3]
    wide = pa.types.is_large_string(arr.type)
    off = np.frombuffer(offsets, dtype=np.int64 if wide else np.int32) if offsets is not None else np.zeros(1, np.int32)
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    bits = np.frombuffer(validity, dtype=np.uint8) if validity is not None and arr.null_count else np.zeros(0, np.uint8)
    return off, raw, bits


def _is_trimmed(values: pd.Series, head: int = 1 << 16) -> bool:
    """True when stripping the text and emptying blank values would change nothing (a look at each value's first
    and last byte, not a strip of 10M values); False when it might, or when the values are not Arrow text. The
    first ``head`` values are looked at first: a column that needs stripping usually shows it there."""
    arr = _arrow_text(values)
    if arr is None:
        return False
    if len(arr) > head:
        return _edges_trimmed(arr.slice(0, head)) and _edges_trimmed(arr.slice(head))
    return _edges_trimmed(arr)


def _edges_trimmed(arr: pa.Array) -> bool:
    """No present value of the Arrow text is empty or starts or ends with a byte that may be whitespace."""
    if len(arr) == arr.null_count:
        return True
    offsets, data, validity = _text_buffers(arr)
    bounds = offsets[arr.offset:arr.offset + len(arr) + 1]
    if not data.size:  # every value is empty
        return False
    # Each value's first and last byte (an empty value reads a neighbour's, and is flagged anyway); minus 33 as
    # uint8 wraps around, so ">= 94" is "<= 32 (space, controls) or >= 127 (DEL, non-ASCII)".
    first = np.take(data, bounds[:-1], mode="clip") - np.uint8(33)
    last = np.take(data, bounds[1:] - 1, mode="clip") - np.uint8(33)
    suspect = (first >= 94) | (last >= 94) | (bounds[1:] == bounds[:-1])
    if validity.size:  # null slots are not values
        suspect &= np.unpackbits(validity, bitorder="little")[arr.offset:arr.offset + len(arr)].astype(bool)
    return not suspect.any()


def clean_strings(values: pd.Series) -> pd.Series:
    """Stripped ``string`` values, empty as missing; integral floats lose their ``.0``."""
    if pd.api.types.is_float_dtype(values.dtype):
        v = values.to_numpy(dtype="float64", na_value=np.nan)
        finite = v[~np.isnan(v)]
        # Only exactly representable integers (|v| < 2**53) lose their ".0"; larger ones (a float
        # person id like 9.2e18) would overflow Int64 and stay as the float's text.
        if finite.size == 0 or (np.all(finite == np.round(finite)) and np.all(np.abs(finite) < 2**53)):
            values = values.astype("Int64")
    text = values.astype("string")
    if _is_trimmed(text):  # the usual case: nothing to strip or empty (a 10M-row strip costs 0.12 s)
        return text
    out = text.str.strip()
    empty = (out == "").fillna(False).to_numpy(dtype=bool)
    return _masked(out, empty) if empty.any() else out


def _masked(values: pd.Series, rows: np.ndarray) -> pd.Series:
    """``values.mask(rows)`` for Arrow text by a new validity bitmap over the same buffers (``mask`` rewrites every
    string: 0.2 s on 10M)."""
    arr = _arrow_text(values)
    if arr is None:
        return values.mask(rows)
    keep = ~rows
    if arr.null_count:
        keep &= np.unpackbits(_text_buffers(arr)[2], bitorder="little")[arr.offset:arr.offset + len(arr)].astype(bool)
    bitmap = np.packbits(np.concatenate([np.zeros(arr.offset, dtype=bool), keep]), bitorder="little")
    _, offsets, data = arr.buffers()[:3]
    masked = pa.Array.from_buffers(arr.type, len(arr), [pa.py_buffer(bitmap), offsets, data],
                                   null_count=len(arr) - int(keep.sum()), offset=arr.offset)
    return pd.Series(pd.arrays.ArrowStringArray(masked), index=values.index, name=values.name, dtype="string")


def parse_dates(values: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Dates floored to the day as ``datetime64[s]``; masks of missing and of unparseable values.

    ISO 8601 is parsed first (fast); other spellings fall back to ``format="mixed"``. Time zones
    are converted to UTC and dropped.
    """
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        d = values
        if getattr(d.dt, "tz", None) is not None:
            d = d.dt.tz_convert("UTC").dt.tz_localize(None)
        missing = d.isna().to_numpy()
        bad = np.zeros(len(d), dtype=bool)
    else:
        txt = clean_strings(values)
        missing = txt.isna().to_numpy()
        d = pd.to_datetime(txt, format="ISO8601", errors="coerce", utc=True)
        retry = d.isna().to_numpy() & ~missing
        if retry.any():
            d = d.copy()
            d[retry] = pd.to_datetime(txt[retry], format="mixed", errors="coerce", utc=True)
        d = d.dt.tz_localize(None)
        bad = d.isna().to_numpy() & ~missing
    return _floor_days(d).reset_index(drop=True), missing, bad


def _floor_days(d: pd.Series) -> pd.Series:
    """``d.dt.floor("D").astype("datetime64[s]")`` for tz-naive dates, in integer arithmetic on the numpy values
    (3x faster on 10M dates); pandas itself for other units and for values within a day of the int64 limit."""
    unit = np.datetime_data(d.dtype)[0] if isinstance(d.dtype, np.dtype) else None
    if unit not in UNITS_PER_DAY:
        return d.dt.floor("D").astype(schema.DATE)
    per_day, nat = UNITS_PER_DAY[unit], np.iinfo(np.int64).min
    v = d.to_numpy().view(np.int64)
    missing = v == nat
    if v.min(initial=np.iinfo(np.int64).max, where=~missing) < nat + per_day:
        return d.dt.floor("D").astype(schema.DATE)
    days = np.floor_divide(v, per_day)
    days *= 86_400
    days[missing] = nat
    return pd.Series(days.view(schema.DATE), index=d.index, name=d.name, copy=False)  # a new array


def _timestamp(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.normalize()


def _seconds(ts: pd.Timestamp) -> np.datetime64:
    """A day as ``datetime64[s]``: compared with ``datetime64[s]`` arrays in their own unit (no ns overflow)."""
    return np.datetime64(ts.date().isoformat(), "s")


def _years_between(birth: pd.Series, ref: pd.Timestamp) -> pd.Series:
    """Completed years from each birth date to ``ref`` (NaN where the date is missing)."""
    years = ref.year - birth.dt.year
    later = (birth.dt.month > ref.month) | ((birth.dt.month == ref.month) & (birth.dt.day > ref.day))
    return (years - later.astype("float64")).astype("float64")


def _row_numbers(df: pd.DataFrame) -> np.ndarray:
    """1-based source row numbers: the ``row`` index set by ingest, else the position."""
    if df.index.name == ROW and pd.api.types.is_integer_dtype(df.index.dtype):
        return df.index.to_numpy(dtype="int64")
    return np.arange(1, len(df) + 1, dtype="int64")


@dataclass(frozen=True, eq=False)
class _Coded:
    """Per-row text as codes into a few distinct labels (-1: none): 10M reasons or labels cost 40 MB of codes
    instead of 10M Python strings, and only the rows shown are decoded."""

    codes: np.ndarray  # int, one per row
    labels: Any  # the distinct texts: an object array of str, or a pandas string array (distinct input values)
    source: pd.Series | None = None  # the text mapped, when every label is spelled as the value it came from

    def text(self, index: pd.Index) -> pd.Series:
        """The rows' text as a ``string`` Series on ``index`` (missing where the code is -1)."""
        return _decode(self.labels, self.codes, index)


def _as_mask(mask: Any) -> np.ndarray:
    """A check's rows as a numpy bool array, missing as False."""
    if isinstance(mask, np.ndarray) and mask.dtype == bool:
        return mask
    if isinstance(mask, pd.Series) and mask.dtype == bool:  # no missing values: no fillna copy
        return mask.to_numpy()
    return np.asarray(pd.Series(mask).fillna(False).to_numpy(dtype=bool))


def _first_reason(n: int, checks: list[tuple[Any, str | _Coded]]) -> _Coded:
    """Per row the first check (in order) that fails, or -1 when all pass; a check's text is one string or per-row
    coded text. The checks are written last to first, each over the later ones, so the first that fails is what
    remains: one masked write per failing check, one ``any`` per passing one."""
    codes = np.full(n, -1, dtype=np.int32)
    offsets: list[int] = []
    labels: list[str] = []
    for _, text in checks:  # each check's first label code
        offsets.append(len(labels))
        labels.extend(text.labels if isinstance(text, _Coded) else [text])
    for (mask, text), offset in zip(reversed(checks), reversed(offsets)):
        m = _as_mask(mask)
        if not m.any():
            continue
        if isinstance(text, _Coded):
            np.copyto(codes, np.where(text.codes >= 0, text.codes + offset, -1), where=m)
        else:
            codes[m] = offset
    return _Coded(codes, np.asarray(labels, dtype=object))


def _nul_rows(values: pd.Series) -> np.ndarray:
    """Which present values hold a NUL byte: the rows of the NUL bytes in the Arrow data, found by one scan
    (``str.contains`` for values that are not Arrow text)."""
    arr = _arrow_text(values)
    if arr is None:
        return values.str.contains("\x00", regex=False).fillna(False).to_numpy(dtype=bool)
    found = np.zeros(len(arr), dtype=bool)
    offsets, data, validity = _text_buffers(arr)
    bounds = offsets[arr.offset:arr.offset + len(arr) + 1]
    lo, hi = int(bounds[0]), int(bounds[-1])
    if hi <= lo or int(data[lo:hi].min()) != 0:  # the usual case: no NUL anywhere
        return found
    at = np.flatnonzero(data[lo:hi] == 0) + lo
    found[np.searchsorted(bounds, at, side="right") - 1] = True
    if validity.size:  # bytes under a null slot belong to no value
        found &= np.unpackbits(validity, bitorder="little")[arr.offset:arr.offset + len(arr)].astype(bool)
    return found


def _nul_reason(df: pd.DataFrame, columns: list[str]) -> _Coded:
    """Per row "NUL byte in <first column holding one>", -1 where no text cell holds a NUL.

    A NUL byte is never part of real text: it marks a corrupt or binary cell (a person id with a
    NUL would silently stop matching its events), so the row is quarantined, not repaired.
    """
    codes = np.broadcast_to(np.int32(-1), (len(df),))  # read-only -1s: allocated only if a NUL is found
    labels = [f"NUL byte in {col}" for col in columns]
    for i in reversed(range(len(columns))):  # the first column with a NUL names the reason
        s = df[columns[i]]
        if not (pd.api.types.is_string_dtype(s.dtype) or s.dtype == object):
            continue
        found = _nul_rows(s.astype("string"))
        if found.any():
            codes = np.where(found, np.int32(i), codes)
    return _Coded(codes, np.asarray(labels, dtype=object))


def _quarantine(df: pd.DataFrame, mask: np.ndarray, columns: list[str], reason: _Coded,
                rows: np.ndarray, table: str) -> pd.DataFrame:
    """The offending rows as given (known columns only, as text) plus reason, row and table."""
    q = df.loc[mask, columns].astype("string").reset_index(drop=True)
    q["reason"] = _decode(reason.labels, reason.codes[mask], q.index)
    q["row"] = pd.array(rows[mask], dtype="Int64")
    q["table"] = pd.array([table] * int(mask.sum()), dtype="string")
    return q


def _positions(values: pd.Series, index: pd.Index) -> np.ndarray:
    """Position of each value in ``index`` (unique strings), -1 where absent or missing: one hash join in Arrow
    (5x faster than ``Index.get_indexer`` on 10M event person ids). Large strings, as pandas holds them: no copy."""
    found = pc.index_in(pa.array(values.astype("string").array, type=pa.large_string()),
                        value_set=pa.array(index.astype("string").array, type=pa.large_string()))
    return _filled_codes(found)


def _filled_codes(indices: pa.Array) -> np.ndarray:
    """Arrow integer codes as numpy, -1 where null (zero-copy when none is)."""
    return (indices.fill_null(-1) if indices.null_count else indices).to_numpy(zero_copy_only=False)


def _factorize(values: pd.Series) -> _Coded:
    """Codes (-1 where missing) into the distinct values (a pandas array, in order of first appearance): one Arrow
    dictionary encode for Arrow text (pandas' factorize converts its codes at 0.3 s per 10M rows)."""
    arr = _arrow_text(values)
    if arr is None:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        return _Coded(np.asarray(codes, dtype=np.int64), pd.array(uniques))
    enc = pc.dictionary_encode(arr)
    return _Coded(_filled_codes(enc.indices), pd.arrays.ArrowStringArray(enc.dictionary))


def _dense_codes(values: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes of non-negative integers below ``size`` into their distinct values (-1 stays -1) and those values:
    a lookup table when ``size`` is small, else a hash factorize."""
    if size <= max(2 * len(values), 1 << 16):
        distinct = np.flatnonzero(np.bincount(values + 1, minlength=size + 1)[1:])  # value -1 counts in bin 0
        table = np.full(size + 1, -1, dtype=np.int64)  # the last entry answers code -1
        table[distinct] = np.arange(len(distinct))
        return table[values], distinct
    codes, uniques = pd.factorize(values)
    keep = uniques >= 0
    remap = np.full(len(uniques), -1, dtype=np.int64)
    remap[keep] = np.arange(int(keep.sum()))
    return remap[codes], uniques[keep]


def _relabel(codes: np.ndarray, keys: pd.Series, lookup: Mapping[str, str], spelled: pd.Series,
             source: pd.Series) -> _Coded:
    """Codes into distinct normalized ``keys`` mapped through ``lookup``, as codes into the distinct results (-1
    where missing or not in ``lookup``). ``source`` (the text mapped) is kept when every result is spelled as its
    key's input (``spelled``, one per key), as when the input already uses the domain's spelling."""
    mapped = keys.map(lookup).to_numpy(dtype=object, na_value=None)
    label_codes, labels = pd.factorize(mapped, use_na_sentinel=True)
    table = np.append(np.asarray(label_codes, dtype=np.int64), -1)  # the last entry answers code -1
    results = pd.Series(mapped, dtype="string")
    as_given = bool((results.isna() | (results == spelled.reset_index(drop=True))).fillna(False).all())
    return _Coded(table[codes], np.asarray(labels, dtype=object), source if as_given else None)


def _normalized(texts: pd.Series) -> pd.Series:
    """Lower case, runs of whitespace as one space: the spelling lookups are keyed on."""
    return texts.str.lower().str.replace(r"\s+", " ", regex=True)


def _pair_codes(first: _Coded, second: _Coded, lookup: Mapping[str, str], second_text: pd.Series,
                sep: str = "\u241f") -> _Coded:
    """The labels of ``first + sep + second`` through ``lookup`` (normalized as in :func:`_label_codes`) without
    building the joined strings: only the distinct pairs present are joined (-1 where either part is missing).
    ``second_text`` is the text ``second`` encodes (the labels' source when they are spelled as it)."""
    nb = max(len(second.labels), 1)
    pair = first.codes.astype(np.int64)
    pair *= nb
    pair += second.codes
    pair[(first.codes < 0) | (second.codes < 0)] = -1
    codes, pairs = _dense_codes(pair, max(len(first.labels), 1) * nb)
    left = pd.Series(first.labels[pairs // nb], dtype="string")
    right = pd.Series(second.labels[pairs % nb], dtype="string")
    return _relabel(codes, _normalized(left + sep + right), lookup, right, second_text)


def _label_lookup(values: tuple[str, ...]) -> dict[str, str]:
    return {str(v).strip().lower(): str(v) for v in values}


def _label_codes(values: pd.Series, lookup: Mapping[str, str]) -> _Coded:
    """Map values case- and spacing-insensitively through ``lookup``, normalizing distinct values only; codes into
    the distinct labels (-1 where missing or unknown)."""
    distinct = _factorize(values)
    spelled = pd.Series(distinct.labels, dtype="string")
    return _relabel(distinct.codes, _normalized(spelled), lookup, spelled, values)


def _to_labels(values: pd.Series, lookup: Mapping[str, str]) -> pd.Series:
    """:func:`_label_codes` as a ``string`` Series on the values' index."""
    return _label_codes(values, lookup).text(values.index)


def _decode(labels: np.ndarray, codes: np.ndarray, index: pd.Index) -> pd.Series:
    """``pd.Series(labels[codes], dtype="string")``, missing where the code is -1 or its label None, by one Arrow
    dictionary decode instead of 10M Python strings (8x faster on 10M events)."""
    codes = np.asarray(codes, dtype=np.int64)
    if not len(labels) or pd.StringDtype().storage != "pyarrow":
        padded = np.empty(len(labels) + 1, dtype=object)  # code -1 -> the None at the end
        padded[:-1] = labels
        return pd.Series(padded[codes], index=index, dtype="string")
    present = np.array([v is not None for v in labels], dtype=bool)  # one per distinct value
    dictionary = pa.array([v if v is not None else "" for v in labels], type=pa.large_string())
    if present.all() and (not len(codes) or codes.min() >= 0):  # every row has a label: no mask to build
        indices = pa.array(codes.astype(np.int32))
    else:
        safe = np.where(codes >= 0, codes, 0)
        indices = pa.array(safe.astype(np.int32), mask=(codes < 0) | ~present[safe])
    decoded = pa.DictionaryArray.from_arrays(indices, dictionary).cast(pa.large_string())
    return pd.Series(pd.arrays.ArrowStringArray(decoded), index=index, dtype="string")


# --- people --------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class _People:
    valid: pd.DataFrame
    quarantine: pd.DataFrame
    collapsed: int
    race_other: int
    known_ids: pd.Index  # every person_id of the input (unique)
    reason_by_id: _Coded  # aligned with known_ids: quarantine reason, -1 when valid
    birth_by_id: np.ndarray  # aligned with known_ids: birth date of valid people, NaT otherwise


def _fallback_text(raw: pd.Series | None, rows: np.ndarray) -> np.ndarray:
    """``"\\x00" + raw text`` at ``rows`` (``"\\x00"`` where missing): what a value that failed normalization is
    compared by. Text of the whole column, as a date column's text format depends on all its values."""
    if raw is None or raw[rows].isna().all():
        return np.full(int(rows.sum()), "\x00", dtype=object)
    return ("\x00" + raw.astype("string")[rows].fillna("")).to_numpy(dtype=object)


def _duplicate_key(values: pd.Series, raw: pd.Series | None, rows: np.ndarray) -> np.ndarray:
    """Integer codes for ``rows``, equal exactly where ``values.astype("string")`` (the raw fallback text where it
    is missing) is equal. Floats compare by their bits (``str`` of a float is unique to it, ``-0.0`` differs from
    ``0.0``) and dates by their seconds, instead of formatting a million of them as text (0.7 s)."""
    na = values.isna().to_numpy()
    sub, sub_na = values[rows], na[rows]
    if values.dtype == np.float64 or values.dtype == np.dtype(schema.DATE):
        codes = np.empty(len(sub), dtype=np.int64)
        known, uniques = pd.factorize(sub.to_numpy()[~sub_na].view(np.int64))
        codes[~sub_na] = known
        if sub_na.any():
            codes[sub_na] = pd.factorize(_fallback_text(raw, rows & na))[0] + len(uniques)
        return codes
    text = sub.astype("string").reset_index(drop=True)
    if sub_na.any():
        text[sub_na] = _fallback_text(raw, rows & na)
    return np.asarray(_factorize(text).codes, dtype=np.int64)


def _exact_duplicates(ids: _Coded, norm: Mapping[str, pd.Series], p: pd.DataFrame) -> np.ndarray:
    """Rows repeating an earlier row's id and normalized values (raw text where normalization failed), as
    ``DataFrame.duplicated(keep="first")`` on those values would mark them; only rows whose id occurs more than
    once are compared (the others cannot repeat a row), as integer codes."""
    has_pid = ids.codes >= 0
    per_id = np.bincount(ids.codes[has_pid], minlength=max(len(ids.labels), 1))
    rows = has_pid & (per_id[np.where(has_pid, ids.codes, 0)] > 1)
    out = np.zeros(len(rows), dtype=bool)
    if not rows.any():
        return out
    keys = {schema.PERSON_ID: ids.codes[rows]}
    for col, values in norm.items():
        keys[col] = _duplicate_key(values, p[col] if col in p.columns else None, rows)
    out[rows] = pd.DataFrame(keys).duplicated(keep="first").to_numpy()
    return out


def _zip_codes(txt: pd.Series) -> tuple[pd.Series, list[tuple[Any, str]]]:
    """Five-digit zips and the checks of their text, computed once per distinct value (a zip column holds a few
    thousand distinct values in a million rows)."""
    distinct = _factorize(txt)
    z = pd.Series(distinct.labels, dtype="string").str.replace(" ", "", regex=False)
    numeric = z.str.fullmatch(r"[\d\-]+").fillna(False).to_numpy(dtype=bool)
    shaped = z.str.fullmatch(r"\d{1,5}|\d{5}-?\d{4}").fillna(False).to_numpy(dtype=bool)
    out = z.where(z.str.len() > 5, z.str.zfill(5)).str.slice(0, 5)
    zeros = (out == "00000").fillna(False).to_numpy(dtype=bool)
    codes, present = distinct.codes, distinct.codes >= 0
    checks: list[tuple[Any, str]] = [
        (np.append(zeros, False)[codes], "missing zip"),  # code -1 (missing) reads the False appended
        (present & ~np.append(numeric, True)[codes], "non-numeric zip"),
        (present & ~np.append(shaped, True)[codes], "invalid zip (not 5 digits or ZIP+4)"),
    ]
    return _decode(out.to_numpy(dtype=object, na_value=None), codes, txt.index), checks


def _validate_people(people: pd.DataFrame, domain: Domain, age_ref: pd.Timestamp,
                     today: pd.Timestamp | None = None) -> _People:
    rows = _row_numbers(people)
    p = people.reset_index(drop=True)
    n = len(p)
    if schema.PERSON_ID not in p.columns:
        raise InputError("people table has no person_id column")
    cols = [c for c in people_columns(domain) if c in p.columns]
    pid = clean_strings(p[schema.PERSON_ID])
    norm: dict[str, pd.Series] = {}
    checks: list[tuple[Any, str | _Coded]] = []
    race_other = np.zeros(n, dtype=bool)

    birth = None
    if schema.BIRTH_DATE in p.columns:
        birth, _, bad = parse_dates(p[schema.BIRTH_DATE])
        checks.append((bad, "unparseable birth_date"))
        checks.append((birth > (today if today is not None else age_ref), "birth_date in the future"))
        norm[schema.BIRTH_DATE] = birth
    if schema.AGE in p.columns or birth is not None:
        if schema.AGE in p.columns:
            txt = clean_strings(p[schema.AGE])
            age = pd.to_numeric(txt, errors="coerce").astype("float64")
            checks.append((txt.notna() & age.isna(), "non-numeric age"))
        else:
            age = pd.Series(np.nan, index=p.index, dtype="float64")
        if birth is not None:
            age = age.fillna(_years_between(birth, age_ref))
        checks.append((age.isna(), "missing age"))
        checks.append(((age < MIN_AGE) | (age > MAX_AGE), f"impossible age (outside {MIN_AGE}-{MAX_AGE})"))
        norm[schema.AGE] = age

    for qi in domain.qis:
        if qi == schema.AGE or qi not in p.columns:
            continue
        txt = clean_strings(p[qi])
        checks.append((txt.isna(), f"missing {qi}"))
        h = domain.hierarchy(qi)
        if qi == "sex":
            out = _to_labels(txt, SEX_VALUES)
            checks.append((txt.notna() & out.isna(), "unknown sex value"))
        elif qi == "zip":
            out, zip_checks = _zip_codes(txt)
            checks.extend(zip_checks)
        elif isinstance(h, IntervalHierarchy):
            out = pd.to_numeric(txt, errors="coerce").astype("float64")
            checks.append((txt.notna() & out.isna(), f"non-numeric {qi}"))
            checks.append((np.isinf(out.to_numpy(dtype="float64", na_value=np.nan)), f"non-finite {qi}"))
        elif isinstance(h, MappingHierarchy):
            lookup = _label_lookup(h.values)
            if qi == "race":
                lookup = {**{k: v for k, v in RACE_SYNONYMS.items() if v in h.values}, **lookup}
            out = _to_labels(txt, lookup)
            unknown = (txt.notna() & out.isna()).to_numpy()
            other = next((v for v in h.values if str(v).lower() == "other"), None)
            if other is not None:
                out = out.mask(unknown, other)
                if qi == "race":
                    race_other |= unknown
            else:
                checks.append((unknown, f"unknown {qi} value"))
        else:
            out = txt
        norm[qi] = out
    for col in domain.sensitive:
        if col in p.columns and col not in norm:
            norm[col] = clean_strings(p[col])

    ids = _factorize(pid)  # distinct ids in order of first appearance
    has_pid = ids.codes >= 0
    collapsed = _exact_duplicates(ids, norm, p)
    remaining = has_pid & ~collapsed
    rows_per_id = np.bincount(ids.codes[remaining], minlength=max(len(ids.labels), 1))
    conflict = remaining & (rows_per_id[np.where(has_pid, ids.codes, 0)] > 1)

    nul = _nul_reason(p, cols)
    reason = _first_reason(n, [(~has_pid, "missing person_id"), (nul.codes >= 0, nul), (conflict, DUPLICATE_CONFLICT),
                               *checks])
    bad = ~collapsed & (reason.codes >= 0)
    good = ~collapsed & ~bad

    valid = {schema.PERSON_ID: pid[good]}
    for col in [c for c in people_columns(domain) if c in norm and c != schema.BIRTH_DATE]:
        valid[col] = norm[col][good]
    valid_df = pd.DataFrame(valid).reset_index(drop=True)
    for col in valid_df.columns:
        if col == schema.AGE or isinstance(domain.hierarchy(col), IntervalHierarchy) and col in domain.qis:
            v = valid_df[col].to_numpy(dtype="float64")
            if np.all(v == np.round(v)) and np.all(np.abs(v) < 2**53):
                valid_df[col] = pd.array(v.astype("int64"), dtype="Int64")
        else:
            valid_df[col] = valid_df[col].astype(schema.STRING)

    known_ids = pd.Index(ids.labels)
    kept = has_pid & ~collapsed
    at = ids.codes[kept]
    reason_by_id = np.full(len(known_ids), -1, dtype=np.int32)
    reason_by_id[at] = reason.codes[kept]
    birth_by_id = np.full(len(known_ids), np.datetime64("NaT"), dtype=schema.DATE)
    if birth is not None:
        birth_by_id[at] = np.where(good[kept], birth[kept].to_numpy(dtype=schema.DATE), np.datetime64("NaT"))
    return _People(
        valid=valid_df,
        quarantine=_quarantine(p, bad, cols, reason, rows, "people"),
        collapsed=int(collapsed.sum()),
        race_other=int((race_other & good).sum()),
        known_ids=known_ids,
        reason_by_id=_Coded(reason_by_id, reason.labels),
        birth_by_id=birth_by_id,
    )


# --- events --------------------------------------------------------------------------------

def _vocabulary(domain: Domain) -> tuple[dict[str, str], dict[str, str]]:
    """Lower-case lookups: event type -> domain spelling; ``type\\u241foutcome`` -> outcome spelling."""
    types = {t.lower(): t for t in domain.event_types}
    outcomes = {f"{t.lower()}\u241f{o.lower()}": o for t, outs in domain.event_types.items() for o in outs}
    return types, outcomes


def _numbers(values: pd.Series) -> pd.Series:
    """A numeric column as ``float64`` (a float64 column as it is: ``to_numeric`` would copy 10M values)."""
    if values.dtype == np.float64:
        return values
    return pd.to_numeric(values, errors="coerce").astype("float64")


def _kept(values: pd.Series, good: np.ndarray | None) -> pd.Series:
    """The rows of ``good`` (every row when None: no filtering copy) on a new ``RangeIndex``; the array is filtered,
    not the Series (which would also build a 10M-entry index only to drop it)."""
    if good is None:
        return values.reset_index(drop=True)
    arr = values.to_numpy()[good] if isinstance(values.dtype, np.dtype) else values.array[good]
    return pd.Series(arr, name=values.name, copy=False)  # a new array: nothing to copy


def _kept_text(coded: _Coded, good: np.ndarray | None) -> pd.Series:
    """The labels of the rows of ``good`` (every row when None) as ``string`` on a new ``RangeIndex``: the input
    text itself when every label is spelled as its input (no decode of 10M strings), else decoded."""
    codes = coded.codes if good is None else coded.codes[good]
    if coded.source is not None and (not len(codes) or codes.min() >= 0):
        return _kept(coded.source, good).astype("string")
    return _decode(coded.labels, codes, pd.RangeIndex(len(codes)))


def validate(
    people: pd.DataFrame,
    events: pd.DataFrame,
    domain: str | Domain | Mapping,
    *,
    as_of: Any = None,
) -> Validated:
    """Type, normalize and check both tables; return valid rows, quarantined rows and counts.

    ``as_of`` is the reference date: events after it are "in the future" (default: today) and ages
    are derived from birth dates at it (default: the latest parseable event date not after today,
    or today when there is none).
    """
    domain = get_domain(domain)
    missing_cols = [c for c in schema.EVENTS_REQUIRED if c not in events.columns]
    if missing_cols:
        raise InputError(f"events table lacks required column(s) {missing_cols}")
    today = pd.Timestamp.today().normalize()
    cutoff = _timestamp(as_of) if as_of is not None else today

    erows = _row_numbers(events)
    e = events.reset_index(drop=True)
    m = len(e)
    edate, ed_missing, ed_bad = parse_dates(e[schema.EVENT_DATE])
    if as_of is not None:
        age_ref = cutoff
    else:
        usable = edate[(edate <= today).fillna(False)]
        age_ref = _timestamp(usable.max()) if len(usable) and not pd.isna(usable.max()) else today

    pp = _validate_people(people, domain, age_ref, today)

    pid = clean_strings(e[schema.PERSON_ID])
    types, outcomes = _vocabulary(domain)
    et_raw = clean_strings(e[schema.EVENT_TYPE])
    et = _label_codes(et_raw, types)
    out_text = clean_strings(e[schema.OUTCOME])
    out_raw = _factorize(out_text)
    outcome = _pair_codes(et, out_raw, outcomes, out_text)
    if schema.END_DATE in e.columns:
        end, _, end_bad = parse_dates(e[schema.END_DATE])
    else:
        end, end_bad = pd.Series(pd.NaT, index=e.index, dtype=schema.DATE), np.zeros(m, dtype=bool)
    # One hash lookup of each event's person: known?, quarantine reason, birth date.
    at = _positions(pid, pp.known_ids)  # -1 (unknown) reads the entry appended to each per-person array
    known = at >= 0
    person_reason = _Coded(np.append(pp.reason_by_id.codes, -1)[at],
                           np.asarray([PERSON_QUARANTINED + r for r in pp.reason_by_id.labels], dtype=object))
    birth = np.append(pp.birth_by_id, np.datetime64("NaT")).astype(schema.DATE)[at]
    ed, end_d = edate.to_numpy(dtype=schema.DATE), end.to_numpy(dtype=schema.DATE)

    nul = _nul_reason(e, [c for c in event_columns(domain) if c in e.columns])
    checks: list[tuple[Any, str | _Coded]] = [
        (pid.isna(), "missing person_id"),
        (nul.codes >= 0, nul),
        (~known, "unknown person_id"),
        (person_reason.codes >= 0, person_reason),
        (et_raw.isna(), "missing event_type"),
        (et.codes < 0, "event_type not in domain vocabulary"),
        (out_raw.codes < 0, "missing outcome"),
        (outcome.codes < 0, "outcome not valid for event_type"),
        (ed_missing, "missing event_date"),
        (ed_bad, "unparseable event_date"),
        (ed > _seconds(cutoff), "event_date in the future"),  # NaT compares False, as in pandas
        (ed < _seconds(MIN_EVENT_DATE), f"event_date before {MIN_EVENT_DATE.date()}"),
        (end_bad, "unparseable end_date"),
        (end_d < ed, "end_date before event_date"),
        (ed < birth, "event before birth"),
    ]
    extra: dict[str, pd.Series] = {}
    if schema.LOCATION in e.columns:
        extra[schema.LOCATION] = clean_strings(e[schema.LOCATION])
    if schema.VALUE in e.columns:
        txt = clean_strings(e[schema.VALUE]) if not pd.api.types.is_numeric_dtype(e[schema.VALUE]) else None
        value = _numbers(txt if txt is not None else e[schema.VALUE])
        if txt is not None:
            checks.append((txt.notna() & value.isna(), "non-numeric value"))
        checks.append((np.isinf(value.to_numpy(dtype="float64", na_value=np.nan)), "non-finite value (infinite)"))
        extra[schema.VALUE] = value
    for col in event_columns(domain):
        if col in e.columns and col not in schema.EVENT_COLUMNS:
            extra[col] = clean_strings(e[col])
    reason = _first_reason(m, checks)
    bad = reason.codes >= 0
    good = ~bad
    n_good = int(good.sum())
    rows = good if n_good < m else None  # None: every row is valid, nothing to filter

    # concat, not DataFrame(): the same frame without stacking the date columns into one copied block
    valid_events = pd.concat({
        schema.PERSON_ID: _kept(pid, rows).astype(schema.STRING),
        schema.EVENT_TYPE: _kept_text(et, rows),
        schema.EVENT_DATE: _kept(edate, rows),
        schema.END_DATE: _kept(end, rows).astype(schema.DATE),
        schema.OUTCOME: _kept_text(outcome, rows),
        **{c: _kept(v, rows).astype("float64" if c == schema.VALUE else schema.STRING) for c, v in extra.items()},
    }, axis=1)
    ecols = [c for c in event_columns(domain) if c in e.columns]
    q_events = _quarantine(e, bad, ecols, reason, erows, "events")

    counts = {
        "people_in": len(people),
        "people_valid": len(pp.valid),
        "people_quarantined": len(pp.quarantine),
        "people_duplicates_collapsed": pp.collapsed,
        "events_in": m,
        "events_valid": n_good,
        "events_quarantined": int(bad.sum()),
        "race_mapped_to_other": pp.race_other,
    }
    result = Validated(pp.valid, valid_events, pp.quarantine, q_events, counts, as_of=age_ref)
    if not result.reconciles:  # a bug here must never pass silently
        raise AssertionError(f"validation counts do not reconcile: {counts}")
    return result


__all__ = ["DUPLICATE_CONFLICT", "Validated", "clean_strings", "parse_dates", "validate"]

"""File decoding: one CSV or Parquet file read as strings, whatever its encoding, separator or layout.

Kept apart from the two-table contract (``personatwin.ingest.tables``): this module only turns bytes
into a DataFrame of text columns, indexed by the 1-based data row, and names the file, column or line
of every failure (never a cell value).
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from personatwin.core.errors import InputError
from personatwin.ingest.identifiers import column_label

ROW = "row"
CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz", ".csv.bz2", ".csv.zip")
PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
ENCODINGS = ("utf-8-sig", "latin-1")


# --- reading files -------------------------------------------------------------------------

# Byte-order marks, longest first (the UTF-32 LE mark starts with the UTF-16 LE one).
BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"), (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"),
)
COMPRESSED = (".gz", ".bz2", ".zip")


def _suffix(path: Path) -> str:
    return "".join(path.suffixes[-2:]).lower() if len(path.suffixes) > 1 else path.suffix.lower()


def is_parquet(path: Path) -> bool:
    return path.suffix.lower() in PARQUET_SUFFIXES


def is_csv(path: Path) -> bool:
    return _suffix(path) in CSV_SUFFIXES or path.suffix.lower() in (".csv", ".tsv", ".txt")


def _head(path: Path, size: int = 65536) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(size)


def _detect_encoding(head: bytes) -> str | None:
    """The encoding a byte-order mark (or BOM-less UTF-16's NUL in every other byte) announces."""
    for bom, enc in BOMS:
        if head.startswith(bom):
            return enc
    if len(head) >= 8:
        even, odd = head[0::2], head[1::2]
        if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
            return "utf-16-le"
        if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
            return "utf-16-be"
    return None


def _sniff_sep(path: Path, head: bytes, encoding: str | None) -> str:
    """Separator from the header line: the most frequent of , ; tab |."""
    name = path.name.lower()
    if path.suffix.lower() == ".tsv" or ".tsv." in name:
        return "\t"
    if path.suffix.lower() in COMPRESSED:
        return ","
    text = head.decode(encoding, errors="replace") if encoding else head.decode("latin-1")
    lines = text.lstrip("\ufeff").splitlines()
    first = lines[0] if lines else ""
    counts = {sep: first.count(sep) for sep in (",", ";", "\t", "|")}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] > 0 else ","


def _first_invalid_utf8_line(path: Path, chunk: int = 1 << 20) -> str:
    """" (first invalid byte on line N)" for an uncompressed file, else "" (never the byte's text).

    Decodes incrementally, a chunk at a time, so a large file is not held twice in memory."""
    if path.suffix.lower() in COMPRESSED:
        return ""
    decoder = codecs.getincrementaldecoder("utf-8")()
    newlines = 0
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                # exc.start counts from the start of the bytes buffered in the decoder plus this block
                pending = len(exc.object) - len(block)
                line = newlines + block.count(b"\n", 0, max(exc.start - pending, 0)) + 1
                return f" (first invalid byte on line {line})"
            newlines += block.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:  # a sequence cut off at the end of the file
        return f" (first invalid byte on line {newlines + 1})"
    return ""


def _check_header(path: Path, columns: Sequence[Any]) -> None:
    """Header names must be unique: pandas would silently rename a repeat to ``name.1``."""
    names = [str(c).strip() for c in columns]
    seen: set[str] = set()
    dup: list[int] = []
    for i, n in enumerate(names):
        if not n:  # blank = unnamed, ignored
            continue
        if n in seen:
            dup.append(i)
        else:
            seen.add(n)
    if dup:
        shown = [column_label(names[i], i) for i in dup]
        raise InputError(f"{path}: the header repeats column name(s) {', '.join(shown)}; "
                         "rename or remove the repeats (which one holds the data is not guessed)")


def _read_csv(path: Path, notes: list[str]) -> pd.DataFrame:
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file (0 bytes, no header row)")
    head = _head(path) if path.suffix.lower() not in COMPRESSED else b""
    detected = _detect_encoding(head)
    # UTF-8 with a BOM and stray latin-1 bytes (an edited spreadsheet export) falls back like UTF-8.
    encodings = (detected,) if detected and detected != "utf-8-sig" else ENCODINGS
    sep = _sniff_sep(path, head, detected)
    for enc in encodings:
        try:
            header = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False, sep=sep,
                                 encoding=enc)
            df = pd.read_csv(path, dtype=str, keep_default_na=False, sep=sep, encoding=enc)
        except UnicodeError:
            if detected and detected != "utf-8-sig":
                raise InputError(f"{path}: cannot be decoded as {detected} (announced by its first bytes)") from None
            continue
        except pd.errors.EmptyDataError:
            raise InputError(f"{path}: empty file (no header row)") from None
        except (pd.errors.ParserError, ValueError, OSError, EOFError) as exc:
            raise InputError(f"{path}: cannot be parsed as CSV ({type(exc).__name__}: {_short(exc)})") from None
        if enc == "latin-1" and detected == "utf-8-sig" and len(df.columns) and len(header):  # BOM as text
            bom = "\ufeff".encode("utf-8").decode("latin-1")
            df = df.rename(columns={df.columns[0]: str(df.columns[0]).removeprefix(bom)})
            header.iloc[0, 0] = str(header.iloc[0, 0]).removeprefix(bom)
        _check_header(path, header.iloc[0].tolist() if len(header) else [])
        if enc == "latin-1":
            notes.append(f"{path.name}: not valid UTF-8{_first_invalid_utf8_line(path)}, read as latin-1")
        elif detected and detected != "utf-8-sig":
            notes.append(f"{path.name}: read as {detected}")
        return df
    raise InputError(f"{path}: cannot be decoded with any of {ENCODINGS}")


def _short(exc: BaseException) -> str:
    """The first line of a parser's message, shortened, quoted literals (bytes of the file, a path
    already named) replaced by '...': parsers name lines and sizes, and must not echo content."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = re.sub(r"b?'[^']*'|b?\"[^\"]*\"", "'...'", text)
    return text[:200]


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        arrow_schema = pq.read_schema(path)
        df = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for truncated/corrupt files
        raise InputError(f"{path}: not a readable Parquet file ({type(exc).__name__}: {_short(exc)})") from None
    _check_header(path, arrow_schema.names)
    for col in df.columns:  # pyarrow does not check text on read: a corrupt page can hold invalid UTF-8
        if hasattr(df[col].array, "__arrow_array__") and pd.api.types.is_string_dtype(df[col].dtype):
            try:
                df[col].array.__arrow_array__().validate(full=True)
            except pa.ArrowInvalid:
                raise InputError(f"{path}: column {column_label(col, list(df.columns).index(col))} holds text "
                                 "that is not valid UTF-8 (a corrupt file?)") from None
    for f in arrow_schema:
        t = f.type
        if pa.types.is_dictionary(t):
            t = t.value_type
        if pa.types.is_nested(t):
            raise InputError(f"{path}: column {column_label(f.name, arrow_schema.names.index(f.name))} has the "
                             f"nested type {t}; only flat columns are read (flatten it or leave it out of the file)")
        if (pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)) \
                and f.name in df.columns:
            try:
                df[f.name] = df[f.name].str.decode("utf-8").astype("string")
            except (UnicodeDecodeError, AttributeError, TypeError):
                raise InputError(f"{path}: column {column_label(f.name, arrow_schema.names.index(f.name))} holds "
                                 "binary values that are not UTF-8 text") from None
    return df


def empty_to_na(df: pd.DataFrame, what: str = "input") -> pd.DataFrame:
    """Empty strings are missing values; text columns become the ``string`` dtype.

    Repeated column names and cells that cannot be text (bytes that are not UTF-8) are an
    ``InputError`` naming the table and column.
    """
    repeated = df.columns.duplicated()
    if repeated.any():
        shown = [column_label(df.columns[i], int(i)) for i in np.flatnonzero(repeated)]
        raise InputError(f"{what}: repeated column name(s) {', '.join(shown)}; keep one of each")
    out = {}
    for i, col in enumerate(df.columns):
        s = df[col]
        if pd.api.types.is_string_dtype(s.dtype) and not isinstance(s.dtype, pd.CategoricalDtype):
            try:
                s = s.astype("string")
            except (UnicodeError, TypeError, ValueError, ArithmeticError) as exc:
                raise InputError(f"{what}: column {column_label(col, i)} holds values that cannot be read as "
                                 f"text ({type(exc).__name__})") from None
            s = s.mask((s == "").fillna(False))
        out[col] = s
    return pd.DataFrame(out, index=df.index)


def with_rows(df: pd.DataFrame) -> pd.DataFrame:
    """1-based source row numbers as the ``row`` index; an existing ``row`` index (a slice of a file
    read by :func:`read_table`) is kept, so quarantine points at the source rows."""
    df = df.copy()
    idx = df.index
    if not (idx.name == ROW and pd.api.types.is_integer_dtype(idx.dtype) and idx.is_unique):
        df.index = pd.RangeIndex(1, len(df) + 1, name=ROW)
    return df


def read_table(path: str | os.PathLike) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Read one CSV (as strings) or Parquet file; any failure is an ``InputError`` naming it.

    CSV: UTF-8 (a UTF-8 BOM is dropped), UTF-16/32 announced by a BOM or BOM-less UTF-16, else
    latin-1 (recorded in the notes with the line of the first invalid byte); the separator is the
    most frequent of , ; tab | in the header line; repeated header names are an error. Parquet:
    flat columns only; binary columns must hold UTF-8 text. Messages name the file, the column or
    the line, never a cell value.
    """
    path = Path(path)
    notes: list[str] = []
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    if is_parquet(path):
        df = _read_parquet(path)
    elif is_csv(path):
        df = _read_csv(path, notes)
    else:
        raise InputError(f"{path}: unsupported file type (use CSV or Parquet: {CSV_SUFFIXES + PARQUET_SUFFIXES})")
    df.index = pd.RangeIndex(1, len(df) + 1, name=ROW)
    return with_rows(empty_to_na(df, str(path))), tuple(notes)

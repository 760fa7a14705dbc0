"""JSON array of records, one per line, from columns of few distinct values: each distinct value is formatted
once (``json.dumps``), and the rows are assembled in a compiled kernel, a chunk of rows at a time, while the
previous chunk is written (10M released events: about 1.8 GB of text).

Every table the release publishes is made of such columns (persona ids, vocabularies, period dates,
rounded amounts), so formatting is per distinct value and assembly is a byte copy.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
from numba import njit

CHUNK_ROWS = 1 << 19  # rows assembled at a time: bounds the buffers (three of ~90 MB for released events)


def plain(value: Any) -> Any:
    """A cell as the Python value JSON shows (None for missing; dates as ISO text to the second)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return pd.Timestamp(value).strftime("%Y-%m-%dT%H:%M:%S")
    return value.item() if isinstance(value, np.generic) else value


_ESCAPED = re.compile(r'["\\\x00-\x1f]')  # what json.dumps(..., ensure_ascii=False) escapes in a string


def literal(value: Any) -> bytes:
    """A value's JSON literal in UTF-8: ``json.dumps`` of ``plain(value)``; a string needing no escape is
    quoted directly (a release has ~100k persona ids)."""
    if type(value) is str and not _ESCAPED.search(value):
        return ('"' + value + '"').encode("utf-8")
    return json.dumps(plain(value), ensure_ascii=False, allow_nan=False).encode("utf-8")


def column_literals(values: pd.Series) -> tuple[np.ndarray, list[bytes]]:
    """Each row's code into the column's JSON literals (UTF-8), the last literal being ``null``."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes, uniques = values.cat.codes.to_numpy(), list(values.cat.categories)
    else:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        uniques = list(uniques)
    literals = [literal(u) for u in uniques]
    codes = np.where(codes >= 0, codes, len(literals)).astype(np.int32)
    return codes, [*literals, b"null"]


@njit(cache=True, nogil=True)
def _chunk_bytes(ids: np.ndarray, offsets: np.ndarray, chunk_rows: int) -> np.ndarray:
    """Bytes of each chunk of rows: its literals and three bytes per row (``},`` and a newline)."""
    n, c = ids.shape
    out = np.zeros((n + chunk_rows - 1) // chunk_rows, dtype=np.int64)
    for r in range(n):
        total = 3
        for j in range(c):
            g = ids[r, j]
            total += offsets[g + 1] - offsets[g]
        out[r // chunk_rows] += total
    return out


@njit(cache=True, nogil=True)
def _assemble(ids: np.ndarray, start: int, stop: int, offsets: np.ndarray, data: np.ndarray,
              out: np.ndarray) -> int:
    """Rows ``start:stop`` into ``out`` as ``{lit,lit,...},\n`` from literal ids (a row of ``ids`` per table
    row); returns the bytes written. Literals carry their key prefix (the first column's also the brace)."""
    pos = 0
    c = ids.shape[1]
    for r in range(start, stop):
        for j in range(c):
            g = ids[r, j]
            a, b = offsets[g], offsets[g + 1]
            out[pos:pos + b - a] = data[a:b]
            pos += b - a
        out[pos] = 125  # }
        out[pos + 1] = 44  # ,
        out[pos + 2] = 10  # newline
        pos += 3
    return pos


def write_json_records(df: pd.DataFrame, path, chunk_rows: int = CHUNK_ROWS, sha256=None) -> None:
    """``df`` as a JSON array of records, one per line (module doc); the same text as formatting every cell
    with ``json.dumps``. ``path``: a path, or a binary file to write into; ``sha256``: a hashlib object to feed
    every byte written (hashed in its own thread, beside the writes)."""
    if hasattr(path, "write"):
        _write_records(df, path, chunk_rows, sha256)
        return
    with open(path, "wb") as f:
        _write_records(df, f, chunk_rows, sha256)


def _write_records(df: pd.DataFrame, f, chunk_rows: int, sha256) -> None:
    """The records of ``df`` into the binary file ``f``: chunks are assembled here while earlier ones are
    written and hashed, each by one worker (in order), into three rotating buffers."""
    def put(piece: bytes) -> None:
        f.write(piece)
        if sha256 is not None:
            sha256.update(piece)

    if not len(df):
        put(b"[]")
        return
    n = len(df)
    ids = np.empty((n, len(df.columns)), dtype=np.int32)  # literal id of each cell
    pieces: list[bytes] = []
    for j, col in enumerate(df.columns):
        prefix = (("{" if j == 0 else ",") + json.dumps(str(col), ensure_ascii=False) + ":").encode("utf-8")
        codes, literals = column_literals(df[col])
        ids[:, j] = codes + len(pieces)
        pieces += [prefix + lit for lit in literals]
    offsets = np.zeros(len(pieces) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(p) for p in pieces])
    data = np.frombuffer(b"".join(pieces), dtype=np.uint8)
    sizes = _chunk_bytes(ids, offsets, chunk_rows)
    buffers = [np.empty(int(sizes.max()), dtype=np.uint8) for _ in range(min(3, len(sizes)))]
    put(b"[\n")
    busy: dict[int, list] = {}  # buffer -> its pending write (and hash)
    with ThreadPoolExecutor(max_workers=1) as writer, ThreadPoolExecutor(max_workers=1) as hasher:
        for i, start in enumerate(range(0, n, chunk_rows)):
            b = i % len(buffers)
            for pending in busy.pop(b, []):
                pending.result()
            used = _assemble(ids, start, min(start + chunk_rows, n), offsets, data, buffers[b])
            if start + chunk_rows >= n:
                used -= 2  # the last row ends the array: no ",\n"
            view = buffers[b][:used].data  # a memoryview of the bytes to write
            busy[b] = [writer.submit(f.write, view)] + ([hasher.submit(sha256.update, view)] if sha256 else [])
        for pendings in busy.values():
            for pending in pendings:
                pending.result()
    put(b"\n]")

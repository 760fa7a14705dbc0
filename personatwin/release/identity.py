"""Release identity: the id (salt) that, with the key, seeds every random draw of one release.

Two releases must never share an id unless they are the very same data (issue 12, finding 3: the API's
default ``salt=""`` made two monthly releases share every persona-id stream). When the caller gives
none, the id is derived from the data: a keyed tag of an order-free digest of the validated tables, so
the same data and key give the same release byte for byte, and different data always a different id.
The tag is keyed (HMAC with the release key), so publishing it reveals nothing about the data.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from personatwin.core.keys import ReleaseKey

AUTO_PREFIX = "auto-"


def table_digest(table: pd.DataFrame) -> bytes:
    """SHA-256 of a table that ignores row and column order (the engine is order-free too)."""
    if table is None or table.empty:
        return hashlib.sha256(b"empty").digest()
    cols = sorted(map(str, table.columns))
    rows = pd.util.hash_pandas_object(table[cols], index=False).to_numpy()
    h = hashlib.sha256("\x1f".join(cols).encode("utf-8"))
    h.update(np.sort(rows).tobytes())
    return h.digest()


def derived_release_id(key: ReleaseKey, people: pd.DataFrame, events: pd.DataFrame, domain: str) -> str:
    """The release id of data given without one: ``auto-`` and 16 hex digits of a keyed digest."""
    data = domain.encode("utf-8") + table_digest(people) + table_digest(events)
    return AUTO_PREFIX + key.tag("release-id", data)[:16]

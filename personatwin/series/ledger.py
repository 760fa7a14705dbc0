"""The release ledger: every release of a series, its versions, and each person's exposure.

Layout (a local folder, internal: it sits with the source data and is never published)::

    <root>/ledger.jsonl                       one line per published release version (append-only)
    <root>/exposure/<period>/v<version>.parquet   each person's pseudonym, persona, published QIs,
                                              digest and series-attack figures (exposure.py)

A release's identity is (series, period, version); its ``release_id`` (the salt that, with the key,
seeds every draw) is never reused for different data: a rerun of unchanged data reuses its version
and id (and so reproduces it byte for byte); changed data gets the next version. Writers take an
exclusive lock on the ledger, so concurrent releases of one series are checked and recorded in turn.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from personatwin.core.locks import exclusive_lock

LEDGER_FILE = "ledger.jsonl"
EXPOSURE_DIR = "exposure"
PUBLISHED_FIELDS = ("series", "period", "version", "release_id", "recipients", "supersedes", "nonce",
                    "data_tag", "recorded_at")


@dataclass(frozen=True)
class LedgerEntry:
    """One published version of one period of a series."""

    series: str  # the population: e.g. the domain name
    period: str  # the release period (partition key)
    version: int
    release_id: str  # the salt of every random draw of this version
    data_tag: str  # keyed digest of the validated tables (a rerun with the same tag is unchanged)
    recipients: tuple[str, ...] = ()
    supersedes: int | None = None  # the version this one corrects
    nonce: str | None = None  # fresh randomness drawn for a correction that failed its differencing check
    recorded_at: str = ""
    figures: dict = field(default_factory=dict)  # series and differencing figures at publication

    def as_json(self) -> str:
        d = asdict(self)
        d["recipients"] = list(self.recipients)
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> LedgerEntry:
        d = json.loads(line)
        d["recipients"] = tuple(d.get("recipients") or ())
        return cls(**d)

    def published(self) -> dict:
        """The identity fields that may be published beside the releases (no figures about people)."""
        d = asdict(self)
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items() if k in PUBLISHED_FIELDS}


def month_index(period: str) -> int:
    """Months since year 0 of a period key ('YYYY-MM', 'YYYY-MM-DD', 'YYYY-Qn' or 'YYYY')."""
    text = str(period)
    year = int(text[:4])
    if len(text) >= 7 and text[5] == "Q":
        return year * 12 + (int(text[6]) - 1) * 3
    month = int(text[5:7]) if len(text) >= 7 else 1
    return year * 12 + month - 1


def in_window(period: str, other: str, window_months: int | None) -> bool:
    """Whether two periods can fall in one window of ``window_months`` months (None: all time)."""
    return window_months is None or abs(month_index(period) - month_index(other)) < window_months


class Ledger:
    """The ledger of one releases root (see the module docstring)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    @property
    def path(self) -> Path:
        return self.root / LEDGER_FILE

    def entries(self) -> list[LedgerEntry]:
        """Every recorded version, in recording order."""
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [LedgerEntry.from_json(line) for line in lines if line.strip()]

    def versions(self, series: str, period: str) -> list[LedgerEntry]:
        """The versions of one period, oldest first."""
        return sorted((e for e in self.entries() if e.series == series and e.period == period),
                      key=lambda e: e.version)

    def latest(self, series: str, period: str) -> LedgerEntry | None:
        found = self.versions(series, period)
        return found[-1] if found else None

    def window(self, series: str, period: str, window_months: int | None) -> list[LedgerEntry]:
        """Every published version of the series that shares a window with ``period`` (all versions of
        a corrected period count: each was published)."""
        return [e for e in self.entries() if e.series == series and in_window(period, e.period, window_months)]

    def exposure_path(self, entry: LedgerEntry) -> Path:
        return self.root / EXPOSURE_DIR / entry.period / f"v{entry.version}.parquet"

    def exposure(self, entry: LedgerEntry) -> pd.DataFrame:
        """The exposure table recorded with a version (internal)."""
        path = self.exposure_path(entry)
        if not path.exists():
            raise FileNotFoundError(f"{path}: the ledger lists {entry.period} v{entry.version} but its exposure "
                                    "table is missing; restore it from backup before releasing more of the series")
        return pd.read_parquet(path)

    @contextmanager
    def locked(self) -> Iterator[Ledger]:
        """Hold the ledger's exclusive lock (check and record one release at a time)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(self.root / ".ledger.lock"):
            yield self

    def record(self, entry: LedgerEntry, exposure: pd.DataFrame) -> None:
        """Append a version with its exposure table (call with the lock held); idempotent for a rerun of
        the same version and data."""
        same = [e for e in self.versions(entry.series, entry.period) if e.version == entry.version]
        if same:
            if same[0].data_tag != entry.data_tag or same[0].release_id != entry.release_id:
                raise ValueError(f"{entry.series} {entry.period} v{entry.version} is already recorded with other "
                                 "data: a release id is never reused for different data")
            return
        path = self.exposure_path(entry)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        exposure.to_parquet(tmp, index=False)
        os.replace(tmp, path)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(entry.as_json() + "\n")
            f.flush()
            os.fsync(f.fileno())

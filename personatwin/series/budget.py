"""The privacy-budget ledger of DP releases: ρ (zCDP) spent per series, capped within a window of months.

zCDP composes by addition, so a person's privacy loss over the releases of a window is the sum of their ρ.
The ledger is a JSON-lines file, append-only, one line per charged release, written under an exclusive
``flock`` and fsynced, so concurrent runs cannot both take the last of a budget. Sums are exact (decimal):
twelve releases of 0.01 spend 0.12, not 0.11999999999999998, so a cap of 12 x 0.01 admits exactly twelve.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO

import pandas as pd

from personatwin.core.errors import BudgetExceededError

ENTRY_FIELDS = ("series", "period", "release_id", "version", "rho", "recorded_at")
_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])(?:-(0[1-9]|[12]\d|3[01]))?$")


@dataclass(frozen=True)
class LedgerEntry:
    """One charged release: which series and period, its id and version, the ρ it spent and when."""

    series: str
    period: str
    release_id: str
    version: int
    rho: float
    recorded_at: str


def period_month(period: str) -> int:
    """The month index (year * 12 + month - 1) of a period 'YYYY-MM' or 'YYYY-MM-DD'."""
    match = _PERIOD.match(period) if isinstance(period, str) else None
    if match is None:
        raise ValueError(f"period must be 'YYYY-MM' or 'YYYY-MM-DD', got {period!r}")
    if match.group(3) is not None:
        try:
            datetime.strptime(period, "%Y-%m-%d")
        except ValueError as exc:
            raise ValueError(f"period {period!r} is not a calendar date") from exc
    return int(match.group(1)) * 12 + int(match.group(2)) - 1


def month_label(month: int) -> str:
    """'YYYY-MM' of a month index."""
    return f"{month // 12:04d}-{month % 12 + 1:02d}"


def _exact(x: float) -> Decimal:
    """The decimal a float was written as (its shortest repr), so sums of 0.01 stay exact."""
    return Decimal(repr(float(x)))


Spends = list[tuple[int, Decimal]]  # (month, rho) of one series' releases


def series_spends(entries: Sequence[LedgerEntry], series: str) -> Spends:
    """The (month, exact ρ) of each release of ``series``."""
    return [(period_month(e.period), _exact(e.rho)) for e in entries if e.series == series]


def window_spent(spends: Spends, end_month: int, window_months: int) -> Decimal:
    """ρ of the releases whose month lies in the window of ``window_months`` months ending at ``end_month``."""
    first = end_month - window_months + 1
    return sum((rho for month, rho in spends if first <= month <= end_month), Decimal(0))


def _worst_window(spends: Spends, month: int, window_months: int) -> tuple[int, Decimal]:
    """The end and ρ of the window containing ``month`` that has spent most (a backfill joins every such window)."""
    windows = [(window_spent(spends, end, window_months), -end) for end in range(month, month + window_months)]
    spent, neg_end = max(windows)
    return -neg_end, spent


def _fits(spends: Spends, month: int, rho: Decimal, cap: Decimal, window_months: int) -> bool:
    return _worst_window(spends, month, window_months)[1] + rho <= cap


def refusal_message(spends: Spends, series: str, period: str, rho: float, cap: float, window_months: int) -> str:
    """Why a charge is refused: series, period, spent and requested ρ, the cap, and when the budget frees."""
    month = period_month(period)
    end, spent = _worst_window(spends, month, window_months)
    first = end - window_months + 1
    head = (f"DP budget exceeded for series {series!r} at period {period}: the {window_months}-month window "
            f"{month_label(first)}..{month_label(end)} has spent rho={spent} and this release requests "
            f"rho={_exact(rho)}, over the cap of rho={_exact(cap)}.")
    if _exact(rho) > _exact(cap):
        return head + " A release of this rho never fits under the cap: lower rho_per_release."
    later = next((m for m in range(month + 1, month + 2 * window_months + 1)
                  if _fits(spends, m, _exact(rho), _exact(cap), window_months)), None)
    if later is None:
        return head + f" No period in the next {2 * window_months} months frees enough budget."
    leaving = sorted({m for m, _ in spends if first <= m <= later - window_months})
    gone = f"the releases of {', '.join(map(month_label, leaving))} leave the window" if leaving else "the window moves"
    return head + f" The budget frees at period {month_label(later)}, when {gone}."


def _parse(raw: bytes) -> list[LedgerEntry]:
    """The ledger's entries; a final line without its newline is a torn write (never acknowledged): skipped."""
    complete = raw.split(b"\n")[:-1]  # what follows the last newline is empty or torn
    try:
        return [LedgerEntry(**json.loads(line)) for line in complete if line.strip()]
    except (json.JSONDecodeError, TypeError) as exc:
        raise ValueError(f"the budget ledger has a malformed line: {exc}") from exc


@contextmanager
def _locked(path: Path, exclusive: bool) -> Iterator[IO[bytes]]:
    """The ledger file opened for append and read under a ``flock`` (exclusive to write, shared to read).

    The ledger is never removed or replaced, so locking the file itself is safe. Without ``fcntl`` (not POSIX)
    the lock is a no-op."""
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    with open(path, "a+b") as fh:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            fcntl = None  # type: ignore[assignment]
        if fcntl is not None:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        if created and exclusive:
            _fsync_dir(path.parent)
        fh.seek(0)
        yield fh  # closing the file releases the lock


def _fsync_dir(directory: Path) -> None:
    """Make a new file's directory entry durable."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_charge(series: str, release_id: str, version: int, rho: float, cap: float, window_months: int) -> None:
    if not (isinstance(series, str) and series) or not (isinstance(release_id, str) and release_id):
        raise ValueError("series and release_id must be non-empty strings")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"version must be an integer >= 1, got {version!r}")
    for name, value in (("rho", rho), ("cap", cap)):
        if not (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    if not isinstance(window_months, int) or window_months < 1:
        raise ValueError(f"window_months must be an integer >= 1, got {window_months!r}")


class BudgetLedger:
    """ρ spent by the DP releases of each series, append-only in a JSON-lines file at ``path``."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def _read(self) -> list[LedgerEntry]:
        if not self.path.exists():
            return []
        with _locked(self.path, exclusive=False) as fh:
            return _parse(fh.read())

    def entries(self) -> pd.DataFrame:
        """Every charge, in the order recorded (columns ``ENTRY_FIELDS``)."""
        return pd.DataFrame([asdict(e) for e in self._read()], columns=list(ENTRY_FIELDS))

    def spent(self, series: str, period: str, window_months: int) -> float:
        """ρ of the series' releases in the window of ``window_months`` months ending at ``period`` (inclusive)."""
        if not isinstance(window_months, int) or window_months < 1:
            raise ValueError(f"window_months must be an integer >= 1, got {window_months!r}")
        return float(window_spent(series_spends(self._read(), series), period_month(period), window_months))

    def charge(self, series: str, period: str, release_id: str, version: int, rho: float, cap: float,
               window_months: int) -> LedgerEntry:
        """Record a release's ρ if every window it joins stays within ``cap``, else raise ``BudgetExceededError``.

        Idempotent: a release already charged (same series, period and release_id) returns its entry and spends
        nothing, since its rerun reuses the published table; a different ρ or version under that id is an error.
        """
        _check_charge(series, release_id, version, rho, cap, window_months)
        month = period_month(period)
        with _locked(self.path, exclusive=True) as fh:
            raw = fh.read()
            entries = _parse(raw)
            same = [e for e in entries if (e.series, e.period, e.release_id) == (series, period, release_id)]
            if same:
                if (same[0].rho, same[0].version) != (float(rho), version):
                    raise ValueError(f"release {release_id!r} of series {series!r} at {period} was charged with "
                                     f"rho={same[0].rho}, version {same[0].version}; a changed release needs its own "
                                     "release_id")
                return same[0]
            spends = series_spends(entries, series)
            if not _fits(spends, month, _exact(rho), _exact(cap), window_months):
                raise BudgetExceededError(refusal_message(spends, series, period, rho, cap, window_months))
            entry = LedgerEntry(series=series, period=period, release_id=release_id, version=version,
                                rho=float(rho), recorded_at=datetime.now(UTC).isoformat(timespec="seconds"))
            if raw and not raw.endswith(b"\n"):  # drop a torn final line before appending
                fh.truncate(raw.rfind(b"\n") + 1)
            fh.write(json.dumps(asdict(entry), ensure_ascii=False).encode("utf-8") + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        return entry

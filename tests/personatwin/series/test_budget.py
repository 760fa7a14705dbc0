"""The zCDP budget ledger: exact sums over the window, refusal over the cap with a clear message, the window
moving on, idempotent re-charges, backfills checked against every window they join, and the file lock."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from personatwin.core.errors import BudgetExceededError, ReleaseRefusedError
from personatwin.series.budget import ENTRY_FIELDS, BudgetLedger, period_month

RHO, CAP, WINDOW = 0.01, 0.12, 12  # cap = 12 x rho: one release a month fills a 12-month window exactly


@pytest.fixture
def ledger(tmp_path) -> BudgetLedger:
    return BudgetLedger(tmp_path / "ledger" / "budget.jsonl")


def charge_year(ledger: BudgetLedger, series: str = "criminal_justice") -> None:
    """One release a month, 2024-01 .. 2024-12."""
    for month in range(1, 13):
        ledger.charge(series, f"2024-{month:02d}", f"release-{month:02d}", 1, RHO, CAP, WINDOW)


def test_twelve_monthly_releases_spend_exactly_twelve_rho_and_the_thirteenth_is_refused(ledger):
    charge_year(ledger)
    entries = ledger.entries()
    assert len(entries) == 12 and list(entries.columns) == list(ENTRY_FIELDS)
    assert ledger.spent("criminal_justice", "2024-12", WINDOW) == 12 * RHO == CAP  # exact, not 0.11999999999999998
    assert ledger.spent("criminal_justice", "2024-06", WINDOW) == pytest.approx(6 * RHO)
    assert ledger.spent("criminal_justice", "2024-12", 3) == pytest.approx(3 * RHO)

    with pytest.raises(BudgetExceededError) as refused:
        ledger.charge("criminal_justice", "2024-12", "release-12-extra", 1, RHO, CAP, WINDOW)
    message = str(refused.value)
    for part in ("'criminal_justice'", "period 2024-12", "12-month window 2024-01..2024-12", "spent rho=0.12",
                 "requests rho=0.01", "cap of rho=0.12", "frees at period 2025-01", "releases of 2024-01 leave"):
        assert part in message, message
    assert isinstance(refused.value, ReleaseRefusedError)
    assert len(ledger.entries()) == 12  # a refusal charges nothing


def test_a_release_once_the_window_has_moved_is_accepted(ledger):
    charge_year(ledger)
    ledger.charge("criminal_justice", "2025-01", "release-13", 1, RHO, CAP, WINDOW)  # 2024-01 left the window
    assert ledger.spent("criminal_justice", "2025-01", WINDOW) == CAP
    assert ledger.entries()["rho"].sum() == pytest.approx(13 * RHO)
    with pytest.raises(BudgetExceededError, match="frees at period 2025-02, when the releases of 2024-02 leave"):
        ledger.charge("criminal_justice", "2025-01", "release-13-extra", 1, RHO, CAP, WINDOW)


def test_recharging_a_charged_release_spends_nothing(ledger):
    charge_year(ledger)
    first = ledger.entries().iloc[0]
    again = ledger.charge("criminal_justice", "2024-01", "release-01", 1, RHO, CAP, WINDOW)  # window is full
    assert (again.release_id, again.recorded_at) == (first["release_id"], first["recorded_at"])
    assert len(ledger.entries()) == 12 and ledger.spent("criminal_justice", "2024-12", WINDOW) == CAP
    with pytest.raises(ValueError, match="needs its own release_id"):
        ledger.charge("criminal_justice", "2024-01", "release-01", 1, 2 * RHO, CAP, WINDOW)


def test_a_backfill_must_fit_every_window_it_joins(ledger):
    """Charging an earlier month also spends in the later windows that contain it."""
    for month in (3, 4):
        ledger.charge("s", f"2024-{month:02d}", f"r{month}", 1, 0.05, 0.1, 3)
    with pytest.raises(BudgetExceededError, match=r"window 2024-02..2024-04 has spent rho=0.1"):
        ledger.charge("s", "2024-02", "r2", 1, 0.05, 0.1, 3)  # window ending 2024-02 alone would fit
    ledger.charge("s", "2024-01", "r1", 1, 0.05, 0.1, 3)  # windows ending 01, 02, 03 stay within 0.1


def test_series_are_independent_and_days_count_by_month(ledger):
    charge_year(ledger, "criminal_justice")
    ledger.charge("healthcare", "2024-12-15", "h1", 1, RHO, CAP, WINDOW)
    assert ledger.spent("healthcare", "2024-12-31", WINDOW) == RHO
    assert ledger.spent("healthcare", "2024-11", WINDOW) == 0.0
    assert ledger.spent("education", "2024-12", WINDOW) == 0.0


def test_a_request_over_the_cap_on_its_own_never_fits(ledger):
    with pytest.raises(BudgetExceededError, match="never fits under the cap"):
        ledger.charge("s", "2024-01", "r", 1, 0.2, 0.1, 12)


@pytest.mark.parametrize("period", ["2024-13", "2024-1", "24-01", "2024-02-30", "2024/01", ""])
def test_malformed_periods_are_rejected(ledger, period):
    with pytest.raises(ValueError, match="period"):
        ledger.spent("s", period, 12)
    assert period_month("2024-02-29") == period_month("2024-02") == 2024 * 12 + 1


def test_the_ledger_is_json_lines_and_a_torn_last_line_is_dropped(ledger):
    ledger.charge("s", "2024-01", "r1", 1, RHO, CAP, WINDOW)
    with open(ledger.path, "ab") as fh:
        fh.write(b'{"series": "s", "period": "2024-02", "rel')  # a write cut short by a crash
    assert len(ledger.entries()) == 1
    ledger.charge("s", "2024-02", "r2", 1, RHO, CAP, WINDOW)
    lines = ledger.path.read_text().splitlines()
    assert [json.loads(line)["release_id"] for line in lines] == ["r1", "r2"]
    assert set(json.loads(lines[0])) == set(ENTRY_FIELDS)


def _charge_one(path: str, release_id: str) -> bool:
    """Charge one release in another process; True when it was charged."""
    try:
        BudgetLedger(Path(path)).charge("s", "2024-01", release_id, 1, RHO, 5 * RHO, WINDOW)
        return True
    except BudgetExceededError:
        return False


def test_concurrent_charges_never_exceed_the_cap(ledger):
    """Eight processes race for a budget of five releases: the lock lets exactly five through."""
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        charged = pool.starmap(_charge_one, [(str(ledger.path), f"r{i}") for i in range(8)])
    assert sum(charged) == 5 and len(ledger.entries()) == 5
    assert ledger.spent("s", "2024-01", WINDOW) == pytest.approx(5 * RHO)

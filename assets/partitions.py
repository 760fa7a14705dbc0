"""Release periods: one partition per period (monthly by default; day/week/quarter configurable)."""

from __future__ import annotations

import datetime
import os

import dagster as dg

from assets.constants import ENV_PERIOD, ENV_START

DEFAULT_START = "2023-01-01"
PERIODS = {
    "day": ("%Y-%m-%d", "0 0 * * *"),
    "week": ("%Y-%m-%d", "0 0 * * 1"),
    "month": ("%Y-%m", "0 0 1 * *"),
    "quarter": ("%Y-%m", "0 0 1 1,4,7,10 *"),
}


def release_partitions(period: str | None = None, start: str | None = None) -> dg.TimeWindowPartitionsDefinition:
    """Partitions for release periods starting at ``start`` (keys like 2024-03 for months)."""
    period = (period or os.environ.get(ENV_PERIOD) or "month").lower()
    if period not in PERIODS:
        raise ValueError(f"{ENV_PERIOD} must be one of {sorted(PERIODS)}, got {period!r}")
    fmt, cron = PERIODS[period]
    first = datetime.datetime.fromisoformat(start or os.environ.get(ENV_START) or DEFAULT_START)
    return dg.TimeWindowPartitionsDefinition(start=first.strftime(fmt), fmt=fmt, cron_schedule=cron, timezone="UTC")


RELEASE_PARTITIONS = release_partitions()

"""Is a process still running? Used to clean up after killed writers and runs."""

from __future__ import annotations

import os
from pathlib import Path


def process_start(pid: int) -> str | None:
    """Start time of a process in clock ticks since boot (/proc, Linux), which tells a process from
    a later one that got the same pid; None where there is no /proc entry."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, starttime


def process_alive(pid: int, start: str = "") -> bool:
    """Whether ``pid`` runs (and, when ``start`` is given, is still the process that started then)."""
    if Path("/proc/self/stat").exists():
        now = process_start(pid)
        return now is not None and (not start or now == start)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

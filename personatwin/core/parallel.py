"""How many threads a stage may use: compiled kernels and Arrow writers release the GIL, so runs of
independent work go to one thread per core this process may use."""

from __future__ import annotations

import os


def workers() -> int:
    """The cores this process may use (its CPU affinity, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)

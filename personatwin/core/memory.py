"""Process memory settings for releases of millions of events: large arrays reuse freed heap memory.

glibc's allocator maps every block over its mmap threshold (at most 32 MB by default) fresh from the kernel and
unmaps it on free, so each 80 MB temporary of a 10M-event column costs 20,000 page faults of zeroed pages: a
quarter of a 1M-people release's CPU time went to the kernel. Raising the mmap and trim thresholds (and keeping
threads in the main arena) serves those arrays from the heap and keeps freed blocks for the next one (a 1M-people
Dagster release: 100 s -> 88 s on 2 cores, peak memory +0.3 to 0.7 GB). Set ``PERSONATWIN_MALLOC_TUNING=0`` to
leave the allocator as it is.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

OPT_OUT = "PERSONATWIN_MALLOC_TUNING"
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8  # mallopt parameters (malloc.h)
LARGE = 2**31 - 1  # mallopt takes an int: the trim threshold, freed heap memory stays for reuse
# blocks up to 256 MB (a 30M-event int64 column) come from the heap; larger ones (a 100M-event release's columns,
# 0.4-0.8 GB each) are mapped and unmapped at free: a heap of such blocks fragments into GBs the process keeps
# (10M people: 3 GB over the live peak) while their page faults cost little next to the work on them
MMAP_FROM = 256 * 2**20

_applied: list[bool] = []


def reuse_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process, once; whether they are raised (False off Linux,
    on another C library, or when opted out)."""
    if _applied:
        return _applied[0]
    ok = False
    if sys.platform.startswith("linux") and os.environ.get(OPT_OUT, "1") != "0":
        try:
            mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
        except (OSError, AttributeError):  # no C library with mallopt: nothing to tune
            mallopt = None
        if mallopt is not None:
            mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
            # one arena: a thread's own arena maps every block over 64 MB fresh whatever the threshold (the
            # attack evaluation and the writers run on threads); the few large allocations never contend
            ok = (mallopt(M_MMAP_THRESHOLD, MMAP_FROM) == 1 and mallopt(M_TRIM_THRESHOLD, LARGE) == 1
                  and mallopt(M_ARENA_MAX, 1) == 1)
    _applied.append(ok)
    return ok


def private_folder(folder: Path) -> Path:
    """``folder``, made if needed, readable by its owner only (0700): spilled person-level data go there."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.chmod(0o700)  # an existing folder too
    return folder


def spilled(obj: Any, folder: Path, names: Iterable[str] | None = None) -> Any:
    """A frozen dataclass with its (non-empty, 1-d) arrays -- or only those ``names`` -- written to ``folder`` as
    ``.npy`` files and read back memory-mapped, read-only: out of core, the kernel pages them in while they are
    read and drops them under pressure. The folder must outlive the object. The files hold person-level data (the
    events' codes, dates, outcomes): the folder is made readable by its owner only (0700), and belongs on storage
    kept like the input's."""
    import dataclasses

    import numpy as np

    private_folder(folder)
    arrays = {}
    for name in names if names is not None else (f.name for f in dataclasses.fields(obj)):
        a = getattr(obj, name)
        if isinstance(a, np.ndarray) and a.ndim == 1 and len(a):
            np.save(folder / f"{name}.npy", a)
            arrays[name] = np.load(folder / f"{name}.npy", mmap_mode="r")
    return dataclasses.replace(obj, **arrays)


SPILL_FROM = 2**20  # arrays of at least 1 MB are spilled by ``spilled_tree``; smaller ones stay in memory


def spilled_tree(obj: Any, folder: Path) -> Any:
    """``obj`` (frozen dataclasses, tuples and lists of them, nested) with every array of at least ``SPILL_FROM``
    bytes (e.g. a shard's per-persona count tables, 0.5 GB each at 10M people) written to a file of ``folder``, read
    back memory-mapped read-only, and the file unlinked: the pages stay readable while the object lives and the disk
    space goes with it (out of core, nothing to clean up). The folder is made 0700 (the arrays are person-level)."""
    import dataclasses
    import uuid

    import numpy as np

    def go(o: Any) -> Any:
        if isinstance(o, np.ndarray):
            if o.nbytes < SPILL_FROM or o.dtype.hasobject or isinstance(o, np.memmap):
                return o
            path = folder / f"{uuid.uuid4().hex}.npy"
            np.save(path, o)
            mapped = np.load(path, mmap_mode="r")
            path.unlink()
            return mapped
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            return dataclasses.replace(o, **{f.name: go(getattr(o, f.name)) for f in dataclasses.fields(o)
                                             if f.init})
        if isinstance(o, tuple):
            return tuple(go(x) for x in o)
        if isinstance(o, list):
            return [go(x) for x in o]
        return o

    private_folder(folder)
    return go(obj)

"""Large arrays reuse freed heap memory once the allocator is tuned (``personatwin.core.memory``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.paths import PROJECT

FAULTS = """
import json, resource, sys, threading
import numpy as np
from personatwin.core.memory import reuse_freed_memory
applied = reuse_freed_memory() if sys.argv[1] == "tuned" else False
a = np.ones(10_000_000)  # 80 MB: over glibc's default mmap threshold

def rounds():
    for _ in range(10):
        b = a * 3.0 + 1.0  # two 80 MB temporaries per round, freed at once
        del b

faults = {}
for where in ("main", "thread"):  # a worker thread allocates from its own arena unless tuned
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    if where == "main":
        rounds()
    else:
        t = threading.Thread(target=rounds)
        t.start()
        t.join()
    faults[where] = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"applied": applied, **faults}))
"""


def page_faults(mode: str, **env) -> dict:
    out = subprocess.run([sys.executable, "-c", FAULTS, mode], capture_output=True, text=True, check=True,
                         cwd=PROJECT, env={**os.environ, **env})
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator: Linux only")
def test_tuned_process_reuses_freed_large_arrays_instead_of_faulting_in_fresh_pages():
    plain, tuned = page_faults("plain"), page_faults("tuned")
    assert tuned["applied"]
    # untuned: every 80 MB temporary is fresh pages (20,000 of 4 kB, or 40 huge ones); tuned: reused
    for where in ("main", "thread"):
        assert plain[where] > 5 * tuned[where] + 300, (where, plain, tuned)


def test_opting_out_leaves_the_allocator_alone():
    assert page_faults("tuned", PERSONATWIN_MALLOC_TUNING="0")["applied"] is False


RETURNED = """
import json, sys
import numpy as np
from personatwin.core.memory import MMAP_FROM, reuse_freed_memory
reuse_freed_memory()

def anon_mb():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024

out = {}
for name, n in (("small", 10_000_000), ("large", 2 * MMAP_FROM // 8)):  # 80 MB; 512 MB: over MMAP_FROM
    before = anon_mb()
    a = np.ones(n)
    del a
    out[name] = anon_mb() - before  # what the process keeps of the freed block
print(json.dumps(out))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator: Linux only")
def test_blocks_over_the_mmap_threshold_go_back_to_the_system_when_freed():
    """A 100M-event release's columns (0.4-0.8 GB) are unmapped at free: a heap of them would keep GBs."""
    out = subprocess.run([sys.executable, "-c", RETURNED], capture_output=True, text=True, check=True, cwd=PROJECT)
    kept = json.loads(out.stdout.strip().splitlines()[-1])
    assert kept["small"] > 60, kept  # kept for reuse (the speed of a 1M-people release)
    assert kept["large"] < 20, kept  # returned

"""Where shards run: in this process one after another, or on a Dask distributed cluster.

A runner places each shard's data once (``put``) and runs a phase on every shard (``map``): a function of the
shard's data and of that shard's arguments, its results gathered in shard order. The release key never leaves
the coordinator: shards receive the generators of their buckets, already drawn from it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from personatwin.core.memory import spilled, spilled_tree

SCHEDULER_ENV = "PERSONATWIN_DASK_SCHEDULER"  # tls://host:8786; unset: a local cluster of worker processes
# TLS of a remote scheduler (the event rows travel to its workers): CA, client certificate and its key (PEM files)
WORKER_WAIT = 120  # seconds a release waits for a first worker of a remote cluster
TLS_ENV = ("PERSONATWIN_DASK_TLS_CA", "PERSONATWIN_DASK_TLS_CERT", "PERSONATWIN_DASK_TLS_KEY")


def connection_security(address: str):
    """How to reach a scheduler: None for this machine's loopback, TLS (certificates from ``TLS_ENV``) for any other
    host. Sharded stages send event rows to the workers, so a plain ``tcp://`` address off this machine is refused,
    as is ``tls://`` without the certificates, before anything connects."""
    import ipaddress

    scheme, sep, rest = address.partition("://")
    scheme = scheme.lower() if sep else "tcp"
    host = (rest if sep else address).rsplit(":", 1)[0].strip("[]")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if scheme == "tls":
        ca, cert, key = (os.environ.get(v, "") for v in TLS_ENV)
        if not (ca and cert):
            raise ValueError(f"{SCHEDULER_ENV} is a tls:// address: set {TLS_ENV[0]} (the CA) and {TLS_ENV[1]} (this "
                             f"client's certificate; {TLS_ENV[2]} its key unless in the same file)")
        from distributed import Security

        return Security(require_encryption=True, tls_ca_file=ca, tls_client_cert=cert, tls_client_key=key or None)
    if scheme in ("tcp", "inproc") and loopback:
        return None
    raise ValueError(f"{SCHEDULER_ENV}={scheme}://{host}:...: event rows would cross the network unencrypted; use a "
                     "tls:// address (with the certificates) for a scheduler on another host")


class Runner(Protocol):
    """Runs the phases of a sharded stage: data placed once, tasks on handles, results gathered when needed."""

    workers: int
    log: PhaseLog

    def put(self, shards: Iterable[Any]) -> list[Any]: ...

    def share(self, obj: Any) -> Any: ...

    def submit(self, phase: str, shard: int, fn: Callable[..., Any], *args: Any) -> Any: ...

    def gather(self, handles: Sequence[Any]) -> list[Any]: ...


@dataclass
class PhaseLog:
    """Seconds per phase (wall time at the coordinator) and per shard and phase (inside the task)."""

    phases: dict[str, float] = field(default_factory=dict)
    shards: dict[str, dict[int, float]] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.phases[name] = self.phases.get(name, 0.0) + seconds

    def add_shard(self, name: str, shard: int, seconds: float) -> None:
        per = self.shards.setdefault(name, {})
        per[shard] = per.get(shard, 0.0) + seconds

    def as_metadata(self) -> dict:
        """Per phase: the wall seconds and each shard's seconds (Dagster run metadata, benchmarks)."""
        out: dict[str, dict] = {name: {"seconds": round(sec, 3)} for name, sec in self.phases.items()}
        for name, per in self.shards.items():
            out.setdefault(name, {})["per_shard"] = {str(k): round(v, 3) for k, v in sorted(per.items())}
        return out


def _timed(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def _first(pair: tuple[Any, float]) -> Any:
    return pair[0]


def _second(pair: tuple[Any, float]) -> float:
    return pair[1]


class InProcess:
    """Shards in this process: one after another, or on ``threads`` threads (the phases are array work that mostly
    runs without the GIL: two threads use two cores). With ``spill`` (a folder) each shard's event arrays, and the
    arrays of every phase's results, are written there and read back memory-mapped, so the shards' events and
    states live on disk (out of core), paged in by the kernel while their shard runs: the memory a pass holds is
    the running shards' working sets beside the coordinator's people-level arrays."""

    def __init__(self, spill: str | Path | None = None, threads: int = 1) -> None:
        self.log = PhaseLog()
        self.spill = Path(spill) if spill is not None else None
        self.workers = max(1, int(threads))
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="shard") if self.workers > 1 else None
        self._lock = threading.Lock()

    def put(self, shards: Iterable[Any]) -> list[Any]:
        """The shards, taken one at a time (spilled: each written and mapped before the next is made)."""
        if self.spill is None:
            return list(shards)
        return [spilled(sh, self.spill / f"shard-{i:05d}") for i, sh in enumerate(shards)]

    def share(self, obj: Any) -> Any:
        return obj

    def _run(self, phase: str, shard: int, fn: Callable[..., Any], *args: Any) -> Any:
        # a task's arguments made by other tasks were submitted before it: with a FIFO pool they are done or
        # running, never queued behind it (no deadlock)
        out, seconds = _timed(fn, *(a.result() if isinstance(a, Future) else a for a in args))
        if self.spill is not None:
            out = spilled_tree(out, self.spill / "states")
        with self._lock:
            self.log.add_shard(phase, shard, seconds)
        return out

    def submit(self, phase: str, shard: int, fn: Callable[..., Any], *args: Any) -> Any:
        if self._pool is None:
            return self._run(phase, shard, fn, *args)
        return self._pool.submit(self._run, phase, shard, fn, *args)

    def gather(self, handles: Sequence[Any]) -> list[Any]:
        return [h.result() if isinstance(h, Future) else h for h in handles]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()


class DaskRunner:
    """Shards on a Dask distributed cluster: the scheduler at ``address`` (or ``PERSONATWIN_DASK_SCHEDULER``),
    else a local cluster of ``n_workers`` worker processes started here (and closed by ``close``). Each shard's
    data and intermediate results stay on its worker; only what the coordinator needs is gathered."""

    def __init__(self, address: str | None = None, n_workers: int = 2, threads_per_worker: int = 1) -> None:
        from distributed import Client, LocalCluster  # lazy: only sharded releases need Dask

        address = address or os.environ.get(SCHEDULER_ENV) or None
        self._cluster = None
        if address:
            security = connection_security(address)  # refused before connecting when the rows would go in clear
            self.client = Client(address, security=security) if security is not None else Client(address)
        else:
            self._cluster = LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker,
                                         processes=True, dashboard_address=None)
            self.client = Client(self._cluster)
        self.log = PhaseLog()
        self._times: list[tuple[str, int, Any]] = []
        self._seen_workers = 0

    def _worker_names(self) -> list[str]:
        names = sorted(self.client.scheduler_info(n_workers=-1).get("workers", {}))
        self._seen_workers = len(names)
        return names

    @property
    def workers(self) -> int:
        """Workers the scheduler has now (at least 1: shards wait for one in ``put``); once the runner is closed,
        those it had when last asked (its metadata is written after the step's cluster stopped)."""
        if self.client.status in ("closing", "closed"):
            return max(1, self._seen_workers)
        return max(1, len(self._worker_names()))

    def put(self, shards: Iterable[Any]) -> list[Any]:
        """Each shard's data to one worker, round robin, held there for every phase (waits up to
        ``WORKER_WAIT`` seconds for a first worker of a cluster still starting)."""
        names = self._worker_names()
        if not names:
            try:
                self.client.wait_for_workers(1, timeout=WORKER_WAIT)
            except TimeoutError:
                raise RuntimeError(f"the Dask scheduler has no worker after {WORKER_WAIT} s") from None
            names = self._worker_names()
        return [self.client.scatter(s, workers=[names[i % len(names)]]) for i, s in enumerate(shards)]

    def share(self, obj: Any) -> Any:
        """One object every shard reads (e.g. per-persona arrays), sent to each worker once."""
        return self.client.scatter(obj, broadcast=True)

    def submit(self, phase: str, shard: int, fn: Callable[..., Any], *args: Any) -> Any:
        pair = self.client.submit(_timed, fn, *args, pure=False)
        self._times.append((phase, shard, self.client.submit(_second, pair, pure=False)))
        return self.client.submit(_first, pair, pure=False)

    def gather(self, handles: Sequence[Any]) -> list[Any]:
        out = self.client.gather(list(handles))
        if self._times:
            seconds = self.client.gather([f for _, _, f in self._times])
            for (phase, shard, _), sec in zip(self._times, seconds):
                self.log.add_shard(phase, shard, sec)
            self._times = []
        return out

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()

    def __enter__(self) -> DaskRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Where a release's event-level stages run (``PERSONATWIN_SHARDS``): in the step's process as one piece (the
default), shard by shard in it (``sequential``), or on Dask distributed workers (``dask``: the scheduler at
``PERSONATWIN_DASK_SCHEDULER``, else a local cluster of ``PERSONATWIN_DASK_WORKERS`` processes for the step)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from personatwin.scale.runners import DaskRunner, InProcess, Runner

MODES = ("", "none", "sequential", "dask")


class ShardRunnerResource(dg.ConfigurableResource):
    """The runner of the sharded stages: the released files are the same whichever runs them."""

    mode: str = ""
    scheduler: str = ""  # tcp://host:8786 of a running Dask scheduler; empty: a local cluster per step
    workers: int = 2  # worker processes of that local cluster

    @contextmanager
    def runner(self) -> Iterator[Runner | None]:
        """The runner for one step (None: one piece in this process), closed at the end of the step."""
        mode = self.mode.strip().lower()
        if mode not in MODES:
            raise dg.Failure(description=f"PERSONATWIN_SHARDS must be empty, sequential or dask, got {self.mode!r}")
        if mode in ("", "none"):
            yield None
        elif mode == "sequential":
            yield InProcess()
        else:
            try:
                dask = DaskRunner(self.scheduler or None, n_workers=max(1, self.workers))
            except ValueError as exc:  # an address the rows must not travel to (plain tcp off this machine)
                raise dg.Failure(description=str(exc)) from None
            except OSError as exc:  # the scheduler is not reachable: say where, without a traceback
                raise dg.Failure(description=f"the Dask scheduler at {self.scheduler or '(local cluster)'} could "
                                             f"not be reached: {exc}") from None
            with dask:
                yield dask


def shard_metadata(runner: Runner | None) -> dict:
    """Per-shard progress and timings of a step's sharded stages, for its materialization metadata."""
    if runner is None:
        return {}
    return {"shards": dg.MetadataValue.json({"runner": type(runner).__name__, "workers": runner.workers,
                                             "phases": runner.log.as_metadata()})}

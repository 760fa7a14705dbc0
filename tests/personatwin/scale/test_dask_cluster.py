"""The sharded noise stage on a real Dask distributed cluster of two worker processes: the single-process result,
each shard's work timed on its worker, the scheduler address taken from configuration."""

from __future__ import annotations

import os

import numpy as np
import pytest

from personatwin.core.domains import get_domain
from personatwin.core.keys import ReleaseKey
from personatwin.core.policy import policy_for_level
from personatwin.ingest import synth
from personatwin.protect.prepared import PassContext, prepare
from personatwin.protect.stages import merge_stage, noise_stage
from personatwin.release.one_pass import protect
from personatwin.scale.noise import sharded_noise_stage
from personatwin.scale.runners import SCHEDULER_ENV, DaskRunner
from tests.personatwin.scale.test_sharded_noise import same_noise

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    """A local cluster of two worker processes (one thread each), as a scheduler a release connects to."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as c:
        yield c


@pytest.fixture(scope="module")
def ctx():
    s = synth.generate("healthcare", 6_000, seed=8)
    data = prepare(s.people, s.events, get_domain("healthcare"))
    return PassContext(data, policy_for_level("high"), ReleaseKey("dask-cluster-test-key-000000001"), "2024-05",
                       bucket_people=600)


def test_the_scheduler_address_comes_from_configuration(cluster, ctx, monkeypatch):
    monkeypatch.setenv(SCHEDULER_ENV, cluster.scheduler_address)
    with DaskRunner() as runner:
        assert runner.workers == 2 and runner._cluster is None  # connected, nothing started here
        pids = runner.client.run(os.getpid)
        assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()
        merged = merge_stage(ctx)
        same_noise(noise_stage(ctx, merged), sharded_noise_stage(ctx, merged, runner, n_shards=4))
        meta = runner.log.as_metadata()
        assert set(meta["draw"]["per_shard"]) == {"0", "1", "2", "3"}  # every shard's phase timed on its worker
        assert {"split", "draw + exchange", "parameters", "columns", "assemble"} <= set(meta)


def test_a_whole_pass_on_the_cluster_is_the_single_process_pass(cluster, ctx):
    with DaskRunner(cluster.scheduler_address) as runner:
        a = protect(ctx)
        from dataclasses import replace

        b = protect(replace(ctx, runner=runner))
    assert a.events.equals(b.events) and a.personas.equals(b.personas) and a.sensitive.equals(b.sensitive)
    assert a.figures() == b.figures()
    np.testing.assert_array_equal(a.person_persona, b.person_persona)


def test_a_local_cluster_starts_and_stops_with_the_runner(ctx):
    with DaskRunner(n_workers=2) as runner:
        assert runner.workers == 2 and runner._cluster is not None
        merged = merge_stage(ctx)
        same_noise(noise_stage(ctx, merged), sharded_noise_stage(ctx, merged, runner))
    assert runner.client.status == "closed"
    assert runner.workers == 2  # still answered once closed (a step writes its metadata after its cluster stops)


def test_a_plain_tcp_scheduler_off_this_machine_is_refused_before_connecting(monkeypatch):
    """Sharded stages send event rows to the workers: never unencrypted across a network."""
    with pytest.raises(ValueError, match="unencrypted; use a tls:// address"):
        DaskRunner("tcp://10.20.30.40:8786")
    monkeypatch.delenv("PERSONATWIN_DASK_TLS_CA", raising=False)
    with pytest.raises(ValueError, match="PERSONATWIN_DASK_TLS_CA"):
        DaskRunner("tls://scheduler.internal:8786")


def test_a_tls_scheduler_is_reached_with_the_configured_certificates(ctx, tmp_path, monkeypatch):
    """A cluster whose every connection is TLS (temporary certificates): the runner connects with the CA and client
    certificate files named by PERSONATWIN_DASK_TLS_*, and the release is the same."""
    pytest.importorskip("cryptography")
    security = distributed.Security.temporary()
    files = {}
    for name, pem in (("ca", security.tls_ca_file), ("cert", security.tls_client_cert),
                      ("key", security.tls_client_key)):
        files[name] = tmp_path / f"{name}.pem"
        files[name].write_text(pem)
    monkeypatch.setenv("PERSONATWIN_DASK_TLS_CA", str(files["ca"]))
    monkeypatch.setenv("PERSONATWIN_DASK_TLS_CERT", str(files["cert"]))
    monkeypatch.setenv("PERSONATWIN_DASK_TLS_KEY", str(files["key"]))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, protocol="tls://",
                                  security=security, dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tls://")
        with DaskRunner(cluster.scheduler_address) as runner:
            merged = merge_stage(ctx)
            same_noise(noise_stage(ctx, merged), sharded_noise_stage(ctx, merged, runner, n_shards=2))


def test_a_sharded_pass_keeps_the_events_on_the_workers(cluster, ctx, tmp_path):
    """The coordinator-lean pass (``personatwin.scale.release``) on the cluster: the single pass's table and
    figures, every shard's rows, attack cells and targets' events made on its worker."""
    from personatwin.scale.release import sharded_pass
    from tests.personatwin.scale.test_sharded_release import same_pass

    with DaskRunner(cluster.scheduler_address) as runner:
        got = sharded_pass(ctx, merge_stage(ctx), tmp_path, runner, n_shards=4)
        meta = runner.log.as_metadata()
    same_pass(protect(ctx), got)
    for phase in ("order", "rows", "targets", "cells"):
        assert set(meta[phase]["per_shard"]) == {"0", "1", "2", "3"}, phase

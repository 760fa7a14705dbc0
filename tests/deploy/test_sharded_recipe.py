"""The sharded-release recipe (``deploy/compose.sharded.yaml``): the code server reaches a Dask scheduler by TLS, the
scheduler and workers hold no volume, no release key and no route out; and the override's own scheduler and worker
commands, run here as processes with temporary certificates, form a TLS cluster a release runs on with the same
result."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.deploy.test_recipe import COMPOSE, DEPLOY, env_file, interpolate, load

SHARDED = DEPLOY / "compose.sharded.yaml"
DASK = ("dask-scheduler", "dask-worker")


@pytest.fixture(scope="module")
def sharded() -> dict:
    return interpolate(load(SHARDED), env_file(DEPLOY / "env.example"))


def test_the_code_server_reaches_the_scheduler_by_tls_with_the_clusters_certificates(sharded):
    code = sharded["services"]["code"]
    env = code["environment"]
    assert env["PERSONATWIN_SHARDS"] == "dask"
    assert env["PERSONATWIN_DASK_SCHEDULER"] == "tls://dask-scheduler:8786"
    for var, secret in (("PERSONATWIN_DASK_TLS_CA", "dask_ca"), ("PERSONATWIN_DASK_TLS_CERT", "dask_cert"),
                        ("PERSONATWIN_DASK_TLS_KEY", "dask_key")):
        assert env[var] == f"/run/secrets/{secret}" and secret in code["secrets"]
    base = load(COMPOSE)["services"]["code"]
    assert set(base["secrets"]) <= set(code["secrets"])  # the override's list replaces the base's: nothing dropped


def test_the_scheduler_and_workers_hold_no_volume_no_key_and_no_route_out(sharded):
    networks = load(COMPOSE)["networks"]
    for name in DASK:
        service = sharded["services"][name]
        assert "volumes" not in service and "ports" not in service
        assert "release_key" not in service["secrets"] and "pg_password" not in service["secrets"]
        assert service["networks"] == ["backend"] and networks["backend"]["internal"] is True
        argv = service["command"]
        assert "--no-dashboard" in argv
        for flag, secret in (("--tls-ca-file", "dask_ca"), ("--tls-cert", "dask_cert"), ("--tls-key", "dask_key")):
            assert argv[argv.index(flag) + 1] == f"/run/secrets/{secret}"
    assert sharded["services"]["dask-worker"]["command"][2] == "tls://dask-scheduler:8786"
    assert sharded["services"]["dask-scheduler"]["command"][1:4] == ["scheduler", "--protocol", "tls"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _here(argv: list[str], secrets: Path, port: int) -> list[str]:
    """A compose command as a local process: secrets from a folder, the scheduler on a free loopback port."""
    dask = shutil.which("dask", path=str(Path(sys.executable).parent)) or "dask"
    out = [dask if a == "dask" else a.replace("/run/secrets/", f"{secrets}/")
           .replace("tls://dask-scheduler:8786", f"tls://127.0.0.1:{port}") for a in argv]
    if "scheduler" in argv:
        out[out.index("--port") + 1] = str(port)
        out += ["--host", "127.0.0.1"]
    return out


def test_the_overrides_commands_form_a_tls_cluster_a_release_runs_on(sharded, tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    pytest.importorskip("cryptography")
    from personatwin.core.domains import get_domain
    from personatwin.core.keys import ReleaseKey
    from personatwin.core.policy import policy_for_level
    from personatwin.ingest import synth
    from personatwin.protect.prepared import PassContext, prepare
    from personatwin.protect.stages import merge_stage, noise_stage
    from personatwin.scale.noise import sharded_noise_stage
    from personatwin.scale.runners import DaskRunner
    from tests.personatwin.scale.test_sharded_noise import same_noise

    security = distributed.Security.temporary()  # one CA and one certificate, as the recipe asks for
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name, pem in (("dask_ca", security.tls_ca_file), ("dask_cert", security.tls_client_cert),
                      ("dask_key", security.tls_client_key)):
        (secrets / name).write_text(pem)
    port = _free_port()
    procs = []
    try:
        procs.append(subprocess.Popen(_here(sharded["services"]["dask-scheduler"]["command"], secrets, port),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(2)
        for _ in range(2):
            procs.append(subprocess.Popen(_here(sharded["services"]["dask-worker"]["command"], secrets, port),
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        env = sharded["services"]["code"]["environment"]
        for var in ("PERSONATWIN_DASK_TLS_CA", "PERSONATWIN_DASK_TLS_CERT", "PERSONATWIN_DASK_TLS_KEY"):
            monkeypatch.setenv(var, env[var].replace("/run/secrets/", f"{secrets}/"))
        address = env["PERSONATWIN_DASK_SCHEDULER"].replace("dask-scheduler:8786", f"127.0.0.1:{port}")
        with DaskRunner(address) as runner:
            runner.client.wait_for_workers(2, timeout=60)
            s = synth.generate("criminal_justice", 3_000, seed=5)
            ctx = PassContext(prepare(s.people, s.events, get_domain("criminal_justice")), policy_for_level("high"),
                              ReleaseKey("sharded-recipe-test-key-00000001"), "2024-06", bucket_people=400)
            merged = merge_stage(ctx)
            same_noise(noise_stage(ctx, merged), sharded_noise_stage(ctx, merged, runner, n_shards=2))
        monkeypatch.delenv("PERSONATWIN_DASK_TLS_CA")
        with pytest.raises(ValueError, match="PERSONATWIN_DASK_TLS_CA"):
            DaskRunner(address)  # without the CA the runner does not even try
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()

"""The deployment recipe (``deploy/``; README, "Production deployment") holds together, checked without Docker: the
compose file's four services, the prod settings the code location requires, the release key only ever from a secret,
which volume is public and where the sensitive ones are mounted, the Helm values naming the same code location and the
run limits of ``deploy/dagster.yaml``, the workspace and the image. With a Docker daemon and the compose plugin,
``docker compose config`` must accept the file too."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path, PurePosixPath

import pytest
import yaml

from personatwin_dag.constants import (
    ENV_ASSET_STORE,
    ENV_DOMAIN,
    ENV_INTERNAL,
    ENV_LEVEL,
    ENV_NAME,
    ENV_RELEASES,
    ENV_SOURCE,
)
from personatwin_dag.environments import governance_for, resources_for
from tests.paths import PROJECT

DEPLOY = PROJECT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
KEY = "PERSONATWIN_RELEASE_KEY"
SERVICES = {"postgres", "code", "webserver", "daemon"}
# what personatwin_dag/environments.py requires in prod, and the volume each path must be on
PROD_REQUIRED = (ENV_SOURCE, ENV_RELEASES, ENV_ASSET_STORE, ENV_DOMAIN, ENV_LEVEL, ENV_INTERNAL)
PATH_VOLUMES = {ENV_SOURCE: "source", ENV_RELEASES: "releases", ENV_INTERNAL: "internal", ENV_ASSET_STORE: "assets"}
SENSITIVE = ("internal", "assets", "source", "issued", "pgdata", "dagster-storage")
SECRET_ASSIGNMENT = re.compile(r"\b(PERSONATWIN_RELEASE_KEY|DAGSTER_PG_PASSWORD|POSTGRES_PASSWORD)\b\s*[:=]\s*(\S+)")
_VAR = re.compile(r"\$(?:\$|\{(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})")


def load(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


def interpolate(value, env: dict[str, str]):
    """Compose's variable interpolation (``${V}``, ``${V:-default}``, ``${V-default}``, ``${V:?error}``, ``$$``)."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group("name"), m.group("op"), m.group("arg")
        current = env.get(name)
        if op in (":?", "?") and (current is None or (op == ":?" and current == "")):
            raise KeyError(f"{name} is required: {arg}")
        if op in (":-", "-") and (current is None or (op == ":-" and current == "")):
            return arg
        return current or ""

    return _VAR.sub(sub, value)


def mounts(service: dict) -> list[tuple[str, str, bool]]:
    """(source, target, read-only) of a service's volumes, short or long syntax."""
    out = []
    for v in service.get("volumes", []):
        if isinstance(v, str):
            parts = v.split(":")
            out.append((parts[0], parts[1], len(parts) > 2 and "ro" in parts[2].split(",")))
        else:
            out.append((v["source"], v["target"], bool(v.get("read_only"))))
    return out


def inside(path: str, root: str) -> bool:
    p, r = PurePosixPath(path), PurePosixPath(root)
    return p == r or r in p.parents


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of deploy/Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", "\n".join(line for line in (DEPLOY / "Dockerfile").read_text().splitlines()
                                           if not line.lstrip().startswith("#")))
    return [(ins.upper(), rest.strip()) for ins, _, rest in (line.strip().partition(" ") for line in text.splitlines())
            if ins]


def dockerfile_env() -> dict[str, str]:
    """The image's ENV settings."""
    pairs = [pair.split("=", 1) for ins, args in dockerfile() if ins == "ENV" for pair in shlex.split(args)]
    return dict(pairs)


@pytest.fixture(scope="module")
def compose() -> dict:
    return interpolate(load(COMPOSE), env_file(DEPLOY / "env.example"))


@pytest.fixture(scope="module")
def helm() -> dict:
    return load(DEPLOY / "helm" / "values.yaml")


@pytest.fixture(scope="module")
def deployment(helm) -> dict:
    [deployment] = helm["dagster-user-deployments"]["deployments"]
    return deployment


def test_the_compose_file_runs_postgres_the_code_server_the_webserver_and_the_daemon(compose):
    services = compose["services"]
    assert {name for name, s in services.items() if not s.get("profiles")} == SERVICES
    assert services["postgres"]["image"].startswith("postgres:15") and "healthcheck" in services["postgres"]
    assert services["code"]["command"][:3] == ["dagster", "api", "grpc"]
    assert services["webserver"]["command"][0] == "dagster-webserver"
    assert services["daemon"]["command"][:2] == ["dagster-daemon", "run"]
    for name in ("code", "webserver", "daemon"):  # one image for the three
        assert services[name]["image"] == services["code"]["image"]
        assert services[name]["environment"]["DAGSTER_PG_HOST"] == "postgres"
    assert set(re.findall(r"\$\{(\w+):\?", COMPOSE.read_text())) <= set(env_file(DEPLOY / "env.example"))


@pytest.mark.parametrize("settings", ["env.example", "required only"])
def test_the_code_service_sets_every_setting_the_prod_environment_requires(monkeypatch, settings):
    example = env_file(DEPLOY / "env.example")
    given = example if settings == "env.example" else {ENV_DOMAIN: example[ENV_DOMAIN], ENV_LEVEL: example[ENV_LEVEL]}
    env = interpolate(load(COMPOSE), given)["services"]["code"]["environment"]
    assert env[ENV_NAME] == "prod" and all(env.get(name) for name in PROD_REQUIRED)
    for name in [n for n in os.environ if n.startswith("PERSONATWIN_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    resources_for("prod")  # the code location loads with exactly these settings
    governance_for("prod")
    for name in PROD_REQUIRED:  # ... and each of them is one it cannot do without
        monkeypatch.delenv(name)
        with pytest.raises(RuntimeError, match=name):
            resources_for("prod")
        monkeypatch.setenv(name, str(env[name]))


def test_the_release_key_comes_only_from_a_secret(compose, helm, deployment):
    services = compose["services"]
    for name, service in services.items():
        assert KEY not in service.get("environment", {}) and "DAGSTER_PG_PASSWORD" not in service.get("environment", {})
        assert "env_file" not in service, f"{name}: deploy/.env is for compose's interpolation, never a service's"
        assert ("release_key" in service.get("secrets", [])) == (name == "code"), f"{name}: only code gets the key"
    for secret in compose["secrets"].values():
        assert set(secret) == {"file"} and Path(secret["file"]).parent == Path("./secrets")
    assert KEY not in deployment["env"] and "DAGSTER_PG_PASSWORD" not in deployment["env"]
    launcher = helm["runLauncher"]["config"]["k8sRunLauncher"]
    assert deployment["envSecrets"] == launcher["envSecrets"] == [{"name": "personatwin-release-key"}]
    assert helm["generatePostgresqlPasswordSecret"] is False and helm["postgresql"]["postgresqlPassword"] == ""
    for path in sorted(p for p in DEPLOY.rglob("*") if p.is_file()):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.lstrip().startswith("#"):
                continue
            for name, value in SECRET_ASSIGNMENT.findall(line):
                assert value.lstrip("\"'").startswith("$"), f"{path.name}: {name} given as a literal"
            assert not re.search(r"\b[0-9a-fA-F]{32,}\b", line), f"{path.name}: a key-like hex string"
    for ins, args in dockerfile():
        assert KEY not in args and "secrets" not in args and ".personatwin" not in args, f"{ins} {args}"
    if shutil.which("git") and (PROJECT / ".git").exists():
        ignored = subprocess.run(["git", "check-ignore", "deploy/secrets/release_key", "deploy/secrets/pg_password",
                                  "deploy/.env"], cwd=PROJECT, capture_output=True, text=True)
        assert len(ignored.stdout.split()) == 3, "deploy/secrets/ and deploy/.env must be git-ignored"


def test_only_the_releases_volume_is_public_and_nothing_sensitive_is_mounted_under_it(compose):
    services, env = compose["services"], compose["services"]["code"]["environment"]
    assert set(PATH_VOLUMES.values()) | set(SENSITIVE) | {"releases"} <= set(compose["volumes"])
    code = {target: (source, ro) for source, target, ro in mounts(services["code"])}
    for name, volume in PATH_VOLUMES.items():  # every path the code location uses is a volume, the source read-only
        assert code[env[name]] == (volume, name == ENV_SOURCE), name
    assert code[str(PurePosixPath(env[ENV_RELEASES]).parent / "issued")] == ("issued", False)  # personatwin-issue
    releases = env[ENV_RELEASES]
    for name, service in services.items():
        for source, target, ro in mounts(service):
            if source in SENSITIVE:
                assert not inside(target, releases) and not inside(releases, target), f"{name}: {source} at {target}"
            if source in ("internal", "assets", "source", "issued"):
                assert name == "code", f"{name} mounts {source}"
            if source == "releases" and name != "code":
                assert ro, f"{name} mounts the releases read-write"
    assert mounts(services["daemon"]) == []  # the instance database only
    assert [s for s, _, _ in mounts(services["webserver"])] == ["dagster-storage"]  # + the runs' compute logs
    public = services.get("public")
    if public:  # the optional public web server: the releases, read-only, and nothing else of the deployment
        assert public["profiles"] and "backend" not in public["networks"]
        assert [(s, ro) for s, _, ro in mounts(public) if not s.startswith("./")] == [("releases", True)]
    assert compose["networks"]["backend"]["internal"] is True
    assert services["code"]["networks"] == ["backend"]  # the data's service has no route out


def test_the_workspace_points_at_the_code_servers_port(compose, deployment):
    [entry] = load(DEPLOY / "workspace.yaml")["load_from"]
    server, command = entry["grpc_server"], compose["services"]["code"]["command"]
    assert server["host"] == "code" and server["host"] in compose["services"]
    assert server["port"] == int(flag(command, "-p")) == deployment["port"]
    assert server["location_name"] == flag(command, "--location-name") == deployment["name"]
    for name in ("webserver", "daemon"):
        assert flag(compose["services"][name]["command"], "-w") == "/opt/dagster/app/deploy/workspace.yaml"
    assert ("COPY", "deploy/workspace.yaml /opt/dagster/app/deploy/workspace.yaml") in dockerfile()


def test_the_helm_values_name_the_same_code_location_volumes_and_settings(compose, helm, deployment):
    module = tomllib.loads((PROJECT / "pyproject.toml").read_text())["tool"]["dagster"]["module_name"]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", module] == ["-m", flag(compose["services"]["code"]["command"],
                                                                                  "-m")]
    env = deployment["env"]
    assert env[ENV_NAME] == "prod" and all(env.get(name) for name in PROD_REQUIRED)
    mounts_by_path = {m["mountPath"]: m for m in deployment["volumeMounts"]}
    claims = {v["name"]: v["persistentVolumeClaim"] for v in deployment["volumes"]}
    for name, volume in PATH_VOLUMES.items():
        mount = mounts_by_path[env[name]]
        assert mount["name"] == volume and bool(mount.get("readOnly")) == (name == ENV_SOURCE), name
        assert bool(claims[volume].get("readOnly")) == (name == ENV_SOURCE)
    for m in deployment["volumeMounts"]:
        if m["name"] != "releases":
            assert not inside(m["mountPath"], env[ENV_RELEASES]) and not inside(env[ENV_RELEASES], m["mountPath"])
    launcher = helm["runLauncher"]["config"]["k8sRunLauncher"]
    assert helm["runLauncher"]["type"] == "K8sRunLauncher"
    assert launcher["volumes"] == deployment["volumes"] and launcher["volumeMounts"] == deployment["volumeMounts"]
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True  # the env goes to the runs' pods too
    home = helm["global"]["dagsterHome"]  # the chart's instance; the image must let the run user write there
    assert any(ins == "RUN" and home in args and "chown" in args for ins, args in dockerfile()), home


def test_the_run_queue_has_deploy_dagster_yamls_limits_scaled_to_16_cores(helm):
    instance = load(DEPLOY / "dagster.yaml")
    runs = instance["concurrency"]["runs"]
    queued = helm["dagsterDaemon"]["runCoordinator"]
    assert queued["enabled"] is True and queued["type"] == "QueuedRunCoordinator"
    assert instance["run_coordinator"]["class"] == "QueuedRunCoordinator"
    config = queued["config"]["queuedRunCoordinator"]
    assert (runs["max_concurrent_runs"], config["maxConcurrentRuns"]) == (2, 8)

    def limits(items):
        return {(t["key"], yaml.safe_dump(t.get("value"))): t["limit"] for t in items}

    two, sixteen = limits(runs["tag_concurrency_limits"]), limits(config["tagConcurrencyLimits"])
    per_value = ("dagster/partition", yaml.safe_dump({"applyLimitPerUniqueValue": True}))
    backfill = ("dagster/backfill", yaml.safe_dump(None))
    assert two == {per_value: 1, backfill: 2} and sixteen == {per_value: 1, backfill: 6}
    assert helm["postgresql"]["enabled"] is False
    assert helm["postgresql"]["postgresqlScheme"] == instance["storage"]["postgres"]["postgres_db"]["scheme"]
    assert helm["telemetry"]["enabled"] is False and instance["telemetry"]["enabled"] is False


def test_the_image_carries_the_instance_config_in_dagster_home_and_runs_as_a_user():
    steps, env = dockerfile(), dockerfile_env()
    home = env["DAGSTER_HOME"]
    copies = [args.split() for ins, args in steps if ins == "COPY"]
    assert ["deploy/dagster.yaml", f"{home}/dagster.yaml"] in copies
    assert ["--chmod=0755", "deploy/entrypoint.sh", "/usr/local/bin/personatwin-entrypoint"] in copies
    assert steps[-1][0] == "CMD" and "personatwin_dag.definitions" in steps[-1][1]
    assert ("ENTRYPOINT", '["personatwin-entrypoint"]') in steps
    assert ("ARG", "PYTHON_IMAGE=python:3.11-slim") in steps
    users = [args for ins, args in steps if ins == "USER"]
    assert users and users[-1] not in ("root", "0")
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert "*" in ignore and "!.personatwin" not in ignore


def test_the_entrypoint_turns_secret_files_into_variables_and_keeps_variables_already_set(tmp_path):
    (tmp_path / "key").write_text("k" * 20 + "\n")
    (tmp_path / "pg").write_text("pg-secret")
    run = {"PATH": os.environ["PATH"], "PERSONATWIN_RELEASE_KEY_FILE": str(tmp_path / "key"),
           "DAGSTER_PG_PASSWORD_FILE": str(tmp_path / "pg")}
    show = ["sh", str(DEPLOY / "entrypoint.sh"), "sh", "-c", 'printf "%s|%s" "$PERSONATWIN_RELEASE_KEY" '
                                                               '"$DAGSTER_PG_PASSWORD"']
    assert subprocess.run(show, env=run, capture_output=True, text=True, check=True).stdout == "k" * 20 + "|pg-secret"
    preset = subprocess.run(show, env={**run, KEY: "p" * 16}, capture_output=True, text=True, check=True).stdout
    assert preset == "p" * 16 + "|pg-secret"
    missing = {"PATH": os.environ["PATH"], "PERSONATWIN_RELEASE_KEY_FILE": str(tmp_path / "none")}
    assert subprocess.run(show, env=missing, capture_output=True, text=True, check=True).stdout == "|"


def test_docker_compose_accepts_the_file(tmp_path):
    docker = shutil.which("docker")
    if not docker:
        pytest.skip("docker is not installed")
    try:
        if subprocess.run([docker, "info"], capture_output=True, timeout=15).returncode != 0:
            pytest.skip("the Docker daemon does not answer (docker info)")
        if subprocess.run([docker, "compose", "version"], capture_output=True, timeout=15).returncode != 0:
            pytest.skip("the Docker Compose v2 plugin is not installed")
    except subprocess.TimeoutExpired:
        pytest.skip("docker does not answer")
    for name in ("release_key", "pg_password"):
        (tmp_path / name).write_text("placeholder-for-the-config-check")
    env = {**os.environ, **env_file(DEPLOY / "env.example"), "PERSONATWIN_SECRETS_DIR": str(tmp_path)}
    out = subprocess.run([docker, "compose", "-f", str(COMPOSE), "config", "--quiet"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr

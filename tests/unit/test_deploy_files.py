"""The deployment files agree with the code they run.

Compose files, Kubernetes manifests and the Dockerfile name settings, CLI commands, routes and
queues of the package; a rename on either side must fail here, not in production.
"""

from __future__ import annotations

import json
import posixpath
import re
import secrets
import shlex
from fnmatch import fnmatch
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from videofoundry.cli import app as cli_app
from videofoundry.core.config import Settings
from videofoundry.main import create_app
from videofoundry.queue.base import SEGMENTS

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
DEV_COMPOSE = DEPLOY / "docker-compose.yml"
PROD_COMPOSE = DEPLOY / "docker-compose.prod.yml"
COMPOSE_FILES = [DEV_COMPOSE, PROD_COMPOSE]
K8S = DEPLOY / "kubernetes"
SETTINGS = set(Settings.model_fields)
IMAGE = "videofoundry"  # the image name the Kubernetes manifests use (set by kustomize)

Doc = dict[str, Any]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings built here see only the files' values, not this machine's environment."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)


def make_settings(values: dict[str, str]) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


# Compose ------------------------------------------------------------------------------------


@cache
def compose(path: Path) -> Doc:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict)
    assert doc.get("services"), f"{path.name} defines no services"
    return doc


def services(path: Path) -> dict[str, Doc]:
    return compose(path)["services"]  # type: ignore[no-any-return]


def is_ours(service: Doc) -> bool:
    """Services built from deploy/Dockerfile run the videofoundry CLI."""
    build = service.get("build")
    return isinstance(build, dict) and build.get("dockerfile") == "deploy/Dockerfile"


def ours(path: Path) -> dict[str, Doc]:
    found = {name: s for name, s in services(path).items() if is_ours(s)}
    assert found, f"{path.name} runs no videofoundry service"
    return found


def environment(service: Doc) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


_VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?::([-?])([^}]*))?\}")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR:?error}` and `$$`."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, operator, argument = match.groups()
        value = env.get(name, "")
        if not value and operator == "-":
            return argument  # type: ignore[no-any-return]
        if not value and operator == "?":
            raise LookupError(f"{name}: {argument}")
        return value

    return _VARIABLE.sub(replace, text)


def settings_of(service: Doc, host_env: dict[str, str]) -> Settings:
    return make_settings({k: interpolate(v, host_env) for k, v in environment(service).items()})


def command(value: str | list[str]) -> tuple[str, ...]:
    return tuple(shlex.split(value) if isinstance(value, str) else value)


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_every_compose_service_has_an_image_that_can_be_had(path: Path) -> None:
    for name, service in services(path).items():
        assert service.get("image") or service.get("build"), f"{name}: no image and no build"
        build = service.get("build")
        if build is not None:
            context = (path.parent / build["context"]).resolve()
            assert (context / build["dockerfile"]).is_file(), f"{name}: no Dockerfile"
        else:
            repository, _, tag = service["image"].rpartition(":")
            assert repository and tag and tag != "latest", f"{name}: pin {service['image']}"


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_sets_only_real_settings(path: Path) -> None:
    for name, service in ours(path).items():
        unknown = set(environment(service)) - SETTINGS
        assert not unknown, f"{path.name}:{name} sets {unknown}, not fields of Settings"


def test_dev_compose_is_the_embedded_run() -> None:
    (service,) = ours(DEV_COMPOSE).values()
    host_env = {"SECRET_KEY": secrets.token_hex(32)}
    assert command(service["command"])[0] == "up"
    assert settings_of(service, host_env).embedded
    mounts = [volume.split(":")[1] for volume in service["volumes"]]
    assert str(settings_of(service, host_env).DATA_DIR) in mounts, "DATA_DIR is not on a volume"
    # It publishes the port on every interface: no start without a key of the host's own.
    with pytest.raises(LookupError, match="SECRET_KEY"):
        settings_of(service, {})


def test_prod_compose_is_a_valid_production_configuration() -> None:
    host_env = {"SECRET_KEY": secrets.token_hex(32)}
    for name, service in ours(PROD_COMPOSE).items():
        settings = settings_of(service, host_env)
        assert settings.ENVIRONMENT == "production", name
        assert not settings.embedded, name
        assert settings.database_url.startswith("postgresql+asyncpg://"), name
        assert settings.REDIS_URL and settings.S3_BUCKET and settings.S3_ENDPOINT_URL, name
        assert settings.LOG_JSON, name
        for key in ("RUNWAY_API_KEY", "LUMA_API_KEY", "REPLICATE_API_TOKEN", "STABILITY_API_KEY"):
            assert environment(service)[key] == f"${{{key}:-}}", f"{name}: pass {key} through"
        with pytest.raises(LookupError, match="SECRET_KEY"):
            settings_of(service, {})


def test_prod_compose_runs_each_process() -> None:
    commands = {name: command(s["command"])[:2] for name, s in ours(PROD_COMPOSE).items()}
    assert commands["migrate"] == ("db", "upgrade")
    assert commands["api"][0] == "api"
    assert commands["worker-ai"] == ("worker", "ai")
    assert commands["worker-composition"] == ("worker", "composition")
    prod = services(PROD_COMPOSE)
    assert prod["api"]["deploy"]["replicas"] >= 2
    assert prod["worker-ai"]["deploy"]["replicas"] >= 2
    for name in ("api", "worker-ai", "worker-composition"):
        assert prod[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def has_healthcheck(service: Doc) -> bool:
    check = service.get("healthcheck")
    if check is None:  # inherited from the image
        return is_ours(service) and any(" CMD " in f" {h} " for h in instruction("HEALTHCHECK"))
    return bool(check.get("test")) and not check.get("disable", False)


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_depends_on_conditions_can_be_met(path: Path) -> None:
    all_services = services(path)
    for name, service in all_services.items():
        depends = service.get("depends_on") or {}
        if isinstance(depends, list):
            depends = {target: {"condition": "service_started"} for target in depends}
        for target, spec in depends.items():
            assert target in all_services, f"{name} depends on unknown {target}"
            other = all_services[target]
            condition = spec["condition"]
            if condition == "service_healthy":
                assert has_healthcheck(other), f"{name} waits for {target}'s health check"
            elif condition == "service_completed_successfully":
                assert other.get("restart") == "no", f"{target} is waited for but restarts"
            else:
                assert condition == "service_started", condition


# Kubernetes ---------------------------------------------------------------------------------


@cache
def manifests() -> tuple[Doc, ...]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append({**doc, "_file": path.name})
    return tuple(docs)


def of_kind(kind: str) -> dict[str, Doc]:
    found = {d["metadata"]["name"]: d for d in manifests() if d["kind"] == kind}
    assert found, f"no {kind} in deploy/kubernetes"
    return found


def pod_specs() -> dict[str, Doc]:
    workloads = {**of_kind("Deployment"), **of_kind("Job")}
    assert {"api", "worker-ai", "worker-composition"} <= set(workloads)
    return {name: d["spec"]["template"]["spec"] for name, d in workloads.items()}


def k8s_values() -> dict[str, str]:
    (config,) = of_kind("ConfigMap").values()
    secret = of_kind("Secret")["videofoundry"]  # the application's; KEDA has its own
    return {**config["data"], **secret["stringData"]}


def test_kubernetes_manifests_are_well_formed() -> None:
    (namespace,) = of_kind("Namespace")
    for doc in manifests():
        if doc["kind"] == "Kustomization":
            continue
        assert doc["apiVersion"] and doc["metadata"]["name"], doc["_file"]
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == namespace, doc["_file"]
        if doc["kind"] == "Deployment":
            selector = doc["spec"]["selector"]["matchLabels"].items()
            assert selector <= doc["spec"]["template"]["metadata"]["labels"].items(), doc["_file"]


def test_kustomization_applies_every_manifest_but_the_secret_template() -> None:
    (kustomization,) = [d for d in manifests() if d["kind"] == "Kustomization"]
    listed = set(kustomization["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present - {"secret.example.yaml", "keda-secret.example.yaml"}
    assert [image["name"] for image in kustomization["images"]] == [IMAGE]


def test_kubernetes_env_comes_from_real_settings() -> None:
    assert set(k8s_values()) <= SETTINGS
    sources = {"configMapRef": set(of_kind("ConfigMap")), "secretRef": set(of_kind("Secret"))}
    for name, spec in pod_specs().items():
        for container in spec["containers"]:
            assert container["image"] == IMAGE, name
            assert {e["name"] for e in container.get("env", [])} <= SETTINGS, name
            refs = container["envFrom"]
            assert {next(iter(ref)) for ref in refs} == set(sources), f"{name}: env sources"
            for ref in refs:
                ((kind, target),) = ref.items()
                assert target["name"] in sources[kind], f"{name}: no {kind} {target['name']}"


def test_kubernetes_settings_are_valid_once_the_secret_key_is_real() -> None:
    values = k8s_values()
    with pytest.raises(ValueError, match="SECRET_KEY"):
        make_settings(values)
    settings = make_settings({**values, "SECRET_KEY": secrets.token_hex(32)})
    assert settings.ENVIRONMENT == "production"
    assert not settings.embedded
    assert settings.database_url.startswith("postgresql+asyncpg://")


def test_api_service_reaches_the_api_pods() -> None:
    service = of_kind("Service")["api"]
    pod = of_kind("Deployment")["api"]["spec"]["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for port in service["spec"]["ports"]:
        target = port["targetPort"]
        assert target in ports or target in ports.values()
    assert str(ports["http"]) == container["args"][container["args"].index("--port") + 1]


def test_keda_scales_the_ai_worker_on_the_segments_queue() -> None:
    (scaled,) = of_kind("ScaledObject").values()
    target = of_kind("Deployment")[scaled["spec"]["scaleTargetRef"]["name"]]
    (container,) = target["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["worker", "ai"]
    assert "replicas" not in target["spec"], "KEDA owns the replica count"
    assert 0 <= scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"]

    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "rabbitmq"
    metadata = trigger["metadata"]
    assert metadata["mode"] == "QueueLength"
    assert metadata["queueName"] == k8s_values().get("QUEUE_PREFIX", "") + SEGMENTS
    # Tasks held by busy workers count (bench/scaleout: over AMQP the depth KEDA sees is near
    # zero while every worker is busy), one replica per AI_WORKER_CONCURRENCY of them.
    assert metadata["protocol"] == "http"
    assert metadata.get("excludeUnacknowledged", "false") == "false"
    assert metadata["value"] == k8s_values()["AI_WORKER_CONCURRENCY"]

    auth = of_kind("TriggerAuthentication")[trigger["authenticationRef"]["name"]]
    (ref,) = auth["spec"]["secretTargetRef"]
    assert ref["parameter"] == "host"
    secret = of_kind("Secret")[ref["name"]]
    assert secret["_file"].endswith(".example.yaml"), "a template, not applied by kustomize"
    assert secret["stringData"][ref["key"]].startswith("http://")


# Dockerfile ---------------------------------------------------------------------------------


@cache
def dockerfile_instructions() -> tuple[str, ...]:
    """One string per instruction, continuation lines joined, comments dropped."""
    text = DOCKERFILE.read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    return tuple(" ".join(line.split()) for line in joined.splitlines() if line.strip())


def instruction(name: str) -> list[str]:
    return [i[len(name) + 1 :] for i in dockerfile_instructions() if i.startswith(name + " ")]


def test_dockerfile_builds_the_web_ui_then_a_non_root_python_image() -> None:
    stages = instruction("FROM")
    assert stages[0].startswith("node:20") and stages[-1].startswith("python:3.11-slim")
    assert any("npm ci" in run for run in instruction("RUN"))
    assert any("npm run build" in run for run in instruction("RUN"))
    user = instruction("USER")[-1].split(":")[0]
    assert user not in {"root", "0"}
    pyproject = (ROOT / "pyproject.toml").read_text()
    (entrypoint,) = (json.loads(e) for e in instruction("ENTRYPOINT"))
    assert entrypoint == ["videofoundry"]
    assert re.search(r'^videofoundry = "videofoundry\.cli:app"$', pyproject, re.M)
    assert instruction("STOPSIGNAL") == ["SIGINT"], "workers shut down gracefully on SIGINT"


def test_dockerfile_copies_the_vite_output() -> None:
    vite = (ROOT / "frontend" / "vite.config.ts").read_text()
    out_dir = re.search(r'new URL\("([^"]+)", import\.meta\.url\)', vite)
    assert out_dir, "vite.config.ts no longer sets outDir as expected"
    instructions = dockerfile_instructions()
    stages = [n for n, i in enumerate(instructions) if i.startswith("FROM ")]
    node_stage = instructions[stages[0] : stages[1]]
    assert node_stage[0].endswith(" AS web")
    workdir = [i.split()[1] for i in node_stage if i.startswith("WORKDIR ")][-1]
    built = posixpath.normpath(posixpath.join(workdir, out_dir.group(1)))
    copies = [c.split() for c in instruction("COPY") if c.startswith("--from=web ")]
    assert [(c[1], c[2]) for c in copies] == [(built, "./src/videofoundry/web")]


def ignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` (or a directory above it) out of the context."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for pattern in patterns:
        negated, pattern = pattern.startswith("!"), pattern.lstrip("!")
        bare = pattern.removeprefix("**/")
        for candidate in candidates:
            if fnmatch(candidate, pattern) or (
                bare != pattern and (fnmatch(candidate, bare) or fnmatch(candidate, "*/" + bare))
            ):
                result = not negated
    return result


def test_dockerignore_keeps_the_context_small_but_complete() -> None:
    for path in (".venv/bin/python", "frontend/node_modules/x", ".git/HEAD", "var/v.db"):
        assert ignored(path), path
    for path in ("src/videofoundry/web/__init__.py", "src/videofoundry/cli.py"):
        assert not ignored(path), path
    readme = re.search(r'^readme = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert readme
    sources: list[str] = []
    for copy in instruction("COPY"):
        if not copy.startswith("--from="):
            sources += copy.split()[:-1]
    assert readme.group(1) in sources, "hatchling needs the readme to build the wheel"
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not ignored(source.rstrip("/")), f"{source} is excluded by .dockerignore"


# What the files run -------------------------------------------------------------------------


def cli_commands() -> set[tuple[str, ...]]:
    found = {tuple(json.loads(instruction("CMD")[-1]))}
    for path in COMPOSE_FILES:
        found |= {command(s["command"]) for s in ours(path).values() if "command" in s}
    for spec in pod_specs().values():
        found |= {tuple(c["args"]) for c in spec["containers"] if c["image"] == IMAGE}
    return found


def test_every_process_kind_is_deployed() -> None:
    leads = {argv[:2] if argv[0] in {"worker", "db"} else argv[:1] for argv in cli_commands()}
    assert leads >= {("up",), ("api",), ("worker", "ai"), ("worker", "composition")}
    assert ("db", "upgrade") in leads


@pytest.mark.parametrize("argv", sorted(cli_commands()), ids=" ".join)
def test_deployed_commands_exist(argv: tuple[str, ...]) -> None:
    """Each command parses, options included, against the real CLI."""
    result = CliRunner().invoke(cli_app, [*argv, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def health_paths() -> set[str]:
    texts = instruction("HEALTHCHECK")
    for path in COMPOSE_FILES:
        texts += [json.dumps(s["healthcheck"]) for s in ours(path).values() if "healthcheck" in s]
    paths = {m for t in texts for m in re.findall(r"127\.0\.0\.1:8000(/\w+)", t)}
    for spec in pod_specs().values():
        for container in spec["containers"]:
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                if probe in container:
                    paths.add(container[probe]["httpGet"]["path"])
    return paths


def test_health_checks_call_real_endpoints() -> None:
    paths = health_paths()
    assert {"/healthz", "/readyz"} <= paths
    api = create_app(make_settings({})).openapi()["paths"]
    for path in paths:
        assert "get" in api.get(path, {}), f"no GET {path} in the API"

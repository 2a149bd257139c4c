"""Kubernetes manifests: valid offline, consistent with each other and the CLI."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from bytewax.dataflow import Dataflow
from bytewax.run import _locate_dataflow, _prepare_import

from invsync.cli import build_parser
from invsync.config import expand_env, load_config
from invsync.pod_recovery import MARKER

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
CRDS = Path(__file__).resolve().parent / "crds"
KUBERNETES_VERSION = "1.30"
BUILTIN_KINDS = {
    "ConfigMap",
    "Secret",
    "Service",
    "StatefulSet",
    "PodDisruptionBudget",
    "Job",
}
CRD_SCHEMAS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-v1.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule-v1.json",
}


def _documents() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(K8S.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                yield path, doc


def _one(kind: str, name: str) -> dict[str, Any]:
    found = [
        d
        for _, d in _documents()
        if d["kind"] == kind and d["metadata"]["name"] == name
    ]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def _closed(schema: Any) -> Any:
    """Reject unknown fields, as the API server's pruning would drop them silently."""
    if isinstance(schema, dict):
        closed = {key: _closed(value) for key, value in schema.items()}
        pattern = closed.get("pattern")
        if isinstance(pattern, str) and pattern.startswith("^(?i)"):
            # Go accepts a flag group after ^, Python's re only at the start.
            closed["pattern"] = "(?i)^" + pattern.removeprefix("^(?i)")
        if (
            "properties" in closed
            and "additionalProperties" not in closed
            and not closed.get("x-kubernetes-preserve-unknown-fields")
        ):
            closed["additionalProperties"] = False
        return closed
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    return schema


def _statefulset() -> dict[str, Any]:
    return _one("StatefulSet", "invsync")


def _container(name: str, init: bool = False) -> dict[str, Any]:
    spec = _statefulset()["spec"]["template"]["spec"]
    group = spec["initContainers"] if init else spec["containers"]
    [found] = [c for c in group if c["name"] == name]
    return found


def _env(container: dict[str, Any]) -> dict[str, str]:
    """Return the container's literal env values plus the ConfigMap's keys."""
    values: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            data = _one("ConfigMap", source["configMapRef"]["name"])["data"]
            values.update({k: v for k, v in data.items() if k.isupper()})
    for item in container.get("env", []):
        if "value" in item:
            values[item["name"]] = item["value"]
    return values


def test_every_kind_has_a_schema() -> None:
    kinds = {(d["apiVersion"], d["kind"]) for _, d in _documents()}

    unknown = {k for k in kinds if k[1] not in BUILTIN_KINDS and k not in CRD_SCHEMAS}
    assert unknown == set()


@pytest.mark.parametrize(
    ("path", "doc"),
    [(p, d) for p, d in _documents() if d["kind"] in BUILTIN_KINDS],
    ids=lambda v: v.name if isinstance(v, Path) else v["kind"],
)
def test_builtin_manifest_valid(path: Path, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize(
    ("path", "doc"),
    [(p, d) for p, d in _documents() if (d["apiVersion"], d["kind"]) in CRD_SCHEMAS],
    ids=lambda v: v.name if isinstance(v, Path) else v["kind"],
)
def test_custom_resource_valid(path: Path, doc: dict[str, Any]) -> None:
    schema_file = CRD_SCHEMAS[(doc["apiVersion"], doc["kind"])]
    schema = _closed(json.loads((CRDS / schema_file).read_text()))

    jsonschema.validate(doc, schema)


def test_crd_check_rejects_unknown_field() -> None:
    monitor = _one("ServiceMonitor", "invsync")
    broken = {**monitor, "spec": {**monitor["spec"], "endpoint": []}}
    schema = _closed(json.loads((CRDS / "servicemonitor-v1.json").read_text()))

    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_command_loads_flow_factory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = _container("dataflow")
    env = _env(container)
    secret = _one("Secret", "invsync")["stringData"]
    for key, value in secret.items():
        if key.isupper():
            monkeypatch.setenv(key, value)
    config = tmp_path / "config.yaml"
    config.write_text(_one("ConfigMap", "invsync")["data"]["config.yaml"])
    monkeypatch.setenv("INVSYNC_CONFIG", str(config))

    command = container["command"]
    module, attr = _prepare_import(command[3])
    flow = _locate_dataflow(module, attr)

    assert command[:3] == ["python", "-m", "bytewax.run"]
    assert isinstance(flow, Dataflow)
    assert flow.flow_id == "invsync"
    assert env["INVSYNC_CONFIG"] == "/etc/invsync/config.yaml"


def test_dockerfile_runs_same_command() -> None:
    text = (REPO / "Dockerfile").read_text()
    [cmd] = re.findall(r"^CMD (.+)$", text, flags=re.MULTILINE)

    assert json.loads(cmd) == _container("dataflow")["command"]
    assert re.search(r"^FROM python:3\.11-slim$", text, flags=re.MULTILINE)


# Imported from a tree holding only what the Dockerfile copies. Python runs
# with -S, so the editable install of this checkout cannot fill a gap.
_IMAGE_IMPORTS = """
import sys
app, site_packages = sys.argv[1], sys.argv[2]
sys.path[:0] = [app]
sys.path.append(site_packages)
import importlib
import pkgutil
for name in ("invsync", "dataflows", "operators", "sinks", "sources"):
    package = importlib.import_module(name)
    for module in pkgutil.walk_packages(package.__path__, name + "."):
        importlib.import_module(module.name)
import invsync.avro
import invsync.cli
assert invsync.cli.__file__.startswith(app), invsync.cli.__file__
invsync.avro.schema_fingerprint(invsync.avro.ALL_RECORD_TYPES[0])
print(len(invsync.avro.ALL_RECORD_TYPES))
"""


def test_dockerfile_copies_what_the_flow_imports(tmp_path: Path) -> None:
    text = (REPO / "Dockerfile").read_text()
    app = tmp_path / "app"
    app.mkdir()
    for line in re.findall(r"^COPY (.+)$", text, flags=re.MULTILINE):
        *sources, _destination = line.split()
        for source in sources:
            path = REPO / source
            if path.is_dir():
                shutil.copytree(path, app / source)
            else:
                shutil.copy(path, app / source)
    site_packages = sysconfig.get_paths()["purelib"]

    result = subprocess.run(
        [sys.executable, "-S", "-c", _IMAGE_IMPORTS, str(app), site_packages],
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout) > 0


def test_config_references_secret_keys() -> None:
    text = _one("ConfigMap", "invsync")["data"]["config.yaml"]
    secret = _one("Secret", "invsync")["stringData"]
    referenced = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text))

    assert referenced == {k for k in secret if k.isupper()}
    assert "change-me" not in text
    assert expand_env("${HOME}") == os.environ["HOME"]


def test_config_rejects_unset_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INVSYNC_TEST_UNSET", raising=False)
    path = tmp_path / "c.yaml"
    path.write_text('redis: {url: "redis://u:${INVSYNC_TEST_UNSET}@h:6379/0"}\n')

    with pytest.raises(ValueError, match="INVSYNC_TEST_UNSET"):
        load_config(path)


def test_replicas_match_cluster_settings() -> None:
    statefulset = _statefulset()
    env = _env(_container("dataflow"))
    replicas = statefulset["spec"]["replicas"]

    assert int(env["INVSYNC_REPLICAS"]) == replicas
    assert int(env["INVSYNC_RECOVERY_PARTITIONS"]) >= replicas
    assert env["BYTEWAX_STATEFULSET_NAME"] == statefulset["metadata"]["name"]
    assert statefulset["spec"]["podManagementPolicy"] == "Parallel"


def test_headless_service_names_pods() -> None:
    statefulset = _statefulset()
    headless = _one("Service", statefulset["spec"]["serviceName"])
    pod_labels = statefulset["spec"]["template"]["metadata"]["labels"]

    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    assert headless["spec"]["selector"].items() <= pod_labels.items()


def test_ports_and_selectors_agree() -> None:
    statefulset = _statefulset()
    pod_labels = statefulset["spec"]["template"]["metadata"]["labels"]
    container = _container("dataflow")
    port_names = {p["name"] for p in container["ports"]}
    metrics = _one("Service", "invsync-metrics")
    monitor = _one("ServiceMonitor", "invsync")
    budget = _one("PodDisruptionBudget", "invsync")

    assert {p["targetPort"] for p in metrics["spec"]["ports"]} <= port_names
    assert container["readinessProbe"]["httpGet"]["port"] in port_names
    assert container["livenessProbe"]["httpGet"]["path"] == "/metrics"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= (
        metrics["metadata"]["labels"].items()
    )
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= {
        p["name"] for p in metrics["spec"]["ports"]
    }
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert _env(container)["BYTEWAX_DATAFLOW_API_PORT"] == str(
        next(p["containerPort"] for p in container["ports"] if p["name"] == "metrics")
    )


def test_every_container_has_limits() -> None:
    spec = _statefulset()["spec"]["template"]["spec"]
    containers = spec["initContainers"] + spec["containers"]
    job = _one("Job", "invsync-recovery-move")
    containers += job["spec"]["template"]["spec"]["containers"]

    for container in containers:
        resources = container["resources"]
        assert set(resources["requests"]) == {"cpu", "memory"}, container["name"]
        assert set(resources["limits"]) == {"cpu", "memory"}, container["name"]


def test_recovery_volume_is_per_pod() -> None:
    statefulset = _statefulset()
    env = _env(_container("dataflow"))
    [claim] = statefulset["spec"]["volumeClaimTemplates"]
    mounts = {m["name"]: m["mountPath"] for m in _container("dataflow")["volumeMounts"]}

    assert mounts[claim["metadata"]["name"]] == env["BYTEWAX_RECOVERY_DIRECTORY"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]


def _run_init_script(tmp_path: Path, pod: str) -> subprocess.CompletedProcess[str]:
    container = _container("init-cluster", init=True)
    script = container["args"][0]
    recovery = tmp_path / pod / "recovery"
    run = tmp_path / pod / "run"
    run.mkdir(parents=True, exist_ok=True)
    script = script.replace("/var/lib/invsync/recovery", str(recovery))
    script = script.replace("/var/run/invsync", str(run))
    env = {
        **os.environ,
        **_env(container),
        "BYTEWAX_POD_NAME": pod,
        "POD_NAMESPACE": "stock",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    return subprocess.run(
        [*container["command"], script],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_init_script_writes_hostfile(tmp_path: Path) -> None:
    result = _run_init_script(tmp_path, "invsync-1")

    hosts = (tmp_path / "invsync-1" / "run" / "hosts").read_text().splitlines()
    assert result.returncode == 0, result.stderr
    assert hosts == [
        f"invsync-{i}.invsync-headless.stock.svc.cluster.local:2101" for i in range(3)
    ]


def test_init_script_safe_twice(tmp_path: Path) -> None:
    first = _run_init_script(tmp_path, "invsync-2")
    part = tmp_path / "invsync-2" / "recovery" / "part-2.sqlite3"
    created = part.stat().st_mtime_ns
    second = _run_init_script(tmp_path, "invsync-2")

    files = sorted(p.name for p in (tmp_path / "invsync-2" / "recovery").iterdir())
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert files == [MARKER, "part-2.sqlite3"]
    assert part.stat().st_mtime_ns == created


def test_move_job_command_parses() -> None:
    job = _one("Job", "invsync-recovery-move")
    [container] = job["spec"]["template"]["spec"]["containers"]
    command = container["command"]

    args = build_parser().parse_args(command[1:])
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert command[0] == "invsync"
    assert args.func.__name__ == "cmd_recovery_move"
    assert {str(args.source), str(args.target)} == mounts


def test_init_command_parses() -> None:
    container = _container("init-cluster", init=True)
    [line] = [
        s for s in container["args"][0].splitlines() if "invsync recovery init" in s
    ]
    partitions = _env(container)["INVSYNC_RECOVERY_PARTITIONS"]
    line = line.replace('"$INVSYNC_RECOVERY_PARTITIONS"', partitions)
    words = shlex.split(line.strip().removeprefix("exec "))

    args = build_parser().parse_args(words[1:])
    assert args.func.__name__ == "cmd_recovery_init"
    assert args.partitions == int(partitions)

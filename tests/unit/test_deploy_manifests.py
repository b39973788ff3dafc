"""The production shape (deploy/) checked offline against the code, since no Docker or Kubernetes runs here:
the YAML parses, every deployable and port it names exists, every HUB_* variable it sets is read by a
settings class, and the topics and Kafka settings are the ones plumbing/topics.py defines."""

from __future__ import annotations

import importlib
import pkgutil
import re
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices, BaseModel
from pydantic_settings import BaseSettings

from hub.deployment import DEPLOYABLES, WORKERS, Ports
from plumbing.kafka import DURABLE_TOPIC
from plumbing.settings import Topics
from plumbing.topics import hub_topics
from services.api.settings import ApiSettings
from services.ingress.settings import IngressSettings
from services.timeline.settings import TimelineSettings

pytestmark = pytest.mark.unit

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S_FILES = sorted((DEPLOY / "k8s").glob("*.yaml"))
Doc = dict[str, Any]


def _load_all(path: Path) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


@cache
def _k8s() -> tuple[Doc, ...]:
    return tuple(doc for path in K8S_FILES for doc in _load_all(path))


def _kind(kind: str) -> list[Doc]:
    return [doc for doc in _k8s() if doc["kind"] == kind]


@cache
def _compose() -> Doc:
    loaded = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _config_map() -> dict[str, str]:
    (config,) = [doc for doc in _kind("ConfigMap") if doc["metadata"]["name"] == "hub-config"]
    return dict(config["data"])


def _hub_services() -> dict[str, Doc]:
    """Compose services running the hub's image, by name."""
    return {
        name: service
        for name, service in _compose()["services"].items()
        if service.get("image", "").startswith("interaction-hub")
    }


def _containers() -> dict[str, Doc]:
    return {doc["metadata"]["name"]: _pod(doc)["containers"][0] for doc in _kind("Deployment")}


def _pod(deployment: Doc) -> Doc:
    pod: Doc = deployment["spec"]["template"]["spec"]
    return pod


def _env_names(model: type[BaseModel], prefix: str, delimiter: str | None) -> set[str]:
    names = set()
    for name, field in model.model_fields.items():
        names.add(f"{prefix}{name}".upper())
        alias = field.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias] if alias else []
        names |= {choice.upper() for choice in choices if isinstance(choice, str)}
        kind = field.annotation
        if delimiter and isinstance(kind, type) and issubclass(kind, BaseModel):
            names |= _env_names(kind, f"{prefix}{name}{delimiter}", None)
    return names


def _subclasses(cls: type[BaseSettings]) -> set[type[BaseSettings]]:
    found = set(cls.__subclasses__())
    return found | {deeper for sub in found for deeper in _subclasses(sub)}


@cache
def settings_variables() -> frozenset[str]:
    """Every variable some settings class of the hub reads (its modules imported first, so all exist)."""
    for package in ("contracts", "plumbing", "services", "projections", "hub"):
        root = importlib.import_module(package)
        for module in pkgutil.walk_packages(root.__path__, f"{package}."):
            if not module.name.endswith("__main__"):
                importlib.import_module(module.name)
    names: set[str] = set()
    for cls in _subclasses(BaseSettings):
        config = cls.model_config
        names |= _env_names(cls, config.get("env_prefix", ""), config.get("env_nested_delimiter"))
    return frozenset(names)


def test_every_manifest_parses_and_every_kubernetes_document_names_its_api_and_kind() -> None:
    assert K8S_FILES, "no manifests in deploy/k8s"
    for doc in _k8s():
        assert {"apiVersion", "kind", "metadata"} <= doc.keys(), doc
    assert _compose()["services"]


def test_each_deployable_has_one_deployment_and_one_compose_service_running_exactly_it() -> None:
    containers = _containers()
    hub_deployments = {name: c for name, c in containers.items() if c["image"].startswith("interaction-hub")}
    assert set(hub_deployments) == set(DEPLOYABLES)
    for name, container in hub_deployments.items():
        assert container["args"] == ["run", name]
    running = {name: s["command"] for name, s in _hub_services().items() if s["command"][0] == "run"}
    assert set(running) == set(DEPLOYABLES)
    assert all(command == ["run", name] for name, command in running.items())


def _paths(routes: list[Any]) -> set[str]:
    """Every path served, including those of included routers (FastAPI keeps those nested)."""
    paths = set()
    for route in routes:
        nested = getattr(route, "original_router", None)
        paths |= _paths(nested.routes) if nested is not None else {getattr(route, "path", "")}
    return paths


def test_http_deployables_listen_on_their_settings_ports_with_probes_on_routes_they_serve() -> None:
    from services.api.app import build_app as api_app
    from services.ingress.app import build_app as ingress_app

    ports = {"ingress": Ports().ingress, "api": Ports().api}
    routes = {
        "ingress": _paths(ingress_app(IngressSettings()).routes),
        "api": _paths(api_app(ApiSettings(pg_dsn="postgresql://x@h/d")).routes),
    }
    config, containers = _config_map(), _containers()
    http = {name for name, c in containers.items() if any(p["name"] == "http" for p in c.get("ports", []))}
    assert http == set(ports)
    for name, port in ports.items():
        container = containers[name]
        assert container["ports"] == [{"name": "http", "containerPort": port}]
        assert config[f"HUB_{name.upper()}_PORT"] == str(port)
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"]["path"] in routes[name]
        compose = _hub_services()[name]
        assert compose["ports"] == [f"{port}:{port}"]
        assert compose["environment"][f"HUB_{name.upper()}_PORT"] == str(port)
    for name, port in ports.items():
        (deployment,) = [doc for doc in _kind("Deployment") if doc["metadata"]["name"] == name]
        scraped = deployment["spec"]["template"]["metadata"]["annotations"]
        assert (scraped["prometheus.io/path"], scraped["prometheus.io/port"]) == ("/metrics", str(port))
        assert "/metrics" in routes[name]


def _metrics_routes() -> set[str]:
    from plumbing.metrics_server import WorkerMetrics, metrics_app

    return {getattr(route, "path", "") for route in metrics_app(WorkerMetrics()).routes}


def test_workers_serve_metrics_and_health_on_their_metrics_port_and_are_probed_there() -> None:
    from plumbing.metrics_server import MetricsSettings

    containers = _containers()
    served = _metrics_routes()
    assert {"/metrics", "/health"} <= served
    assert MetricsSettings.model_fields["metrics_port"].default == 0  # off unless a manifest sets it
    assert _config_map()["HUB_METRICS_HOST"] == "0.0.0.0"
    assert set(WORKERS) == set(DEPLOYABLES) - {"ingress", "api"}
    for name in WORKERS:
        container = containers[name]
        env = {entry["name"]: entry.get("value") for entry in container["env"]}
        (port,) = container["ports"]
        assert port == {"name": "metrics", "containerPort": int(env["HUB_METRICS_PORT"])}, name
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"] == {"path": "/health", "port": "metrics"}, name
        (deployment,) = [doc for doc in _kind("Deployment") if doc["metadata"]["name"] == name]
        scraped = deployment["spec"]["template"]["metadata"]["annotations"]
        assert scraped["prometheus.io/port"] == env["HUB_METRICS_PORT"]
        assert scraped["prometheus.io/path"] in served


#: What starts a worker's metrics server (plumbing/metrics_server.py and the helpers built on it).
#: Calls that start the server; ``projection_process(`` is plumbing/projection_main.py, which serves it.
_SERVES_METRICS = (
    "metrics_served(",
    "projection_metrics_served(",
    "serve_consumer_metrics(",
    "projection_process(",
)


def test_every_probed_worker_starts_a_metrics_server_in_its_own_code() -> None:
    """A probe on a port nobody serves would restart the pods forever: the worker's package (or the code
    it runs) must start the server."""
    root = Path(__file__).resolve().parents[2]
    missing = []
    for name in WORKERS:
        package = root.joinpath(*DEPLOYABLES[name].split("."))
        sources = " ".join(path.read_text() for path in package.rglob("*.py"))
        if not any(call in sources for call in _SERVES_METRICS):
            missing.append(name)
    assert missing == []


def _dockerfile_variables() -> set[str]:
    text = (DEPLOY / "docker" / "Dockerfile").read_text()
    return set(re.findall(r"\b(HUB_[A-Z0-9_]+)=", text))


def test_every_hub_variable_the_manifests_set_is_read_by_a_settings_class() -> None:
    named = set(_config_map())
    for container in _containers().values():
        named |= {entry["name"] for entry in container.get("env", [])}
    for service in _hub_services().values():
        named |= set(service["environment"])
    named |= _dockerfile_variables()
    hub_variables = {name for name in named if name.startswith("HUB_")}
    assert hub_variables, "no HUB_ variable found: the test reads the wrong keys"
    assert hub_variables - settings_variables() == set()


def test_settings_reader_finds_known_variables_and_not_invented_ones() -> None:
    known = settings_variables()
    assert {"HUB_PG_DSN", "HUB_TOPICS__INTERACTIONS", "HUB_TIMELINE_GROUP", "KAFKA_HOME"} <= known
    assert "HUB_NO_SUCH_SETTING" not in known


def _expected_topics() -> dict[str, tuple[int, int, dict[str, str]]]:
    return {
        spec.name: (spec.partitions, spec.replication, {**DURABLE_TOPIC, **dict(spec.config)})
        for spec in hub_topics(Topics()).values()
    }


def test_kafka_topic_resources_are_the_topics_plumbing_defines() -> None:
    found = {
        doc["spec"]["topicName"]: (
            doc["spec"]["partitions"],
            doc["spec"]["replicas"],
            {key: str(value).lower() for key, value in doc["spec"]["config"].items()},
        )
        for doc in _kind("KafkaTopic")
    }
    assert found == _expected_topics()
    config = _config_map()
    assert [config[f"HUB_TOPICS__{role.upper()}"] for role in Topics.model_fields] == list(
        Topics().model_dump().values()
    )


def test_compose_creates_the_topics_plumbing_defines() -> None:
    command = " ".join(_compose()["services"]["topics"]["command"])
    triples = re.findall(r'"([\w.]+) (\d+) (\d+)"', command)
    expected = _expected_topics()
    assert {name for name, _, _ in triples} == set(expected)
    for name, partitions, retention in triples:
        want_partitions, replication, config = expected[name]
        assert int(partitions) == want_partitions
        assert config["retention.ms"] == retention
        assert f"--replication-factor {replication}" in command
    for name, (_, _, config) in expected.items():
        for key, value in config.items():
            if key != "retention.ms":  # per topic, checked above
                assert f"--config {key}={value}" in command, (name, key)


def _kafka_version() -> str:
    pom = ET.parse(DEPLOY / "local" / "kafka" / "pom.xml")
    version = pom.find(".//{http://maven.apache.org/POM/4.0.0}kafka.version")
    assert version is not None and version.text
    return version.text


def test_kafka_clusters_replicate_three_ways_need_two_in_sync_and_never_elect_uncleanly() -> None:
    (kafka,) = _kind("Kafka")
    config = kafka["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == 3
    assert config["min.insync.replicas"] == 2
    assert config["unclean.leader.election.enable"] is False
    assert config["auto.create.topics.enable"] is False
    assert kafka["spec"]["kafka"]["version"] == _kafka_version()
    pools = {doc["metadata"]["name"]: doc["spec"] for doc in _kind("KafkaNodePool")}
    assert sorted((pool["roles"], pool["replicas"]) for pool in pools.values()) == [
        (["broker"], 3),
        (["controller"], 3),
    ]
    brokers = {name: s for name, s in _compose()["services"].items() if name.startswith("kafka-")}
    assert len(brokers) == 3
    for broker in brokers.values():
        assert broker["image"] == f"apache/kafka:{_kafka_version()}"
        env = broker["environment"]
        assert (env["KAFKA_DEFAULT_REPLICATION_FACTOR"], env["KAFKA_MIN_INSYNC_REPLICAS"]) == ("3", "2")
        assert env["KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE"] == "false"
    bootstrap = _hub_services()["timeline"]["environment"]["HUB_KAFKA_BOOTSTRAP"]
    assert sorted(server.split(":")[0] for server in bootstrap.split(",")) == sorted(brokers)


def test_ingress_scales_by_cpu_and_timeline_writers_by_their_consumer_lag_up_to_the_partitions() -> None:
    (hpa,) = _kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "ingress"
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    (scaled,) = _kind("ScaledObject")
    assert scaled["spec"]["scaleTargetRef"]["name"] == "timeline"
    (trigger,) = scaled["spec"]["triggers"]
    group = TimelineSettings.model_fields["timeline_group"].default
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["consumerGroup"] == group == _config_map()["HUB_TIMELINE_GROUP"]
    assert trigger["metadata"]["topic"] == Topics().interactions
    assert trigger["metadata"]["bootstrapServers"] == _config_map()["HUB_KAFKA_BOOTSTRAP"]
    partitions = hub_topics(Topics())["interactions"].partitions
    assert scaled["spec"]["minReplicaCount"] >= 2
    assert scaled["spec"]["maxReplicaCount"] <= partitions


def test_every_deployment_requests_resources_and_has_a_disruption_budget() -> None:
    component = "app.kubernetes.io/component"
    budgets = {doc["spec"]["selector"]["matchLabels"][component] for doc in _kind("PodDisruptionBudget")}
    for doc in _kind("Deployment"):
        name = doc["metadata"]["name"]
        requests = _pod(doc)["containers"][0]["resources"]["requests"]
        assert {"cpu", "memory"} <= requests.keys(), name
        assert name in budgets, name
        assert doc["spec"]["selector"]["matchLabels"][component] == name


def _dsn_user(dsn: str) -> str:
    found = re.match(r"postgresql://([^:@/]+)[:@]", dsn)
    assert found, dsn
    return found.group(1)


def _env(container: Doc) -> dict[str, Doc]:
    return {entry["name"]: entry for entry in container.get("env", [])}


def test_each_kubernetes_deployable_connects_as_its_own_runtime_role_only_the_migration_as_owner() -> None:
    from hub.deployment import DATABASE_ROLES

    containers = _containers()
    for name in DEPLOYABLES:
        env = _env(containers[name])
        if name not in DATABASE_ROLES:
            assert {"HUB_PG_DSN", "PGPASSWORD"} & env.keys() == set(), name
            continue
        role = DATABASE_ROLES[name]
        assert _dsn_user(env["HUB_PG_DSN"]["value"]) == role.role, name
        password = env["PGPASSWORD"]["valueFrom"]["secretKeyRef"]
        assert password == {"name": f"hub-pg-{role.value}", "key": "password"}, name
    owners = [doc["metadata"]["name"] for doc in _k8s() if "hub-pg-app" in _secrets_named(doc)]
    assert owners == ["hub-migrate"]


def _secrets_named(node: Any) -> set[str]:
    """Every Secret a manifest reads a key of (``secretKeyRef``), at any depth."""
    if isinstance(node, list):
        return {name for item in node for name in _secrets_named(item)}
    if not isinstance(node, dict):
        return set()
    found = {node["secretKeyRef"]["name"]} if "secretKeyRef" in node else set()
    return found | {name for value in node.values() for name in _secrets_named(value)}


def test_the_postgres_cluster_declares_the_runtime_roles_as_plain_logins() -> None:
    from plumbing.db_roles import Runtime

    (cluster,) = _kind("Cluster")
    assert cluster["spec"]["bootstrap"]["initdb"]["owner"] == "hub"
    roles = {role["name"]: role for role in cluster["spec"]["managed"]["roles"]}
    assert set(roles) == {runtime.role for runtime in Runtime}
    for runtime in Runtime:
        role = roles[runtime.role]
        assert (role["ensure"], role["login"], role["passwordSecret"]) == (
            "present",
            True,
            {"name": f"hub-pg-{runtime.value}"},
        )
        powers = ("superuser", "createdb", "createrole", "inherit", "replication", "bypassrls")
        assert [role[power] for power in powers] == [False] * len(powers), runtime


def test_each_compose_deployable_connects_as_its_own_runtime_role_made_by_the_roles_job() -> None:
    from hub.deployment import DATABASE_ROLES
    from plumbing.db_roles import Runtime

    services = _hub_services()
    for name in DEPLOYABLES:
        environment = services[name]["environment"]
        if name not in DATABASE_ROLES:
            assert "HUB_PG_DSN" not in environment, name
        else:
            assert _dsn_user(environment["HUB_PG_DSN"]) == DATABASE_ROLES[name].role, name
    assert _dsn_user(services["migrate"]["environment"]["HUB_PG_DSN"]) == "hub"
    roles_job = _compose()["services"]["roles"]
    script = roles_job["command"][0]
    assert services["migrate"]["depends_on"]["roles"] == {"condition": "service_completed_successfully"}
    for runtime in Runtime:
        assert f"ALTER ROLE {runtime.role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT" in script
        assert f"'{runtime.role}'" in script  # created when missing
    assert "ALTER DATABASE hub OWNER TO hub" in script
    assert _compose()["services"]["postgres"]["environment"]["POSTGRES_USER"] != "hub"  # no superuser owner

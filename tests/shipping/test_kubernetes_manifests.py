"""The k8s/ overlays render, pass the Kubernetes and CRD schemas and the policy linter, and say
what ops need: hardened pods, probes on the real endpoints, drains without loss, lag-based
scaling and a network that lets PHI go only where it must."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from shipping_support import (
    ALL_INTERFACES,
    K8S,
    KUBERNETES_VERSIONS,
    OVERLAYS,
    REPO,
    TMP,
    Resource,
    containers,
    is_custom_resource,
    kustomize,
    named,
    of_kind,
    pinned_kustomize_version,
    pod_spec,
    schema_errors,
    settings_values,
    workloads,
)

ROLE_ARGS = {
    "receiver": ["serve"],
    "router": ["route"],
    "ledger": ["handle", "ledger"],
    "status-check": ["handle", "status-check"],
    "attachment": ["handle", "attachment"],
    "worklist": ["web"],
}
WORKERS = ("router", "ledger", "status-check", "attachment")
# claimflow's SASL mechanism -> the KEDA Kafka scaler's name for it.
KEDA_SASL = {"PLAIN": "plaintext", "SCRAM-SHA-256": "scram_sha256", "SCRAM-SHA-512": "scram_sha512"}
PRIVATE_RANGES = {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"}


def deployment(resources: list[Resource], role: str) -> Resource:
    return named(resources, "Deployment", f"claimflow-{role}")


def only_container(workload: Resource) -> dict[str, Any]:
    [container] = pod_spec(workload)["containers"]
    return container


# --- rendering and validation -------------------------------------------------------------


def test_the_bootstrapped_kustomize_is_the_pinned_version() -> None:
    result = subprocess.run(
        [str(kustomize()), "version"], capture_output=True, text=True, check=True, timeout=30
    )
    assert result.stdout.strip() == pinned_kustomize_version()


def test_there_is_a_staging_and_a_production_overlay() -> None:
    assert {"staging", "production"} <= set(OVERLAYS)


@pytest.mark.parametrize("kubernetes_version", KUBERNETES_VERSIONS)
def test_every_rendered_resource_passes_its_schema_strictly(
    resources: list[Resource], kubernetes_version: str
) -> None:
    errors = [error for r in resources for error in schema_errors(r, kubernetes_version)]
    assert errors == []


def test_a_resource_without_a_schema_is_an_error_not_a_warning() -> None:
    unknown = {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "x"}}
    unknown_core = {"apiVersion": "v1", "kind": "Gadget", "metadata": {"name": "x"}}
    assert schema_errors(unknown, KUBERNETES_VERSIONS[-1])
    assert schema_errors(unknown_core, KUBERNETES_VERSIONS[-1])


def test_custom_resource_schemas_reject_unknown_fields(resources: list[Resource]) -> None:
    for resource in resources:
        if is_custom_resource(resource):
            typo = {**resource, "spec": {**resource["spec"], "replicaCount": 3}}
            assert schema_errors(typo, KUBERNETES_VERSIONS[-1]), resource["kind"]


def test_kubernetes_schemas_reject_unknown_fields(resources: list[Resource]) -> None:
    receiver = deployment(resources, "receiver")
    typo = {**receiver, "spec": {**receiver["spec"], "replica": 3}}
    assert schema_errors(typo, KUBERNETES_VERSIONS[-1])


def test_rendered_manifests_pass_checkov(
    overlay: str, resources: list[Resource], tmp_path: Path
) -> None:
    # Skipped rules, each with its reason, are in k8s/checkov.yaml.
    (tmp_path / f"{overlay}.yaml").write_text(yaml.safe_dump_all(resources))
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("checkov")),
            "--config-file",
            str(K8S / "checkov.yaml"),
            "--directory",
            str(tmp_path),
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        # Offline: no update check, no download of guideline mappings.
        env={**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "BC_SKIP_MAPPING": "TRUE"},
    )
    report = json.loads(result.stdout)
    summary = report["summary"]
    failed = [
        f"{check['check_id']} {check['resource']}: {check['check_name']}"
        for check in report["results"]["failed_checks"]
    ]
    assert failed == []
    assert summary["passed"] > 100, "checkov checked almost nothing: is the framework right?"
    assert result.returncode == 0, result.stderr


def test_yaml_passes_yamllint_strictly() -> None:
    targets = [K8S, REPO / "docker-compose.yml", REPO / ".yamllint"]
    result = subprocess.run(
        [sys.executable, "-m", "yamllint", "--strict", *map(str, targets)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- roles ----------------------------------------------------------------------------------


def test_every_role_runs_the_one_image_with_its_command(resources: list[Resource]) -> None:
    images = set()
    for role, args in ROLE_ARGS.items():
        container = only_container(deployment(resources, role))
        assert container["args"] == args
        images.add(container["image"])
    job = named(resources, "Job", "claimflow-db-migrate")
    assert only_container(job)["args"] == ["db", "upgrade"]
    images.add(only_container(job)["image"])
    assert len(images) == 1, images
    assert not images.pop().endswith(":latest")


def test_the_migration_job_reads_only_the_database_secret(resources: list[Resource]) -> None:
    job = named(resources, "Job", "claimflow-db-migrate")
    env = {variable["name"] for variable in only_container(job).get("env", [])}
    assert env == {"CLAIMFLOW_DATABASE__URL"}
    assert pod_spec(job)["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] >= 1


# --- hardening ------------------------------------------------------------------------------


def test_every_pod_runs_as_non_root_with_runtime_default_seccomp(resources: list[Resource]) -> None:
    for workload in workloads(resources):
        spec = pod_spec(workload)
        security = spec["securityContext"]
        assert security["runAsNonRoot"] is True
        assert security["runAsUser"] >= 10000
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        account = named(resources, "ServiceAccount", spec["serviceAccountName"])
        assert account["automountServiceAccountToken"] is False


def test_every_container_is_locked_down_with_a_writable_tmp(resources: list[Resource]) -> None:
    for workload, container in containers(resources):
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}
        mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
        volumes = {volume["name"]: volume for volume in pod_spec(workload)["volumes"]}
        assert "emptyDir" in volumes[mounts[TMP]], workload["metadata"]["name"]


def test_every_container_has_requests_and_limits(resources: list[Resource]) -> None:
    for _, container in containers(resources):
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][kind]), container["name"]


def test_no_role_can_reach_the_kubernetes_api_with_rbac(resources: list[Resource]) -> None:
    kinds = {resource["kind"] for resource in resources}
    assert not kinds & {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}


def test_the_namespace_enforces_the_restricted_pod_security_standard(
    resources: list[Resource],
) -> None:
    [namespace] = of_kind(resources, "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for workload in workloads(resources):
        assert workload["metadata"]["namespace"] == namespace["metadata"]["name"]


# --- probes, drains, spreading --------------------------------------------------------------


def test_probes_hit_the_real_health_endpoints_on_the_configured_ports(
    resources: list[Resource],
) -> None:
    settings = settings_values(resources)
    for role in ROLE_ARGS:
        container = only_container(deployment(resources, role))
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        port_setting = {
            "receiver": "CLAIMFLOW_RECEIVER__PORT",
            "worklist": "CLAIMFLOW_WEB__PORT",
        }.get(role, "CLAIMFLOW_HANDLERS__HEALTH_PORT")
        expected_port = int(settings[port_setting])
        paths = {}
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            get = container[probe]["httpGet"]
            assert ports[get["port"]] == expected_port, (role, probe)
            paths[probe] = get["path"]
        assert paths == {
            "startupProbe": "/healthz",
            "livenessProbe": "/healthz",
            "readinessProbe": "/readyz",
        }


def test_health_servers_listen_beyond_loopback(resources: list[Resource]) -> None:
    settings = settings_values(resources)
    assert settings["CLAIMFLOW_RECEIVER__HOST"] == ALL_INTERFACES
    assert settings["CLAIMFLOW_HANDLERS__HEALTH_HOST"] == ALL_INTERFACES
    assert settings["CLAIMFLOW_WEB__HOST"] == ALL_INTERFACES


def test_pods_stop_taking_work_before_they_are_killed(resources: list[Resource]) -> None:
    settings = settings_values(resources)
    partner_timeouts = {
        "status-check": float(settings["CLAIMFLOW_INTEGREX__TIMEOUT_SECONDS"]),
        "attachment": float(settings["CLAIMFLOW_AVAILITY__TIMEOUT_SECONDS"]),
    }
    stop_grace = float(settings["CLAIMFLOW_FOLLOWUPS__STOP_GRACE_SECONDS"])
    for role in ROLE_ARGS:
        workload = deployment(resources, role)
        pre_stop = only_container(workload)["lifecycle"]["preStop"]["exec"]["command"]
        assert pre_stop[0] == "sleep"
        grace = pod_spec(workload)["terminationGracePeriodSeconds"]
        if role in partner_timeouts:
            # Partner handlers never wait on a partner while handling a message: after the
            # pause they commit at once, then give partner calls in flight the poller's stop
            # grace (a call fits in it), and fit the 30 s grace period the design promises.
            assert partner_timeouts[role] <= stop_grace, role
            assert int(pre_stop[1]) + stop_grace + 5 <= grace <= 30, role
            continue
        # After the pause: finish in-flight work, with at least 30 s for anyone.
        assert grace >= int(pre_stop[1]) + 30.0, role


def test_rolling_updates_never_drop_below_the_current_capacity(resources: list[Resource]) -> None:
    for role in ROLE_ARGS:
        strategy = deployment(resources, role)["spec"]["strategy"]
        assert strategy["type"] == "RollingUpdate"
        assert strategy["rollingUpdate"]["maxUnavailable"] == 0


def test_every_deployment_has_a_disruption_budget_that_lets_drains_proceed(
    resources: list[Resource],
) -> None:
    budgets = {
        pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]: pdb
        for pdb in of_kind(resources, "PodDisruptionBudget")
    }
    assert set(budgets) == set(ROLE_ARGS)
    for role, budget in budgets.items():
        spec = budget["spec"]
        assert spec["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
        if role == "receiver":
            hpa = named(resources, "HorizontalPodAutoscaler", "claimflow-receiver")
            # minAvailable below the HPA floor: a drain always has a pod it may evict.
            assert spec["minAvailable"] < hpa["spec"]["minReplicas"]
        else:
            assert spec["maxUnavailable"] == 1


def test_replicas_spread_over_zones_and_nodes(resources: list[Resource]) -> None:
    for role in ROLE_ARGS:
        spec = pod_spec(deployment(resources, role))
        keys = {c["topologyKey"] for c in spec["topologySpreadConstraints"]}
        assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}, role
        for constraint in spec["topologySpreadConstraints"]:
            assert constraint["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == role


# --- exposure and scaling ---------------------------------------------------------------------


def _service(resources: list[Resource], role: str) -> Resource:
    [service] = [
        s
        for s in of_kind(resources, "Service")
        if s["spec"]["selector"]["app.kubernetes.io/component"] == role
    ]
    return service


def test_only_the_receiver_s_webhook_path_and_the_worklist_are_exposed_over_tls(
    resources: list[Resource],
) -> None:
    services = of_kind(resources, "Service")
    assert {s["spec"]["selector"]["app.kubernetes.io/component"] for s in services} == {
        "receiver",
        "worklist",
    }
    assert {s["spec"]["type"] for s in services} == {"ClusterIP"}
    exposed = {}
    for ingress in of_kind(resources, "Ingress"):
        hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
        tls_hosts = {host for tls in ingress["spec"]["tls"] for host in tls["hosts"]}
        assert hosts <= tls_hosts
        paths = [path for rule in ingress["spec"]["rules"] for path in rule["http"]["paths"]]
        for path in paths:
            exposed[path["backend"]["service"]["name"]] = (path["path"], path["pathType"])
    assert exposed == {
        _service(resources, "receiver")["metadata"]["name"]: ("/webhooks/redox", "Exact"),
        # the worklist answers nothing without a signed-in person (docs/worklist.md)
        _service(resources, "worklist")["metadata"]["name"]: ("/", "Prefix"),
    }


def test_the_receiver_scales_on_cpu_with_an_autoscaler(resources: list[Resource]) -> None:
    [hpa] = of_kind(resources, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "claimflow-receiver"
    assert hpa["spec"]["minReplicas"] >= 2
    assert "replicas" not in deployment(resources, "receiver")["spec"]


def test_workers_are_scaled_by_keda_alone(resources: list[Resource]) -> None:
    scaled = {so["spec"]["scaleTargetRef"]["name"]: so for so in of_kind(resources, "ScaledObject")}
    assert set(scaled) == {f"claimflow-{role}" for role in WORKERS}
    for role in WORKERS:
        assert "replicas" not in deployment(resources, role)["spec"]
        assert scaled[f"claimflow-{role}"]["spec"]["minReplicaCount"] >= 1


def test_keda_reads_kafka_where_claimflow_does(resources: list[Resource]) -> None:
    settings = settings_values(resources)
    protocol = settings["CLAIMFLOW_KAFKA__SECURITY_PROTOCOL"]
    mechanism = settings.get("CLAIMFLOW_KAFKA__SASL_MECHANISM", "PLAIN")
    keda_sasl = KEDA_SASL[mechanism] if protocol.startswith("SASL") else "none"
    keda_tls = "enable" if protocol in ("SSL", "SASL_SSL") else "disable"
    [auth] = of_kind(resources, "TriggerAuthentication")
    parameters = {ref["parameter"] for ref in auth["spec"]["secretTargetRef"]}
    assert {"username", "password"} <= parameters
    for scaled in of_kind(resources, "ScaledObject"):
        target = deployment(
            resources, scaled["spec"]["scaleTargetRef"]["name"].removeprefix("claimflow-")
        )
        env_from = {ref["configMapRef"]["name"] for ref in only_container(target)["envFrom"]}
        for trigger in scaled["spec"]["triggers"]:
            assert trigger["type"] == "kafka"
            assert trigger["metadata"].get("sasl", "none") == keda_sasl
            assert trigger["metadata"].get("tls", "disable") == keda_tls
            assert (
                trigger["metadata"]["bootstrapServersFromEnv"]
                == "CLAIMFLOW_KAFKA__BOOTSTRAP_SERVERS"
            )
            assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
        assert env_from, "the trigger's FromEnv needs the settings in the target's environment"


def test_monitoring_scrapes_every_role_on_its_metrics_port(resources: list[Resource]) -> None:
    [service_monitor] = of_kind(resources, "ServiceMonitor")
    service = _service(resources, "receiver")
    selector = service_monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert {e["port"] for e in service_monitor["spec"]["endpoints"]} <= {
        p["name"] for p in service["spec"]["ports"]
    }
    [pod_monitor] = of_kind(resources, "PodMonitor")
    [expression] = pod_monitor["spec"]["selector"]["matchExpressions"]
    assert set(expression["values"]) == set(WORKERS)
    for role in WORKERS:
        ports = {p["name"] for p in only_container(deployment(resources, role))["ports"]}
        assert {e["port"] for e in pod_monitor["spec"]["podMetricsEndpoints"]} <= ports
    for monitor in (service_monitor, pod_monitor):
        assert all(
            e["path"] == "/metrics"
            for e in monitor["spec"].get("endpoints", monitor["spec"].get("podMetricsEndpoints"))
        )


# --- network ----------------------------------------------------------------------------------


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In", "extend this helper for other operators"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def _pod_labels(resources: list[Resource], role: str) -> dict[str, str]:
    workload = (
        named(resources, "Job", "claimflow-db-migrate")
        if role == "migrations"
        else deployment(resources, role)
    )
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def _rules(resources: list[Resource], role: str, direction: str) -> list[dict[str, Any]]:
    labels = _pod_labels(resources, role)
    rules: list[dict[str, Any]] = []
    for policy in of_kind(resources, "NetworkPolicy"):
        if (
            _selects(policy["spec"]["podSelector"], labels)
            and direction in policy["spec"]["policyTypes"]
        ):
            rules.extend(policy["spec"].get(direction.lower(), []))
    return rules


def _port_of(address: str) -> int:
    split = urlsplit(address if "://" in address else f"tcp://{address}")
    return split.port or (443 if split.scheme == "https" else 80)


def test_everything_not_allowed_is_denied(resources: list[Resource]) -> None:
    deny = [
        p
        for p in of_kind(resources, "NetworkPolicy")
        if p["spec"]["podSelector"] == {}
        and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and "ingress" not in p["spec"]
        and "egress" not in p["spec"]
    ]
    assert len(deny) == 1


def test_webhooks_reach_the_receiver_only_through_the_ingress_controller(
    resources: list[Resource],
) -> None:
    settings = settings_values(resources)
    peers = []
    for rule in _rules(resources, "receiver", "Ingress"):
        assert [p["port"] for p in rule["ports"]] == [int(settings["CLAIMFLOW_RECEIVER__PORT"])]
        peers.extend(rule["from"])
    names = {peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for peer in peers}
    assert names == {"ingress-nginx", "prometheus"}  # Prometheus only scrapes /metrics
    for peer in peers:
        assert "ipBlock" not in peer
        assert peer["namespaceSelector"]["matchLabels"]


def test_workers_accept_only_prometheus(resources: list[Resource]) -> None:
    for role in WORKERS:
        for rule in _rules(resources, role, "Ingress"):
            assert [p["port"] for p in rule["ports"]] == [8081]
            assert {
                peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
                for peer in rule["from"]
            } == {"prometheus"}


def test_egress_goes_only_to_kafka_the_database_dns_and_each_role_s_partner(
    resources: list[Resource],
) -> None:
    settings = settings_values(resources)
    kafka = {_port_of(a) for a in settings["CLAIMFLOW_KAFKA__BOOTSTRAP_SERVERS"].split(",")}
    database, dns = {5432}, {53}
    integrex = {_port_of(settings["CLAIMFLOW_INTEGREX__BASE_URL"])}
    availity = {
        _port_of(settings["CLAIMFLOW_AVAILITY__BASE_URL"]),
        _port_of(settings["CLAIMFLOW_AVAILITY__TOKEN_URL"]),
    }
    expected = {
        "receiver": dns | kafka,
        "router": dns | kafka,
        "ledger": dns | kafka | database,
        "status-check": dns | kafka | database | integrex,
        "attachment": dns | kafka | database | availity,
        "migrations": dns | database,
        "worklist": dns | database | {_port_of(settings["CLAIMFLOW_WEB__ISSUER"])},
    }
    for role, ports in expected.items():
        allowed: set[int] = set()
        for rule in _rules(resources, role, "Egress"):
            assert rule.get("to"), f"{role}: an egress rule without destinations allows any"
            assert rule.get("ports"), f"{role}: an egress rule without ports allows all"
            allowed |= {port["port"] for port in rule["ports"]}
            for peer in rule["to"]:
                if "ipBlock" in peer:
                    assert set(peer["ipBlock"].get("except", [])) >= PRIVATE_RANGES, role
        assert allowed == ports, role


def test_status_check_pods_can_be_given_the_allow_listed_egress_ip(
    resources: list[Resource],
) -> None:
    assert _pod_labels(resources, "status-check")["claimflow.io/egress"] == "integrex"


# --- alerts -----------------------------------------------------------------------------------


def _exported_metric_names() -> set[str]:
    names: set[str] = set()
    for package in ("claimflow", "receiver", "router", "handlers"):
        for source in (REPO / package).rglob("*.py"):
            names |= set(re.findall(r"\"(claimflow_[a-z_]+)\"", source.read_text()))
    return names


def test_alerts_watch_only_metrics_claimflow_exports(resources: list[Resource]) -> None:
    exported = _exported_metric_names()
    [rule] = of_kind(resources, "PrometheusRule")
    for group in rule["spec"]["groups"]:
        for alert in group["rules"]:
            for metric in re.findall(r"\bclaimflow_[a-z_]+", alert["expr"]):
                base = re.sub(r"_(total|bucket|sum|count)$", "", metric)
                assert base in exported, f"{alert['alert']}: {metric} is not exported"


def test_every_alert_says_how_bad_it_is_and_what_to_do(resources: list[Resource]) -> None:
    [rule] = of_kind(resources, "PrometheusRule")
    alerts = [alert for group in rule["spec"]["groups"] for alert in group["rules"]]
    assert alerts
    for alert in alerts:
        assert alert["labels"]["severity"] in ("critical", "warning"), alert["alert"]
        assert {"summary", "description"} <= set(alert["annotations"]), alert["alert"]

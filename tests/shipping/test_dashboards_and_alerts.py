"""The Grafana dashboard and the Prometheus alerts use only metrics claimflow exports.

A panel or an alert on a metric nobody exports is silent forever: it shows "No data" or never
fires. So every metric name in every PromQL expression (dashboard panels, template variables,
alert rules) is checked against the names the roles register, by building each role's registry
the way the role does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from shipping_support import K8S, Resource, of_kind

from claimflow.health import process_registry
from handlers.followups.partners.metrics import PartnerMetrics
from handlers.ledger.metrics import LedgerMetrics
from handlers.runtime.metrics import RunnerMetrics
from receiver.metrics import ReceiverMetrics
from router._metrics import RouterMetrics

DASHBOARDS = K8S / "base" / "dashboards"
ALERTS = K8S / "base" / "alerts.yaml"
DASHBOARD_LABEL = "grafana_dashboard"

# Series Prometheus makes itself for every target, whatever the target exports.
PROMETHEUS_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}
_PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "offset", "bool", "inf", "nan",
}  # fmt: skip


def _series_names(family: Metric) -> set[str]:
    names = {family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",))}
    return names | {sample.name for sample in family.samples}


def _exported(registry: CollectorRegistry) -> set[str]:
    return {name for family in registry.collect() for name in _series_names(family)}


def _receiver_registry() -> CollectorRegistry:
    return ReceiverMetrics.create().registry


def _router_registry() -> CollectorRegistry:
    registry = process_registry()  # as router.process.serve_router builds it
    RouterMetrics.create(registry)
    return registry


def _handler_registry() -> CollectorRegistry:
    registry = process_registry()  # as handlers.runtime.process.running_handler builds it
    RunnerMetrics("ledger", registry=registry)
    PartnerMetrics(registry=registry)  # the status-check and attachment handlers add these
    LedgerMetrics(registry=registry)  # the ledger handler adds these
    return registry


ROLE_REGISTRIES = {
    "receiver": _receiver_registry,
    "router": _router_registry,
    "handlers": _handler_registry,
}


@pytest.fixture(scope="module")
def exported() -> dict[str, set[str]]:
    return {role: _exported(build()) for role, build in ROLE_REGISTRIES.items()}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords, labels dropped)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    text = re.sub(r"\{[^{}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range selectors and subqueries
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    # Grafana's label_values(metric, label): the label is not a metric.
    text = re.sub(r"\blabel_values\s*\(([^,()]*),\s*\w+\s*\)", r"label_values(\1)", text)
    names = set()
    for found in re.finditer(r"(?<![\w.$])[A-Za-z_:][\w:]*", text):
        if text[found.end() :].lstrip().startswith("("):
            continue  # a function or an aggregation
        if found.group(0).lower() in _PROMQL_WORDS:
            continue
        names.add(found.group(0))
    return names


def test_metric_names_finds_selectors_not_functions_labels_or_grafana_variables() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, partner) (rate(claimflow_a_bucket{ns=~"$ns",'
        'x!~"2.."}[$__rate_interval]))) / on (pod) group_left up > 0.5 and '
        "process_open_fds / process_max_fds"
    )
    assert metric_names(expr) == {"claimflow_a_bucket", "up", "process_open_fds", "process_max_fds"}
    assert metric_names("label_values(process_start_time_seconds{job='x'}, namespace)") == {
        "process_start_time_seconds"
    }


# --- what the dashboards and alerts use ---------------------------------------------------


def _dashboards() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))}


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def _dashboard_queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for panel in _panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            yield f"${variable['name']}", query["query"] if isinstance(query, dict) else query


def _alert_rules() -> list[dict[str, Any]]:
    rule_file = yaml.safe_load(ALERTS.read_text())
    return [rule for group in rule_file["spec"]["groups"] for rule in group["rules"]]


def test_every_metric_a_dashboard_uses_is_exported(exported: dict[str, set[str]]) -> None:
    known = set().union(*exported.values()) | PROMETHEUS_SERIES
    dashboards = _dashboards()
    assert dashboards, f"no dashboard in {DASHBOARDS}"
    unknown = {
        f"{name}: {where}: {metric}"
        for name, dashboard in dashboards.items()
        for where, expr in _dashboard_queries(dashboard)
        for metric in metric_names(expr) - known
    }
    assert not unknown, "\n".join(sorted(unknown))


def test_every_metric_an_alert_uses_is_exported(exported: dict[str, set[str]]) -> None:
    known = set().union(*exported.values()) | PROMETHEUS_SERIES
    unknown = {
        f"{rule['alert']}: {metric}"
        for rule in _alert_rules()
        for metric in metric_names(rule["expr"]) - known
    }
    assert not unknown, "\n".join(sorted(unknown))


def test_every_role_exports_its_process_metrics(exported: dict[str, set[str]]) -> None:
    for role, names in exported.items():
        for metric in ("process_cpu_seconds_total", "process_resident_memory_bytes"):
            assert metric in names, f"{role} does not export {metric}"


def test_the_dashboard_covers_every_role(exported: dict[str, set[str]]) -> None:
    used = {
        metric
        for dashboard in _dashboards().values()
        for _, expr in _dashboard_queries(dashboard)
        for metric in metric_names(expr)
    }
    for role in ("receiver", "router"):
        own = {name for name in exported[role] if name.startswith(f"claimflow_{role}_")}
        assert used & own, f"no panel shows the {role}"
    for needed in (
        "claimflow_receiver_requests_total",  # accepted and rejected by reason
        "claimflow_receiver_publish_seconds_bucket",  # publish latency
        "claimflow_router_transaction_seconds_count",  # router transactions
        "claimflow_router_transactions_total",  # ... by outcome
        "claimflow_router_consumer_lag",  # router lag
        "claimflow_ledger_payments_total",  # ledger outcomes
        "claimflow_ledger_parked_payments",  # the review queue
        "claimflow_followup_requests",  # follow-ups by state
        "claimflow_partner_budget_remaining",  # partner budget left
        "claimflow_handler_processed_total",  # ledger and follow-up outcomes
        "claimflow_handler_consumer_lag",
        "claimflow_partner_requests_total",  # partner calls and errors
        "claimflow_partner_token_fetches_total",  # token refreshes
        "process_cpu_seconds_total",
    ):
        assert needed in used, f"no panel uses {needed}"


def test_dashboards_are_importable_grafana_json() -> None:
    uids = set()
    for name, dashboard in _dashboards().items():
        assert dashboard["uid"] not in uids, f"{name}: uid {dashboard['uid']} used twice"
        uids.add(dashboard["uid"])
        variables = {variable["name"] for variable in dashboard["templating"]["list"]}
        assert "datasource" in variables, f"{name}: choose the Prometheus data source"
        ids = [panel["id"] for panel in _panels(dashboard["panels"])]
        assert len(ids) == len(set(ids)), f"{name}: panel ids repeat"
        for panel in _panels(dashboard["panels"]):
            if panel["type"] == "row":
                continue
            assert panel["targets"], f"{name}: {panel['title']} has no query"
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert panel.get("description") is not None, panel["title"]


def test_alerts_have_a_severity_and_say_what_to_do() -> None:
    names = [rule["alert"] for rule in _alert_rules()]
    assert len(names) == len(set(names))
    for rule in _alert_rules():
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert rule["annotations"]["description"], rule["alert"]


def test_the_dashboards_ship_as_a_config_map_grafana_picks_up(
    resources: list[Resource],
) -> None:
    labelled = [
        config_map
        for config_map in of_kind(resources, "ConfigMap")
        if config_map["metadata"].get("labels", {}).get(DASHBOARD_LABEL) == "1"
    ]
    assert len(labelled) == 1
    data = labelled[0]["data"]
    assert set(data) == {path.name for path in Path(DASHBOARDS).glob("*.json")}
    for name, text in data.items():
        assert json.loads(text) == _dashboards()[name]
    assert of_kind(resources, "PrometheusRule"), "the alerts are not deployed"

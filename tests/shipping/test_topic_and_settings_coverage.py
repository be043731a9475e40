"""The manifests agree with the code: every topic of the contract has a KafkaTopic, every worker
scales on the topics it reads, and every setting is configured (ConfigMap) or referenced
(Secret). These walk the code's own lists, so a topic or setting added later is checked too."""

from __future__ import annotations

import os
from typing import Any

import pytest
from pydantic import SecretStr
from shipping_support import (
    ALL_INTERFACES,
    Resource,
    containers,
    is_optional,
    of_kind,
    secret_refs,
    setting_fields,
    settings_values,
    unset_settings,
)

from claimflow.settings import Settings
from handlers.runtime.runner import consumer_group
from router.topic_admin import topic_config
from router.topics import HANDLER_NAMES, TopicSet, all_topic_names
from worklist.messages import WorklistTopics

# What each worker reads, by TopicSet attribute (router/topics.py); the handler runtime adds
# each handler's own retry topic. The router reads the webhooks of both lanes.
HANDLER_INPUTS = {
    "ledger": ("claim_payments", "claim_submissions"),
    "status-check": ("status_check_requests",),
    "attachment": ("attachment_requests",),
}
WEBHOOK_INPUTS = ("webhook_payment_batch", "webhook_claim_submit")
# The secrets each role cannot start without.
ROLE_SECRETS = {
    "receiver": {"CLAIMFLOW_RECEIVER__VERIFICATION_TOKEN", "CLAIMFLOW_KAFKA__SASL_PASSWORD"},
    "router": {"CLAIMFLOW_KAFKA__SASL_PASSWORD"},
    "ledger": {"CLAIMFLOW_KAFKA__SASL_PASSWORD", "CLAIMFLOW_DATABASE__URL"},
    "status-check": {
        "CLAIMFLOW_KAFKA__SASL_PASSWORD",
        "CLAIMFLOW_DATABASE__URL",
        "CLAIMFLOW_INTEGREX__CLIENT_SECRET",
    },
    "attachment": {
        "CLAIMFLOW_KAFKA__SASL_PASSWORD",
        "CLAIMFLOW_DATABASE__URL",
        "CLAIMFLOW_AVAILITY__CLIENT_SECRET",
    },
    "migrations": {"CLAIMFLOW_DATABASE__URL"},
    "worklist": {
        "CLAIMFLOW_DATABASE__URL",
        "CLAIMFLOW_WEB__CLIENT_SECRET",
        "CLAIMFLOW_WEB__SESSION_SECRET",
    },
}
# Integrex's limit and Availity's plan rate, in requests per second for all replicas together.
PARTNER_RATE_LIMITS = {"status-check": ("CLAIMFLOW_INTEGREX__REQUESTS_PER_SECOND", 5.0),
                       "attachment": ("CLAIMFLOW_AVAILITY__REQUESTS_PER_SECOND", 5.0)}  # fmt: skip


def kafka_topics(resources: list[Resource]) -> dict[str, dict[str, Any]]:
    return {t["spec"]["topicName"]: t for t in of_kind(resources, "KafkaTopic")}


def topic_prefix(resources: list[Resource]) -> str:
    return settings_values(resources)["CLAIMFLOW_KAFKA__TOPIC_PREFIX"]


def scaled_objects(resources: list[Resource]) -> dict[str, dict[str, Any]]:
    return {
        so["spec"]["scaleTargetRef"]["name"].removeprefix("claimflow-"): so
        for so in of_kind(resources, "ScaledObject")
    }


def role_of(workload: Resource) -> str:
    role: str = workload["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
    return role


# --- topics ---------------------------------------------------------------------------------


def test_every_topic_of_the_contract_has_a_kafka_topic_and_no_other(
    resources: list[Resource],
) -> None:
    assert set(kafka_topics(resources)) == set(all_topic_names(topic_prefix(resources)))


def test_kafka_topics_carry_the_config_the_code_creates_topics_with(
    resources: list[Resource],
) -> None:
    for name, topic in kafka_topics(resources).items():
        config = {key: str(value) for key, value in topic["spec"]["config"].items()}
        assert topic_config(name).items() <= config.items(), name


def test_an_acknowledged_message_survives_losing_a_broker(resources: list[Resource]) -> None:
    for name, topic in kafka_topics(resources).items():
        replicas = topic["spec"]["replicas"]
        min_insync = int(topic["spec"]["config"]["min.insync.replicas"])
        # acks=all waits for min.insync replicas; one broker down still leaves that many.
        assert replicas >= 3, name
        assert 2 <= min_insync < replicas, name


def test_kafka_topics_go_to_the_strimzi_cluster_claimflow_talks_to(
    resources: list[Resource],
) -> None:
    [policy] = [
        p
        for p in of_kind(resources, "NetworkPolicy")
        if p["metadata"]["name"] == "claimflow-egress-kafka"
    ]
    [peer] = [peer for rule in policy["spec"]["egress"] for peer in rule["to"]]
    namespace = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
    cluster = peer["podSelector"]["matchLabels"]["strimzi.io/cluster"]
    for topic in of_kind(resources, "KafkaTopic"):
        # The Topic Operator of that cluster watches its own namespace only.
        assert topic["metadata"]["namespace"] == namespace
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == cluster


def test_the_worklist_publishes_only_to_topics_of_the_contract_kept_as_an_audit_trail(
    resources: list[Resource],
) -> None:
    # The ledger's outbox relay publishes the worklist's records: ensure_topics and the
    # KafkaTopic resources must both hold them, or the relay would write to a missing topic.
    prefix = topic_prefix(resources)
    worklist = WorklistTopics(prefix=prefix)
    topics = kafka_topics(resources)
    for name in (worklist.decisions, worklist.access):
        assert name in all_topic_names(prefix)
        assert int(topics[name]["spec"]["config"]["retention.ms"]) >= 90 * 24 * 3600 * 1000
        assert int(topic_config(name)["retention.ms"]) >= 90 * 24 * 3600 * 1000


def test_deduplication_state_is_partitioned_like_the_webhooks_it_deduplicates(
    resources: list[Resource],
) -> None:
    topics = kafka_topics(resources)
    for lane in ("production", "test"):
        names = TopicSet(prefix=topic_prefix(resources), lane=lane)
        seen = topics[names.router_seen_deliveries]["spec"]["partitions"]
        for attribute in WEBHOOK_INPUTS:
            assert topics[getattr(names, attribute)]["spec"]["partitions"] == seen


def test_the_largest_webhook_fits_in_one_kafka_message(resources: list[Resource]) -> None:
    largest = int(settings_values(resources)["CLAIMFLOW_RECEIVER__MAX_BODY_BYTES"])
    topics = kafka_topics(resources)
    for lane in ("production", "test"):
        names = TopicSet(prefix=topic_prefix(resources), lane=lane)
        for name in (*(getattr(names, a) for a in WEBHOOK_INPUTS), names.router_dead_letter):
            assert int(topics[name]["spec"]["config"]["max.message.bytes"]) > largest, name


# --- scaling on lag -------------------------------------------------------------------------


def _triggers(scaled: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (t["metadata"]["consumerGroup"], t["metadata"]["topic"]) for t in scaled["spec"]["triggers"]
    }


def test_the_router_scales_on_the_lag_of_both_lanes_webhook_topics(
    resources: list[Resource],
) -> None:
    group = settings_values(resources)["CLAIMFLOW_ROUTER__GROUP_ID"]
    expected = {
        (group, getattr(TopicSet(prefix=topic_prefix(resources), lane=lane), attribute))
        for lane in ("production", "test")
        for attribute in WEBHOOK_INPUTS
    }
    assert _triggers(scaled_objects(resources)["router"]) == expected


def test_each_handler_scales_on_the_lag_of_the_topics_it_reads(resources: list[Resource]) -> None:
    lane = settings_values(resources)["CLAIMFLOW_HANDLERS__LANE"]
    assert lane in ("production", "test")
    names = TopicSet(prefix=topic_prefix(resources), lane=lane)  # type: ignore[arg-type]
    assert set(HANDLER_INPUTS) == set(HANDLER_NAMES)
    for handler, attributes in HANDLER_INPUTS.items():
        topics = [getattr(names, attribute) for attribute in attributes]
        topics.append(names.handler_retry(handler))
        expected = {(consumer_group(handler), topic) for topic in topics}
        assert _triggers(scaled_objects(resources)[handler]) == expected, handler


def test_production_handlers_read_the_production_lane(
    overlay: str, resources: list[Resource]
) -> None:
    if overlay == "production":
        assert settings_values(resources)["CLAIMFLOW_HANDLERS__LANE"] == "production"


def test_no_worker_scales_past_the_partitions_it_can_consume(resources: list[Resource]) -> None:
    topics = kafka_topics(resources)
    for role, scaled in scaled_objects(resources).items():
        partitions = [topics[topic]["spec"]["partitions"] for _, topic in _triggers(scaled)]
        assert scaled["spec"]["maxReplicaCount"] <= max(partitions), role


def test_partner_handlers_stay_within_the_partners_rate_limits(resources: list[Resource]) -> None:
    settings = settings_values(resources)
    for role, (setting, limit) in PARTNER_RATE_LIMITS.items():
        most = scaled_objects(resources)[role]["spec"]["maxReplicaCount"]
        assert most * float(settings[setting]) <= limit, role


# --- settings -------------------------------------------------------------------------------


def test_every_setting_is_in_the_configmap_or_comes_from_a_secret(
    resources: list[Resource],
) -> None:
    configured = set(settings_values(resources)) | unset_settings(resources)
    referenced = {name for _, container in containers(resources) for name in secret_refs(container)}
    missing = []
    for setting in setting_fields():
        where = referenced if setting.secret else configured
        if setting.env not in where:
            missing.append(setting.env)
    assert missing == []


def test_secrets_never_sit_in_the_configmap_or_in_a_literal_value(
    resources: list[Resource],
) -> None:
    secrets = {setting.env for setting in setting_fields() if setting.secret}
    assert not secrets & set(settings_values(resources))
    assert of_kind(resources, "Secret") == [], "Secrets are created by ops, never committed"
    for _, container in containers(resources):
        for variable in container.get("env", []):
            if variable["name"] in secrets:
                assert "value" not in variable, variable["name"]


def test_the_configmap_holds_only_real_settings(resources: list[Resource]) -> None:
    known = {setting.env for setting in setting_fields()}
    assert set(settings_values(resources)) - known == set()


def test_only_optional_settings_are_left_unset(resources: list[Resource]) -> None:
    fields = {setting.env: setting for setting in setting_fields()}
    for name in unset_settings(resources):
        assert name in fields, f"{name} is not a setting"
        assert is_optional(fields[name].field), f"{name} has no None default to fall back to"
        assert name not in settings_values(resources)


def test_the_configmap_is_valid_for_the_settings_model(
    resources: list[Resource], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [name for name in os.environ if name.startswith("CLAIMFLOW_")]:
        monkeypatch.delenv(name)
    for name, value in settings_values(resources).items():
        monkeypatch.setenv(name, value)
    for setting in setting_fields():
        if setting.secret:
            monkeypatch.setenv(setting.env, "from-a-secret")
    settings = Settings()
    assert isinstance(settings.database.url, SecretStr)
    assert settings.handlers.health_host == ALL_INTERFACES


def test_each_role_gets_the_secrets_it_needs_and_no_others(resources: list[Resource]) -> None:
    for workload, container in containers(resources):
        role = role_of(workload)
        assert set(secret_refs(container)) == ROLE_SECRETS[role], role

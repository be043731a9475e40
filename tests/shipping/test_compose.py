"""docker-compose.yml brings up what the README's local stack runs, from the one image.

No Docker engine runs in the test suite, so these tests check the file's structure and that
it agrees with the code (commands, settings) and with the README (ports, lane).
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from shipping_support import REPO, TMP, setting_fields

ROLES = {
    "receiver": ["serve"],
    "router": ["route"],
    "ledger": ["handle", "ledger"],
    "status-check": ["handle", "status-check"],
    "attachment": ["handle", "attachment"],
}
ONE_SHOTS = {"topics": ["topics", "create"], "migrations": ["db", "upgrade"]}
# Dev tooling runs from the Dockerfile's `dev` target; the production image does not hold it.
DEV_TOOLING = {"topics", "integrex-sandbox", "availity-sandbox"}
DEV_BUILD = {"context": ".", "target": "dev"}
SERVICE_KEYS = {
    "image", "build", "command", "environment", "ports", "volumes", "depends_on", "healthcheck",
    "restart", "read_only", "tmpfs", "cap_drop", "security_opt",
}  # fmt: skip
DEPENDENCY_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def test_compose_file_uses_only_known_top_level_and_service_keys(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    assert set(compose) <= {"name", "services", "volumes", "networks"} | {
        key for key in compose if key.startswith("x-")
    }
    for name, service in services.items():
        assert set(service) <= SERVICE_KEYS, name
        assert "image" in service, name


def test_every_role_runs_from_the_project_image_with_its_command(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, command in {**ROLES, **ONE_SHOTS}.items():
        service = services[name]
        assert service["build"] == (DEV_BUILD if name in DEV_TOOLING else "."), name
        assert service["command"][: len(command)] == command, name
    assert len({services[name]["image"] for name in ROLES}) == 1


def test_only_the_dev_tooling_runs_from_the_dev_target(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        if name in DEV_TOOLING:
            assert service["build"] == DEV_BUILD, name
            assert service["command"][0] in ("topics", "sandbox"), name
        elif "build" in service:
            assert service["build"] == ".", name


def test_kafka_and_postgresql_are_pinned_upstream_images(
    services: dict[str, dict[str, Any]],
) -> None:
    assert services["kafka"]["image"].startswith("apache/kafka:3.")
    assert services["postgres"]["image"].startswith("postgres:")
    for service in services.values():
        tag = service["image"].rpartition(":")[2]
        assert tag, service["image"]
        assert tag != "latest", service["image"]


def test_roles_start_after_topics_exist_and_migrations_ran(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in ROLES:
        depends = services[name]["depends_on"]
        assert depends["topics"]["condition"] == "service_completed_successfully"
        if name not in ("receiver", "router"):
            assert depends["migrations"]["condition"] == "service_completed_successfully"
    for service in services.values():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services
            assert condition["condition"] in DEPENDENCY_CONDITIONS
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], dependency


def test_every_environment_variable_is_a_real_setting(
    services: dict[str, dict[str, Any]],
) -> None:
    known = {field.env for field in setting_fields()}
    for name, service in services.items():
        for variable in service.get("environment", {}):
            if variable.startswith("CLAIMFLOW_"):
                assert variable in known, f"{name}: {variable} is not a setting"


def test_the_ports_and_lane_match_the_readme_local_stack(
    services: dict[str, dict[str, Any]],
) -> None:
    readme = (REPO / "README.md").read_text()
    assert "http://127.0.0.1:8080/webhooks/redox" in readme
    assert "127.0.0.1:9092" in readme
    assert "127.0.0.1:8080:8080" in services["receiver"]["ports"]
    assert "127.0.0.1:9092:9092" in services["kafka"]["ports"]
    # The README's sample is Meta.Test traffic: the handlers must read the test lane.
    assert services["ledger"]["environment"]["CLAIMFLOW_HANDLERS__LANE"] == "test"


def test_claimflow_containers_are_locked_down(services: dict[str, dict[str, Any]]) -> None:
    for name in {**ROLES, **ONE_SHOTS}:
        service = services[name]
        assert service["read_only"] is True
        assert service["cap_drop"] == ["ALL"]
        assert TMP in service["tmpfs"]


def test_published_ports_bind_to_loopback_only(services: dict[str, dict[str, Any]]) -> None:
    for service in services.values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), port

"""docs/operations.md is enough to deploy: it names every setting and every Secret the
manifests reference, and every file it points to exists."""

from __future__ import annotations

import re

import pytest
from shipping_support import REPO, Resource, containers, setting_fields

GUIDE = REPO / "docs" / "operations.md"


@pytest.fixture(scope="module")
def guide() -> str:
    return GUIDE.read_text()


def test_every_setting_is_documented(guide: str) -> None:
    missing = [s.env for s in setting_fields() if f"`{s.env}`" not in guide]
    assert missing == []


def test_every_secret_the_manifests_reference_is_documented_with_its_keys(
    guide: str, resources: list[Resource]
) -> None:
    referenced: set[tuple[str, str]] = set()
    for workload, container in containers(resources):
        for variable in container.get("env", []):
            ref = variable.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                referenced.add((ref["name"], ref["key"]))
        for volume in workload["spec"]["template"]["spec"].get("volumes", []):
            if "secret" in volume:
                referenced.add((volume["secret"]["secretName"], "ca.crt"))
    for auth in (r for r in resources if r["kind"] == "TriggerAuthentication"):
        referenced |= {(ref["name"], ref["key"]) for ref in auth["spec"]["secretTargetRef"]}
    secrets_table = guide[guide.index("| Secret | keys | used by |") :]
    for name, key in referenced:
        row = next(line for line in secrets_table.splitlines() if line.startswith(f"| `{name}` |"))
        assert f"`{key}`" in row, (name, key)


def test_every_file_the_guide_links_to_exists(guide: str) -> None:
    for target in re.findall(r"\]\((\.\./[^)#]+)\)", guide):
        assert (GUIDE.parent / target).resolve().exists(), target


def test_every_production_placeholder_is_in_a_file_the_guide_says_to_edit(guide: str) -> None:
    production = REPO / "k8s" / "overlays" / "production"
    with_placeholders = [
        path
        for path in production.rglob("*")
        if path.is_file() and "REPLACE-WITH" in path.read_text()
    ]
    assert with_placeholders, "nothing to fill in? then drop this test and the guide's step"
    for path in with_placeholders:
        assert f"`{path.relative_to(REPO)}`" in guide, path

"""What the shipping tests share: rendering the k8s/ overlays and validating what comes out.

Everything here runs offline: kustomize is the pinned build ``scripts/bootstrap`` puts in the
cache, the Kubernetes schemas ship with kubernetes-validate, and the schemas of the custom
resources (KEDA, Strimzi, Prometheus Operator) are kept in k8s/schemas/.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import typing
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from claimflow.settings import Settings

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
OVERLAYS = sorted(path.name for path in (K8S / "overlays").iterdir() if path.is_dir())
SCHEMAS = K8S / "schemas"

# Validated against the oldest Kubernetes release claimflow supports (docs/operations.md) and
# the newest one kubernetes-validate ships: a field or API that either lacks is an error.
OLDEST_SUPPORTED_KUBERNETES = "1.31"
KUBERNETES_VERSIONS = (OLDEST_SUPPORTED_KUBERNETES, kubernetes_validate.latest_version())

Resource = dict[str, Any]

# Pods listen on their own IP, and /tmp is the one writable path of a read-only root.
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - what the manifests must set, not a bind
TMP = "/tmp"  # noqa: S108 - the mount path the manifests must use, not a temp file


def cache_dir() -> Path:
    return Path(os.environ.get("CLAIMFLOW_CACHE_DIR", Path.home() / ".cache" / "claimflow"))


def kustomize() -> Path:
    path = cache_dir() / "bin" / "kustomize"
    if not path.exists():
        raise AssertionError(f"{path} is missing: run scripts/bootstrap (it builds kustomize)")
    return path


def pinned_kustomize_version() -> str:
    found = re.search(
        r"^kustomize_version=(\S+)$", (REPO / "scripts" / "bootstrap").read_text(), re.M
    )
    assert found, "scripts/bootstrap pins no kustomize_version"
    return found.group(1)


def render(directory: Path) -> list[Resource]:
    """``kustomize build`` of a directory, as a list of resources."""
    result = subprocess.run(
        [str(kustomize()), "build", str(directory)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, f"kustomize build {directory} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


# --- schema validation --------------------------------------------------------------------


def _crd_schema_file(resource: Resource) -> Path:
    group = resource["apiVersion"].split("/")[0].split(".")[0]
    version = resource["apiVersion"].split("/")[-1]
    return SCHEMAS / f"{resource['kind'].lower()}-{group}-{version}.json"


def is_custom_resource(resource: Resource) -> bool:
    group = resource["apiVersion"].rpartition("/")[0]
    return "." in group and not group.endswith(".k8s.io")


def schema_errors(resource: Resource, kubernetes_version: str) -> list[str]:
    """Why ``resource`` is invalid; a resource no schema covers is an error, not a warning."""
    name = f"{resource.get('kind')}/{resource.get('metadata', {}).get('name')}"
    if is_custom_resource(resource):
        path = _crd_schema_file(resource)
        if not path.exists():
            return [f"{name}: no schema for {resource['apiVersion']} in {SCHEMAS}"]
        schema = json.loads(path.read_text())
        validator = jsonschema.Draft202012Validator(
            schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        )
        return [
            f"{name}: {'.'.join(map(str, error.absolute_path))}: {error.message}"
            for error in validator.iter_errors(resource)
        ]
    try:
        kubernetes_validate.validate(resource, kubernetes_version, strict=True)
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [f"{name}: {exc.message}"]
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(map(str, exc.path))
        return [f"{name} (Kubernetes {kubernetes_version}): {where}: {exc.message}"]
    return []


# --- reading rendered manifests -----------------------------------------------------------


def of_kind(resources: list[Resource], kind: str) -> list[Resource]:
    return [resource for resource in resources if resource["kind"] == kind]


def named(resources: list[Resource], kind: str, name: str) -> Resource:
    found = [r for r in of_kind(resources, kind) if r["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def component(resource: Resource) -> str:
    labels = resource["spec"]["template"]["metadata"]["labels"]
    value: str = labels["app.kubernetes.io/component"]
    return value


def pod_spec(resource: Resource) -> dict[str, Any]:
    spec: dict[str, Any] = resource["spec"]["template"]["spec"]
    return spec


def workloads(resources: list[Resource]) -> list[Resource]:
    return [r for r in resources if r["kind"] in ("Deployment", "Job")]


def containers(resources: list[Resource]) -> Iterator[tuple[Resource, dict[str, Any]]]:
    for workload in workloads(resources):
        spec = pod_spec(workload)
        for container in spec.get("initContainers", []) + spec["containers"]:
            yield workload, container


def settings_config_map(resources: list[Resource]) -> Resource:
    found = [
        r
        for r in of_kind(resources, "ConfigMap")
        if r["metadata"]["name"].startswith("claimflow-settings")
    ]
    assert len(found) == 1, f"expected one claimflow-settings ConfigMap, found {len(found)}"
    return found[0]


def settings_values(resources: list[Resource]) -> dict[str, str]:
    data: dict[str, str] = settings_config_map(resources)["data"]
    return data


def unset_settings(resources: list[Resource]) -> set[str]:
    annotations = settings_config_map(resources)["metadata"].get("annotations", {})
    listed = annotations.get("claimflow.io/unset-settings", "")
    return {name.strip() for name in listed.split(",") if name.strip()}


def secret_refs(container: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Environment variables of a container that come from a Secret: name -> (secret, key)."""
    refs: dict[str, tuple[str, str]] = {}
    for variable in container.get("env", []):
        ref = variable.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            refs[variable["name"]] = (ref["name"], ref["key"])
    return refs


# --- the settings model -------------------------------------------------------------------


class SettingField(typing.NamedTuple):
    env: str
    field: FieldInfo
    secret: bool


def _model_of(annotation: Any) -> type[BaseModel] | None:
    for candidate in typing.get_args(annotation) or (annotation,):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in typing.get_args(annotation)


def setting_fields(
    model: type[BaseModel] = Settings, prefix: str = "CLAIMFLOW_"
) -> list[SettingField]:
    """Every leaf setting of ``Settings`` with its environment variable, walking nested groups."""
    fields: list[SettingField] = []
    for name, field in model.model_fields.items():
        nested = _model_of(field.annotation)
        if nested is not None:
            fields.extend(setting_fields(nested, f"{prefix}{name.upper()}__"))
        else:
            fields.append(
                SettingField(f"{prefix}{name.upper()}", field, _is_secret(field.annotation))
            )
    return fields


def is_optional(field: FieldInfo) -> bool:
    return field.default is None and type(None) in typing.get_args(field.annotation)


def as_number(value: str) -> Decimal:
    return Decimal(value)

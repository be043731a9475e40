"""Fixtures of the shipping tests: every overlay of k8s/ rendered once per session."""

from __future__ import annotations

import pytest
from shipping_support import K8S, OVERLAYS, Resource, render


@pytest.fixture(scope="session")
def rendered_overlays() -> dict[str, list[Resource]]:
    return {overlay: render(K8S / "overlays" / overlay) for overlay in OVERLAYS}


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def resources(overlay: str, rendered_overlays: dict[str, list[Resource]]) -> list[Resource]:
    """The rendered resources of one overlay (each test runs once per overlay)."""
    return rendered_overlays[overlay]

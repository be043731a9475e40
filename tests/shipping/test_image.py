"""The production image, built from the Dockerfile without a Docker engine, and run.

scripts/build-image makes the base with debootstrap (cached under ~/.cache/claimflow) and builds
the Dockerfile on it with buildah; the roles then run in the image with ``buildah run`` (chroot
isolation, the host's network) against the session's Kafka broker, on topics of their own.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from shipping_support import REPO

from claimflow.devstack.kafka import KafkaBroker, free_port
from router.topic_admin import ensure_topics
from sandboxes.redox_sender import RedoxSender, load_sample

pytestmark = [
    pytest.mark.slow,
    pytest.mark.kafka,
    # A cold build (debootstrap, then every stage) takes minutes; a warm one about two.
    pytest.mark.timeout(1800),
    pytest.mark.skipif(
        os.geteuid() != 0, reason="debootstrap and buildah's chroot isolation need root"
    ),
]

TAG = "localhost/claimflow:smoke-test"
BUILDAH = REPO / "scripts" / "buildah"
NON_ROOT_UID = 10001
TOKEN = "image-smoke-verification-token"
# Topics and groups of their own, so that the other tests' consumers never see these records.
PREFIX = "claimflow-image-smoke."
STOP_SECONDS = 30  # terminationGracePeriodSeconds of the manifests

# What the production image must not hold: the dev tooling, the tests, the dev dependencies
# (pyproject's dev group) and anything that builds or installs.
ABSENT_MODULES = [
    "sandboxes", "claimflow.devstack", "tests", "pip", "setuptools", "pytest", "hypothesis",
    "mypy", "ruff", "jsonschema", "kubernetes_validate", "yamllint", "checkov", "uv",
]  # fmt: skip
ABSENT_COMMANDS = ["pip", "pip3", "uv", "gcc", "cc", "c++", "make", "git"]
ABSENT_PATHS = ["/src", "/opt/uv", "/opt/claimflow-dev", "/root/.cache"]

_INSPECT = """
import importlib.util, json, pathlib, shutil, sys
def found(name):
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False
modules, commands, paths = json.loads(sys.argv[1])
print(json.dumps({
    "modules": [m for m in modules if found(m)],
    "commands": [c for c in commands if shutil.which(c)],
    "paths": [p for p in paths if pathlib.Path(p).exists()],
}))
"""


def buildah(*args: str, timeout: float = 120) -> str:
    result = subprocess.run(
        [str(BUILDAH), *args], capture_output=True, text=True, check=False, timeout=timeout
    )
    assert result.returncode == 0, f"buildah {' '.join(args)}:\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def image() -> str:
    started = time.monotonic()
    result = subprocess.run(
        [str(REPO / "scripts" / "build-image"), TAG],
        capture_output=True,
        text=True,
        check=False,
        timeout=1500,
    )
    assert result.returncode == 0, f"scripts/build-image failed:\n{result.stderr[-6000:]}"
    print(f"\nimage {TAG} built in {time.monotonic() - started:.0f} s")
    return TAG


@pytest.fixture(scope="module")
def container(image: str) -> Iterator[str]:
    """A working container of the image; every ``buildah run`` shares its file system."""
    name = f"claimflow-smoke-{uuid.uuid4().hex[:8]}"
    buildah("from", "--name", name, image)
    yield name
    buildah("rm", name)


def run_in(
    container: str, *argv: str, env: dict[str, str] | None = None, user: str | None = None
) -> list[str]:
    """The ``buildah run`` command line of ``argv`` in the container (as its USER by default)."""
    command = [str(BUILDAH), "run", "--isolation", "chroot", "--network", "host"]
    if user is not None:
        command += ["--user", user]
    for key, value in (env or {}).items():
        command += ["--env", f"{key}={value}"]
    return [*command, container, "--", *argv]


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _descendants(pid: int) -> Iterator[int]:
    for child in _children(pid):
        yield child
        yield from _descendants(child)


@dataclass
class Role:
    """One ``claimflow`` command running in the image."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def pid(self) -> int:
        """The claimflow process itself (buildah runs it a few processes down)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for pid in _descendants(self.process.pid):
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                # Not buildah's own chroot-runtime and chroot-exec between them.
                if cmdline[0].startswith(b"buildah"):
                    continue
                if any(part.endswith(b"/claimflow") for part in cmdline):
                    return pid
            assert self.process.poll() is None, f"{self.name} exited:\n{self.output()}"
            time.sleep(0.2)
        raise AssertionError(f"no claimflow process under {self.name}")

    def uid(self) -> int:
        status = Path(f"/proc/{self.pid()}/status").read_text()
        found = re.search(r"^Uid:\s+(\d+)", status, re.M)
        assert found
        return int(found.group(1))

    def terminate(self) -> str:
        """SIGTERM to claimflow, as Kubernetes sends it; how it ended."""
        os.kill(self.pid(), signal.SIGTERM)
        try:
            status = self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(
                f"{self.name} did not stop within {STOP_SECONDS} s:\n{self.output()}"
            ) from None
        if status == 0:
            return "exit 0"
        # buildah answers 1 for any other end and says which one it was.
        if "subprocess exited on terminated" in self.output():
            return "SIGTERM"
        return f"exit status {status}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]


StartRole = Callable[..., Role]


@pytest.fixture
def start_role(container: str, tmp_path: Path) -> Iterator[StartRole]:
    started: list[Role] = []

    def start(name: str, *argv: str, env: dict[str, str]) -> Role:
        log = tmp_path / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                run_in(container, "claimflow", *argv, env=env), stdout=out, stderr=out
            )
        role = Role(name, process, log)
        started.append(role)
        return role

    yield start
    for role in started:
        if role.process.poll() is None:
            role.process.kill()
            role.process.wait()


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_for(role: Role, url: str, status: int = 200, seconds: float = 90) -> str:
    deadline = time.monotonic() + seconds
    last: object = None
    while time.monotonic() < deadline:
        assert role.process.poll() is None, f"{role.name} exited:\n{role.output()}"
        try:
            code, body = http_get(url)
        except OSError as exc:
            last = exc
        else:
            if code == status:
                return body
            last = (code, body)
        time.sleep(0.5)
    raise AssertionError(f"{url}: {last}\n{role.output()}")


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples with ``labels`` in a Prometheus exposition."""
    total = 0.0
    for line in text.splitlines():
        sample, _, value = line.rpartition(" ")
        if sample.partition("{")[0] != name:
            continue
        if all(f'{key}="{want}"' in sample for key, want in labels.items()):
            total += float(value)
    return total


def wait_for_metric(role: Role, url: str, name: str, **labels: str) -> str:
    deadline = time.monotonic() + 90
    while True:
        text = wait_for(role, url)
        if metric(text, name, **labels) >= 1:
            return text
        assert time.monotonic() < deadline, f"{name}{labels} never counted:\n{role.output()}"
        time.sleep(1)


def test_the_image_holds_no_dev_tooling_tests_or_build_tools(image: str, container: str) -> None:
    listing = json.dumps([ABSENT_MODULES, ABSENT_COMMANDS, ABSENT_PATHS])
    # As root, to see every path; the roles themselves run as the image's user (below).
    inspect = run_in(container, "python3", "-c", _INSPECT, listing, user="0:0")
    result = subprocess.run(inspect, capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found == {"modules": [], "commands": [], "paths": []}
    assert buildah("run", "--isolation", "chroot", container, "--", "id", "-u").strip() == str(
        NON_ROOT_UID
    )
    size = buildah("images", "--format", "{{.Size}}", image).strip()
    print(f"\nimage {image}: {size}")
    number, unit = size.split()
    assert unit == "MB"
    assert float(number) < 350, f"the image grew to {size}"


def test_every_role_runs_as_non_root_carries_the_sample_and_stops_on_sigterm(
    container: str, start_role: StartRole, kafka_broker: KafkaBroker
) -> None:
    start = start_role
    asyncio.run(ensure_topics(kafka_broker.bootstrap_servers, prefix=PREFIX, partitions=1))
    receiver_port, router_port, ledger_port = free_port(), free_port(), free_port()
    env = {
        "CLAIMFLOW_KAFKA__BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,
        "CLAIMFLOW_KAFKA__TOPIC_PREFIX": PREFIX,
        "CLAIMFLOW_RECEIVER__HOST": "127.0.0.1",
        "CLAIMFLOW_RECEIVER__PORT": str(receiver_port),
        "CLAIMFLOW_RECEIVER__VERIFICATION_TOKEN": TOKEN,
        "CLAIMFLOW_ROUTER__GROUP_ID": f"{PREFIX}router",
        "CLAIMFLOW_ROUTER__TRANSACTIONAL_ID_PREFIX": f"{PREFIX}router",
        "CLAIMFLOW_HANDLERS__HEALTH_HOST": "127.0.0.1",
        "CLAIMFLOW_HANDLERS__LANE": "test",  # Redox's sample is Meta.Test traffic
        "CLAIMFLOW_DATABASE__URL": "sqlite+aiosqlite:////tmp/claimflow-ledger.db",
    }
    migrate = subprocess.run(
        run_in(container, "claimflow", "db", "upgrade", env=env),
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr

    # serve: the probes, then Redox's sample as Redox sends it.
    receiver = start("serve", "serve", env=env)
    base = f"http://127.0.0.1:{receiver_port}"
    wait_for(receiver, f"{base}/healthz")
    wait_for(receiver, f"{base}/readyz")
    assert receiver.uid() == NON_ROOT_UID

    async def deliver() -> int | None:
        async with RedoxSender(token=TOKEN, max_attempts=1) as sender:
            delivery = await sender.deliver(
                f"{base}/webhooks/redox", load_sample(), fresh_log_id=True
            )
        return delivery.status

    assert asyncio.run(deliver()) == 200
    exposition = wait_for(receiver, f"{base}/metrics")
    assert metric(exposition, "claimflow_receiver_requests_total", outcome="accepted") == 1
    assert metric(exposition, "process_cpu_seconds_total") > 0

    # route and handle ledger: the sample reaches the ledger through the claim topics.
    router = start(
        "route", "route", env={**env, "CLAIMFLOW_HANDLERS__HEALTH_PORT": str(router_port)}
    )
    ledger = start(
        "handle-ledger",
        "handle",
        "ledger",
        env={**env, "CLAIMFLOW_HANDLERS__HEALTH_PORT": str(ledger_port)},
    )
    for role, port, counted in (
        (router, router_port, "claimflow_router_claim_messages_total"),
        (ledger, ledger_port, "claimflow_handler_processed_total"),
    ):
        wait_for(role, f"http://127.0.0.1:{port}/healthz")
        exposition = wait_for_metric(role, f"http://127.0.0.1:{port}/metrics", counted)
        assert metric(exposition, "process_resident_memory_bytes") > 0
        assert role.uid() == NON_ROOT_UID

    # route and handle ledger drain, commit and return 0. serve's uvicorn shuts down the app
    # and then ends by the SIGTERM it caught (exit status 143 to Kubernetes), as uvicorn does.
    assert router.terminate() == "exit 0", router.output()
    assert ledger.terminate() == "exit 0", ledger.output()
    assert receiver.terminate() in ("exit 0", "SIGTERM"), receiver.output()
    assert "Application shutdown complete." in receiver.output()
    for role in (router, ledger, receiver):
        assert "Traceback" not in role.output(), role.output()

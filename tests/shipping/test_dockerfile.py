"""The Dockerfile builds one slim, non-root image for every role from the lock file.

Hadolint and these structural checks are quick; test_image.py builds the image (without a
Docker engine) and runs it.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from shipping_support import REPO

DOCKERFILE = REPO / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    pairs = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            instruction, _, arguments = stripped.partition(" ")
            pairs.append((instruction.upper(), arguments.strip()))
    return pairs


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction, arguments in _instructions():
        if instruction == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((instruction, arguments))
    return stages


def _stage_name(stage: list[tuple[str, str]]) -> str:
    words = stage[0][1].split()
    return words[2] if len(words) == 3 and words[1].upper() == "AS" else ""


def _final_stage() -> list[tuple[str, str]]:
    """The default target's instructions, those it inherits from earlier stages first."""
    by_name = {_stage_name(stage): stage for stage in _stages()}
    stage = _stages()[-1]
    chain = [stage]
    while stage[0][1].split()[0] in by_name:
        stage = by_name[stage[0][1].split()[0]]
        chain.insert(0, stage)
    return [pair for part in chain for pair in part]


def test_dockerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    result = subprocess.run(
        [str(hadolint), "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_stage_is_a_version_pinned_slim_python_311() -> None:
    arguments = dict(
        arg.split("=", 1)
        for instruction, arg in _instructions()
        if instruction == "ARG" and "=" in arg
    )
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", arguments["PYTHON_IMAGE"])
    earlier: set[str] = set()
    for stage in _stages():
        assert stage[0][1].split()[0] in {"${PYTHON_IMAGE}"} | earlier, stage[0]
        earlier.add(_stage_name(stage))


def test_the_default_target_is_the_production_runtime() -> None:
    assert _stage_name(_stages()[-1]) == "runtime"


def test_dependencies_are_installed_from_the_lock_file_without_dev_tools() -> None:
    runs = [arguments for instruction, arguments in _instructions() if instruction == "RUN"]
    syncs = [run for run in runs if "uv sync" in run]
    assert syncs
    for sync in syncs:
        assert "--frozen" in sync
        assert "--no-dev" in sync
    assert re.search(r"pip install --no-cache-dir uv==\d+\.\d+\.\d+", " ".join(runs))
    copies = [arguments for instruction, arguments in _instructions() if instruction == "COPY"]
    assert "pyproject.toml uv.lock ./" in copies


def test_the_wheel_leaves_the_dev_tooling_out(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    assert uv, "uv is missing: run scripts/bootstrap"
    result = subprocess.run(
        [uv, "build", "--wheel", "--quiet", "--out-dir", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("claimflow-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for part in ("claimflow/cli.py", "receiver/app.py", "router/stage.py", "handlers/cli.py"):
        assert part in names, part
    for name in names:
        assert not name.startswith(("sandboxes/", "claimflow/devstack/", "tests/")), name


def test_every_package_of_the_wheel_is_copied_and_allowed_by_dockerignore() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    copies = [arguments for instruction, arguments in _instructions() if instruction == "COPY"]
    allowed = {line[1:].rstrip("/") for line in _dockerignore() if line.startswith("!")}
    for package in packages:
        assert f"{package} ./{package}" in copies, package
        assert package in allowed, package


def test_the_final_image_runs_as_a_non_root_user_without_build_tools() -> None:
    final = _final_stage()
    users = [arguments for instruction, arguments in final if instruction == "USER"]
    assert users, "the final stage sets no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit()
    assert int(uid) >= 10000
    for instruction, arguments in final:
        if instruction == "RUN":
            assert not re.search(r"pip install|apt-get install|uv ", arguments), arguments
        if instruction == "COPY":
            assert arguments.startswith("--from=build "), arguments


@pytest.mark.parametrize("word", ["SECRET", "TOKEN", "PASSWORD", "API_KEY"])
def test_no_secret_is_baked_into_the_image(word: str) -> None:
    for instruction, arguments in _instructions():
        if instruction in ("ENV", "ARG", "LABEL"):
            assert word not in arguments.upper(), arguments


def test_the_entrypoint_is_the_claimflow_command_for_every_role() -> None:
    final = dict(_final_stage())
    assert final["ENTRYPOINT"] == '["claimflow"]'
    assert final["CMD"] == '["serve"]'


def _dockerignore() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_dockerignore_sends_only_what_the_image_needs() -> None:
    patterns = _dockerignore()
    assert patterns[0] == "*", "an allow-list keeps .git, .venv and local secrets out"
    for denied in ("**/.env", "**/__pycache__", "**/*.db", "**/*.pem", "**/*.key"):
        assert denied in patterns
    copied = {
        shlex.split(arguments)[0]
        for instruction, arguments in _instructions()
        if instruction == "COPY" and not arguments.startswith("--from")
    }
    allowed = {line[1:].rstrip("/") for line in patterns if line.startswith("!")}
    assert copied <= allowed | {"pyproject.toml"}

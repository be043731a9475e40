"""``claimflow --version``: the installed package's version, and the git revision in a checkout."""

from __future__ import annotations

import shutil
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

__all__ = ["describe_version"]

_CHECKOUT = Path(__file__).resolve().parent.parent


def _git_revision(checkout: Path) -> str | None:
    """``git describe`` of ``checkout`` when it is a git work tree (never in the image)."""
    git = shutil.which("git")
    if git is None or not (checkout / ".git").exists():
        return None
    try:
        result = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [git, "-C", str(checkout), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    revision = result.stdout.strip()
    return revision if result.returncode == 0 and revision else None


def describe_version() -> str:
    """``claimflow 0.1.0`` or, from a checkout, ``claimflow 0.1.0 (git 1b32fc2a0c1d-dirty)``."""
    try:
        installed = version("claimflow")
    except PackageNotFoundError:
        installed = "unknown"
    revision = _git_revision(_CHECKOUT)
    return f"claimflow {installed}" + (f" (git {revision})" if revision else "")

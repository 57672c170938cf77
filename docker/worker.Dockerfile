# The GPU worker image: CUDA runtime, torch built for CUDA, the sampler extras; the model loads once at start.
# Build from the repository root: docker build -f docker/worker.Dockerfile -t regional-worker .
FROM nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04

ENV DEBIAN_FRONTEND=noninteractive PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 HF_HOME=/cache/huggingface
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app

# torch first, from the CUDA index, so that the sampler extras keep it.
ARG TORCH_SPEC="torch>=2.4"
ARG TORCH_INDEX=https://download.pytorch.org/whl/cu124
RUN pip install --index-url ${TORCH_INDEX} "${TORCH_SPEC}"
COPY pyproject.toml README.md ./
COPY regional ./regional
COPY planner ./planner
COPY api ./api
COPY worker ./worker
RUN pip install ".[sampler,s3]" "prometheus-client>=0.20" \
    && useradd --create-home --uid 10001 app && mkdir -p /cache && chown app /cache
USER app

HEALTHCHECK --interval=30s --timeout=10s --start-period=600s --retries=3 CMD ["python", "-m", "worker", "--check"]
# REGIONAL_MODEL: dev (default on a GPU), schnell, or a local folder mounted into the container.
CMD ["python", "-m", "worker", "--queues", "generate"]

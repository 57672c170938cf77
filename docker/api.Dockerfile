# The API image (also runs the CPU planning worker): no torch, no diffusers, no CUDA.
# Build from the repository root: docker build -f docker/api.Dockerfile -t regional-api .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY regional ./regional
COPY planner ./planner
COPY api ./api
COPY worker ./worker
# Base dependencies only (the API never imports torch); s3fs for RESULTS_URL=s3://...
RUN pip install . "s3fs>=2024.6" "prometheus-client>=0.20" \
    && useradd --create-home --uid 10001 app
USER app

EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"
# Listening on all interfaces needs REGIONAL_API_KEYS: the API refuses to start without keys otherwise.
CMD ["python", "-m", "api", "--host", "0.0.0.0", "--port", "8000"]

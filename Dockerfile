# Multi-stage: build the virtual environment, then copy it into a slim, non-root image.
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY recsys ./recsys
COPY training ./training
COPY serving ./serving
COPY feature_store ./feature_store
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir .

FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 recsys
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    RECSYS_BUNDLE_PATH=/data/bundles \
    RECSYS_EVENTS_PATH=/data/events.jsonl
USER recsys
WORKDIR /home/recsys
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
ENTRYPOINT ["recsys", "serve", "--host", "0.0.0.0", "--port", "8000"]

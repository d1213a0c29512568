# One image for every service; the command picks which (`remit serve <service> --port 8000`).
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.lock requirements-runtime.lock pyproject.toml README.md ./
# The runtime dependencies only (no test tools, no embedded servers: the devstack extra is not
# installed), at the versions `make test` runs.
RUN pip install --no-cache-dir "uv==$(sed -n 's/^uv==\([^ ]*\).*/\1/p' requirements.lock)" \
    && uv pip install --system --no-cache --require-hashes -r requirements-runtime.lock
COPY shared ./shared
COPY services ./services
RUN uv pip install --system --no-cache --no-deps . \
    && useradd --create-home --uid 10001 remit
USER remit
ENV SERVICE=auth HOST=0.0.0.0
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:8000/api/v1/{os.environ[\"SERVICE\"]}/health', timeout=2)"
CMD ["sh", "-c", "exec remit serve \"$SERVICE\" --port 8000"]

# The Accord gateway: `accord serve` on 0.0.0.0:8000. Used by docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    ACCORD_HOST=0.0.0.0 \
    ACCORD_PORT=8000

WORKDIR /app
COPY pyproject.toml README.md ./
COPY agents ./agents
COPY orchestrator ./orchestrator
COPY gateway ./gateway
COPY policies ./policies
RUN pip install . && useradd --create-home --uid 10001 accord

USER accord
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status == 200 else 1)"
CMD ["accord", "serve"]

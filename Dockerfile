# opsbot: one image for every replica. Secrets come from the environment at run time, never from here.
#   docker build -t opsbot .
#   docker run --env-file opsbot.env -p 3000:3000 opsbot serve --http --port 3000
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# The package, the registry, the skills and the scripts the registry points at (BOT_REGISTRY,
# BOT_SKILLS and BOT_SCRIPTS default to these folders next to bot/). Runtime dependencies only,
# at the versions pinned in requirements.lock.
COPY requirements.lock pyproject.toml ./
COPY bot ./bot
COPY registry ./registry
COPY skills ./skills
COPY scripts ./scripts
RUN pip install -c requirements.lock -e . \
    && useradd --system --uid 10001 --home-dir /var/lib/opsbot --create-home opsbot

# BOT_HOME: with BOT_DATABASE_URL set the ledger is in PostgreSQL and this folder is scratch.
ENV BOT_HOME=/var/lib/opsbot HOME=/var/lib/opsbot
USER opsbot
EXPOSE 3000

# Liveness only (no database access): readiness is /readyz, for the load balancer or Kubernetes.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s \
    CMD ["python", "-c", "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:3000/healthz', timeout=2)"]

ENTRYPOINT ["bot"]
CMD ["serve", "--http", "--host", "0.0.0.0", "--port", "3000"]

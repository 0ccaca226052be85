# The hotline service. One image runs every part: `callcenter serve` (web + PBX link, the default), `callcenter
# worker` (timed jobs) and `callcenter simulate` (the PBX simulator, for a demo without Asterisk); compose.yaml
# runs all three beside Valkey. Point it at Redis with REDIS_URL and at Asterisk with CALLCENTER_AMI_HOST and
# CALLCENTER_AMI_SECRET; mount your settings at /app/config.

# The softphone's SIP library: JsSIP from the npm registry, pinned by package-lock.json, bundled into one ES module.
# Node is needed only here; the final image serves the one file.
FROM node:20-slim AS browser-libs
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
RUN mkdir -p callcenter/web/static/vendor && npm run --silent build

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    CALLCENTER_CONFIG=/app/config/callcenter.toml \
    CALLCENTER_HTTP_HOST=0.0.0.0

WORKDIR /app
RUN useradd --system --create-home --home-dir /home/callcenter --uid 10001 callcenter

COPY pyproject.toml README.md ./
COPY callcenter ./callcenter
COPY --from=browser-libs /build/callcenter/web/static/vendor ./callcenter/web/static/vendor
RUN pip install --no-compile . && rm -rf /root/.cache

COPY config ./config
COPY dialplans ./dialplans
# var/pbx (the simulator's queue_log, shared with the service) and var/recordings are volumes in compose.yaml; a
# new named volume takes the owner of the directory it is mounted on, so the non-root user can write them.
RUN mkdir -p /app/var/pbx /app/var/recordings && chown -R callcenter:callcenter /app/var

USER callcenter
VOLUME ["/app/config", "/app/var"]
EXPOSE 8080

# The check follows what the container runs (its main process's command: serve, worker or simulate) and the
# same settings, so CALLCENTER_HTTP_PORT moves it too: serve answers GET /healthz on its own port, a worker is
# registered in its store by a live process, the simulator answers AMI. Exit 1 with a one-line reason.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["callcenter", "healthcheck"]

CMD ["callcenter", "serve"]

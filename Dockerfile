# The hotline service: `callcenter serve` (web + PBX link). Run the worker from the same image with
# `callcenter worker`. Point it at Redis with REDIS_URL and at Asterisk with CALLCENTER_AMI_HOST and
# CALLCENTER_AMI_SECRET; mount your settings at /app/config.
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
RUN pip install --no-compile . && rm -rf /root/.cache

COPY config ./config
COPY dialplans ./dialplans
RUN mkdir -p /app/var && chown -R callcenter:callcenter /app/var

USER callcenter
VOLUME ["/app/config", "/app/var"]
EXPOSE 8080

HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"

CMD ["callcenter", "serve"]

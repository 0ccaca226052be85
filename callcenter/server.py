"""`callcenter serve`: the web service and its background tasks in one asyncio loop."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator

from aiohttp import web

from callcenter.config import Settings
from callcenter.pbx.link import PbxLink
from callcenter.web import hotline
from callcenter.web.accesslog import MaskedAccessLogger
from callcenter.web.app import create_app

log = logging.getLogger(__name__)


def build_service(settings: Settings) -> web.Application:
    """The full service: web app plus every background part, wired by configuration."""
    if not settings.redis.url:
        raise SystemExit("serve needs a Redis URL (REDIS_URL or redis.url); `callcenter run` starts an "
                         "embedded server for you")
    if not settings.ami.host:
        raise SystemExit("serve needs a PBX: set ami.host (or CALLCENTER_AMI_HOST); `callcenter run` starts the "
                         "built-in simulator for you")
    link = PbxLink(settings)

    async def pbx_context(app: web.Application) -> AsyncIterator[None]:
        await link.start()
        yield
        await link.stop()

    app = create_app(settings, redis_url=settings.redis.url, pbx_status=link, extra_contexts=[pbx_context])
    app[hotline.PBX_LINK] = link
    return app


async def serve(settings: Settings, app: web.Application | None = None) -> None:
    app = app or build_service(settings)
    runner = web.AppRunner(app, access_log_class=MaskedAccessLogger, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.http.host, settings.http.port, shutdown_timeout=5.0)
    await site.start()
    log.info("serving", extra={"url": f"http://{settings.http.host}:{settings.http.port}/"})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        await runner.cleanup()
        log.info("stopped")

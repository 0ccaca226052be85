"""The aiohttp application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path

from aiohttp import web

from callcenter import timebase
from callcenter.accounts.lockout import LoginLimiter
from callcenter.accounts.store import AccountStore
from callcenter.cases.model import load_vocabulary
from callcenter.cases.store import CaseStore
from callcenter.config import Settings
from callcenter.hours import WorkingHours
from callcenter.metrics import create_registry, metrics_middleware
from callcenter.storage import connect
from callcenter.web import auth, callbacks, cases, dashboard, docs, health, hotline, ivr, me, reports, softphone, video
from callcenter.web.errors import json_errors_middleware, request_id_middleware
from callcenter.web.keys import CLOCK, HOURS, METRICS_REGISTRY, PBX_STATUS, REDIS, SETTINGS, LinkStatus
from callcenter.web.remote import forwarded_middleware, networks
from callcenter.web.security import content_security_policy, cross_site_middleware, origin_of, security_headers
from callcenter.web.streams import SESSION_CHECK_SECONDS, STAFF_SOCKETS, StaffSockets

# The vocabulary shipped with the package, used when the configured file is not there (tests, a bare install).
DEFAULT_STATUSES = Path(__file__).resolve().parents[2] / "config" / "case_statuses.toml"
CleanupContext = Callable[[web.Application], AsyncIterator[None]]


class NoPbxLink:
    """Readiness answer when the service runs without a PBX link (tests of the web layer alone)."""

    connected = False

    def describe(self) -> str:
        return "no PBX link configured"


def create_app(
    settings: Settings,
    *,
    redis_url: str,
    pbx_status: LinkStatus | None = None,
    extra_contexts: Iterable[CleanupContext] = (),
) -> web.Application:
    registry, http_metrics = create_registry()
    app = web.Application(
        middlewares=[forwarded_middleware(networks(settings.http.trusted_proxies)), request_id_middleware,
                     metrics_middleware(http_metrics), json_errors_middleware,
                     cross_site_middleware(settings.http.allowed_origins), auth.auth_middleware],
        client_max_size=settings.http.max_body_bytes,
    )
    # The operators' softphone registers on the PBX's SIP WebSocket, another origin the policy must name.
    app.on_response_prepare.append(security_headers(content_security_policy(
        [origin_of(settings.softphone.websocket_url)])))
    app[SETTINGS] = settings
    app[STAFF_SOCKETS] = StaffSockets()
    app[SESSION_CHECK_SECONDS] = settings.http.session_check_seconds
    app[CLOCK] = timebase.now
    app[HOURS] = WorkingHours.from_settings(settings.hours, settings.hotline.timezone)
    app[METRICS_REGISTRY] = registry
    app[PBX_STATUS] = pbx_status or NoPbxLink()
    app[docs.OPENAPI_CACHE] = {}
    statuses = Path(settings.cases.statuses_file)
    app[cases.VOCABULARY] = load_vocabulary(statuses if statuses.is_file() else DEFAULT_STATUSES)

    async def redis_context(app: web.Application) -> AsyncIterator[None]:
        client = connect(redis_url)
        app[REDIS] = client
        app[auth.ACCOUNTS] = AccountStore(client, settings.http.session_hours)
        app[auth.LOGIN_LIMITER] = LoginLimiter(client)
        app[cases.CASES] = CaseStore(client, settings.cases)
        yield
        await client.aclose()

    app.cleanup_ctx.append(redis_context)
    app.cleanup_ctx.append(softphone.store_context)
    app.cleanup_ctx.extend(extra_contexts)
    app.cleanup_ctx.append(video.video_context)
    app.add_routes(health.routes)
    app.add_routes(docs.routes)
    app.add_routes(hotline.routes)
    app.add_routes(ivr.routes)
    app.add_routes(callbacks.routes)
    app.add_routes(auth.routes)
    app.add_routes(cases.routes)
    app.add_routes(me.routes)
    app.add_routes(dashboard.routes)
    app.add_routes(video.routes)
    app.add_routes(reports.routes)
    app.add_routes(softphone.routes)
    app.router.add_static("/static", Path(__file__).parent / "static", name="static")
    return app

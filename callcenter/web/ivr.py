"""Answers for the Asterisk dialplan (CURL): `key=value&key=value`, read with the Gosub cc-lib,get.

Accepted with the shared token in `X-IVR-Token` when one is configured (then only with it), else from the
configured PBX addresses when the request did not come through a reverse proxy. Values go out as they
are, because the dialplan uses them as they come (a prompt name `status/decision-due` URL-encoded became
`status%2Fdecision-due`, which Playback could not find); the characters that would confuse the dialplan's
CUT-based reader or its `$[...]` expressions are dropped from values instead.
"""

from __future__ import annotations

import hmac
import math
import re
from datetime import UTC, datetime

from aiohttp import web

from callcenter.hotline.view import ESTIMATE_FRESH_SECONDS, queue_view
from callcenter.web.errors import ApiError
from callcenter.web.hotline import PBX_LINK
from callcenter.web.keys import HOURS, SETTINGS
from callcenter.web.openapi import QueryParam, operation
from callcenter.web.remote import in_networks, networks

routes = web.RouteTableDef()
IVR_TEXT = {"type": "string", "description": "key=value pairs joined by &"}


# `&` and `=` separate pairs, quotes and brackets end or open an expression, `$`, `{`, `}` start a variable,
# a comma splits application arguments, `|` and `^` are argument separators too, and line breaks end the body.
DIALPLAN_UNSAFE = re.compile(r"[&=\"'\[\]$\{\},|^\\\r\n\x00-\x1f]")


def dialplan_value(value: object) -> str:
    return DIALPLAN_UNSAFE.sub("", str(value))


def dialplan_answer(**values: object) -> web.Response:
    body = "&".join(f"{key}={dialplan_value(value)}" for key, value in values.items() if value is not None)
    return web.Response(text=body, content_type="text/plain")


async def dialplan_values(request: web.Request) -> dict[str, str]:
    """The query and the posted form of a dialplan's question, as text. A body aiohttp cannot parse as a form
    (multipart without a boundary, a broken encoding) is the caller's error: 400 with a JSON body."""
    try:
        form = await request.post()
    except (ValueError, AssertionError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_form", f"the body is not a form this endpoint reads: {exc}") from None
    return {**request.query, **{key: value for key, value in form.items() if isinstance(value, str)}}


# Headers a reverse proxy adds: a request carrying one came through a proxy, so its loopback peer address says
# nothing about who sent it.
PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP", "Via", "X-Forwarded-Host")


def check_ivr_access(request: web.Request) -> None:
    """The PBX only. With a token configured (CALLCENTER_IVR_TOKEN; the dialplan sends it in X-IVR-Token),
    the token is required from every address. Without one, the configured PBX addresses are trusted, but only
    for requests that did not pass a reverse proxy: behind nginx on the same host, every request would
    otherwise come from 127.0.0.1."""
    settings = request.app[SETTINGS].ivr
    if settings.token:
        token = request.headers.get("X-IVR-Token", "")
        if token and hmac.compare_digest(token.encode(), settings.token.encode()):
            return
        raise ApiError(403, "not_a_pbx", "IVR endpoints answer the PBX only: send the X-IVR-Token header")
    proxied = [name for name in PROXY_HEADERS if name in request.headers]
    if not proxied and in_networks(request.remote or "", networks(settings.allowed_addresses)):
        return
    raise ApiError(403, "not_a_pbx", "IVR endpoints answer the PBX only: call from an allowed address, directly "
                                     "(not through a proxy), or set CALLCENTER_IVR_TOKEN and send X-IVR-Token")


@routes.get("/api/ivr/hours")
@operation("For the dialplan: open now? next opening and closing (epoch seconds)", tags=["ivr"],
           response_content_type="text/plain",
           responses={200: ("open=1|0&opens_at=EPOCH&closes_at=EPOCH", IVR_TEXT), 403: ("not the PBX", None)})
async def ivr_hours(request: web.Request) -> web.Response:
    check_ivr_access(request)
    hours = request.app[HOURS]
    link = request.app.get(PBX_LINK)
    now = datetime.fromtimestamp(link.now() if link else datetime.now(UTC).timestamp(), UTC)
    closing = hours.closing_time(now)
    opening = hours.next_opening(now)
    return dialplan_answer(open=int(closing is not None),
                           opens_at=int(opening.timestamp()) if opening else None,
                           closes_at=int(closing.timestamp()) if closing else None)


@routes.get("/api/ivr/wait")
@operation("For the dialplan: the estimated wait of a caller about to join the queue", tags=["ivr"],
           response_content_type="text/plain",
           query=(QueryParam("uniqueid", "the call's Asterisk Uniqueid"),),
           responses={200: ("result=ok&position=N&minutes=M (minutes absent when no operator serves)", IVR_TEXT),
                      403: ("not the PBX", None)})
async def ivr_wait(request: web.Request) -> web.Response:
    check_ivr_access(request)
    link = request.app.get(PBX_LINK)
    if link is None or not link.connected:
        return dialplan_answer(result="unavailable")
    now = link.now()
    hotline = request.app[SETTINGS].hotline
    view = queue_view(link.tracker.queue(link.queue_name, now), now, hotline.service_level_target,
                      hotline.service_level_seconds, fresh_for=ESTIMATE_FRESH_SECONDS)
    estimate = view["figures"]["new_caller_estimate_seconds"]
    return dialplan_answer(result="ok", position=view["figures"]["waiting"] + 1,
                           minutes=None if estimate is None else max(1, math.ceil(estimate / 60)))

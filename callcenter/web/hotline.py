"""The live hotline queue: a JSON snapshot and a WebSocket that pushes changes."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, time, timedelta
from typing import Any

import phonenumbers
from aiohttp import WSMsgType, web

from callcenter.hotline.view import ESTIMATE_FRESH_SECONDS, position_estimate, queue_view
from callcenter.pbx.link import PbxLink
from callcenter.web.auth import ACCOUNTS, COOKIE, STAFF, session_of
from callcenter.web.errors import ApiError
from callcenter.web.keys import CLOCK, HOURS, SETTINGS
from callcenter.web.openapi import operation
from callcenter.web.security import check_same_site
from callcenter.web.streams import tied_to_session
from callcenter.web.visibility import Viewer, queue_for, visible

routes = web.RouteTableDef()
PBX_LINK = web.AppKey("pbx_link", PbxLink)

QUEUE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["connected", "now", "queue"],
    "properties": {
        "connected": {"type": "boolean"},
        "now": {"type": "number"},
        "queue": {"type": "object", "description": "waiting callers, members, calls, counters, figures",
                  "required": ["waiting", "members", "calls", "counters", "figures"],
                  "properties": {"waiting": {"type": "array"}, "members": {"type": "array"},
                                 "calls": {"type": "array"}, "counters": {"type": "object"},
                                 "figures": {"type": "object"}}},
    },
}


def _link(request: web.Request) -> PbxLink:
    link = request.app.get(PBX_LINK)
    if link is None:
        raise ApiError(503, "no_pbx_link", "this service runs without a PBX link")
    return link


def queue_snapshot(app: web.Application, viewer: Viewer) -> dict[str, Any]:
    link = app[PBX_LINK]
    settings = app[SETTINGS]
    now = link.now()
    state = link.tracker.queue(link.queue_name, now)
    view = queue_view(state, now, settings.hotline.service_level_target, settings.hotline.service_level_seconds,
                      fresh_for=ESTIMATE_FRESH_SECONDS)
    return {"connected": link.connected, "now": now, "queue": queue_for(viewer, view)}


def with_estimate(app: web.Application, change: dict[str, Any]) -> dict[str, Any]:
    """A caller's join with the wait they are told, so that the dashboards show it at once rather than "—" until
    their next snapshot (every 15 s). The estimates are shared for a second, so a hundred dashboards cost one."""
    caller = change.get("caller") or {}
    position = caller.get("position")
    if not isinstance(position, int) or position < 1:
        return change
    link = app[PBX_LINK]
    now = link.now()
    estimate = position_estimate(link.tracker.queue(link.queue_name, now), now, position,
                                 fresh_for=ESTIMATE_FRESH_SECONDS)
    return {**change, "caller": {**caller, "estimated_wait_seconds": None if estimate is None else round(estimate, 1)}}


async def viewer_of(request: web.Request) -> Viewer:
    session = session_of(request)
    user = await request.app[ACCOUNTS].get(session.username)
    return Viewer(session.role, session.username, user.interface if user else "")


@routes.get("/api/queue")
@operation("The hotline queue now: waiting callers with estimates, operators, today's figures",
           tags=["hotline"], access=STAFF,
           responses={200: ("the snapshot", QUEUE_SCHEMA), 503: ("no PBX link", None)})
async def get_queue(request: web.Request) -> web.Response:
    _link(request)
    return web.json_response(queue_snapshot(request.app, await viewer_of(request)))


@routes.get("/api/queue/stream")
@operation("WebSocket: a snapshot first, then every change as it happens",
           tags=["hotline"], description="Messages are JSON: {type: snapshot|caller_joined|caller_left|member|"
           "call_connected|call_completed|counters|resync, ...}. On resync, reload the snapshot.",
           access=STAFF,
           responses={101: ("switching to WebSocket", None), 403: ("a page from another site", None),
                      503: ("no PBX link", None)})
async def queue_stream(request: web.Request) -> web.WebSocketResponse:
    check_same_site(request)  # a browser always sends Origin on a WebSocket: no other site's page rides the cookie
    link = _link(request)
    ws = web.WebSocketResponse(heartbeat=20.0)
    await ws.prepare(request)
    viewer = await viewer_of(request)
    changes = link.feed.listen()
    try:
        await ws.send_json({"type": "snapshot", **queue_snapshot(request.app, viewer)})

        async def pump() -> None:
            while True:
                change = await changes.get()
                if change["type"] == "resync":
                    await ws.send_json({"type": "snapshot", **queue_snapshot(request.app, viewer)})
                    continue
                if change["type"] == "caller_joined":
                    change = with_estimate(request.app, change)
                shown = visible(viewer, change)
                if shown is not None:
                    await ws.send_json(shown)

        pusher = asyncio.create_task(pump())
        try:
            async with tied_to_session(request, ws, request.app[ACCOUNTS], request.cookies.get(COOKIE, "")):
                async for message in ws:
                    if message.type == WSMsgType.TEXT and message.data == "snapshot":
                        await ws.send_json({"type": "snapshot", **queue_snapshot(request.app, viewer)})
        finally:
            pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await pusher
    finally:
        link.feed.forget(changes)
    return ws


# Days ahead the residents' pages offer (a callback can be booked for the coming week).
PUBLIC_DAYS = 7

HOTLINE_FACTS_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["number", "number_display", "timezone", "callback_attempts", "days", "now"],
    "properties": {
        "now": {"type": "number", "description": "the service's clock (Unix seconds): the days' \"today\""},
        "number": {"type": "string", "description": "the hotline's number, E.164"},
        "number_display": {"type": "string", "description": "the number as residents dial it at home"},
        "timezone": {"type": "string"},
        "callback_attempts": {"type": "integer", "description": "how many times a callback is dialled"},
        "days": {"type": "array", "description": "open days from today, local dates and hours (closed days left "
                 "out; close 24:00 is midnight)", "items": {
                     "type": "object", "required": ["date", "open", "close"],
                     "properties": {"date": {"type": "string", "format": "date"}, "open": {"type": "string"},
                                    "close": {"type": "string"}}}},
    },
}


def _hhmm(moment: time) -> str:
    return "24:00" if moment == time.max else moment.strftime("%H:%M")


def display_number(e164: str) -> str:
    """The number as a resident at home dials it: "8 (495) 000-00-00" for a Moscow number."""
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


@routes.get("/api/hotline")
@operation("The hotline's public facts for residents' pages: its number, its open days and hours for the coming "
           "week, and how many times a callback is dialled", tags=["hotline"],
           responses={200: ("the facts", HOTLINE_FACTS_SCHEMA)})
async def hotline_facts(request: web.Request) -> web.Response:
    """What the residents' callback page offers and tells, from the service's settings rather than constants in
    the page: a holiday, changed hours or a new number would otherwise be offered or told wrongly."""
    settings = request.app[SETTINGS]
    hours = request.app[HOURS]
    now = request.app[CLOCK]()
    today = hours.local_date(datetime.fromtimestamp(now, UTC))
    days = []
    for offset in range(PUBLIC_DAYS):
        day = today + timedelta(days=offset)
        open_hours = hours.hours_on(day)
        if open_hours is not None:
            days.append({"date": day.isoformat(), "open": _hhmm(open_hours.opens), "close": _hhmm(open_hours.closes)})
    return web.json_response({
        "number": settings.hotline.number, "number_display": display_number(settings.hotline.number),
        "timezone": settings.hotline.timezone, "callback_attempts": settings.callbacks.max_attempts, "days": days,
        "now": now,
    }, headers={"Cache-Control": "no-cache"})

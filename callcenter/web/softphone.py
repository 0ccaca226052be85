"""The softphone's API: the logged-in operator's SIP account, the one-line lock, and wrap-ups.

The SIP password travels only in the answer to the operator's own authenticated request (no-store), never in the
page's source."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from callcenter.softphone import identity
from callcenter.softphone.store import LINE_RENEW_SECONDS, LINE_TTL_SECONDS, SoftphoneStore
from callcenter.web.auth import ACCOUNTS, session_of
from callcenter.web.body import json_object
from callcenter.web.errors import ApiError
from callcenter.web.keys import REDIS, SETTINGS
from callcenter.web.openapi import QueryParam, operation

routes = web.RouteTableDef()
STORE = web.AppKey("softphone_store", SoftphoneStore)
AGENTS = ("operator", "supervisor")
TAB = re.compile(r"[A-Za-z0-9_-]{8,64}")
NO_STORE = {"Cache-Control": "no-store"}

WRAPUP_FIELDS: dict[str, type] = {
    "caller": str, "caller_name": str, "disposition": str, "note": str, "queue_uniqueid": str,
    "callback_id": str, "sip_call_id": str, "answered": bool, "started_at": float, "ended_at": float,
}
WRAPUP_LIMITS = {"note": 2000, "caller": 40, "caller_name": 120, "queue_uniqueid": 80, "callback_id": 80,
                 "sip_call_id": 200, "disposition": 80}
WRAPUP_SCHEMA = {"type": "object", "required": ["disposition"], "additionalProperties": False,
                 "properties": {name: {"type": "boolean" if kind is bool else "number" if kind is float else "string"}
                                for name, kind in WRAPUP_FIELDS.items()}}


async def store_context(app: web.Application) -> AsyncIterator[None]:
    app[STORE] = SoftphoneStore(app[REDIS])
    yield


async def _extension(request: web.Request) -> tuple[str, str, str]:
    session = session_of(request)
    user = await request.app[ACCOUNTS].get(session.username)
    if user is None:
        raise ApiError(401, "login_required", "the account is gone")
    return user.username, user.extension, user.name


@routes.get("/api/softphone/account")
@operation("The logged-in operator's SIP account for the dashboard's softphone (with its credential)",
           tags=["softphone"], access=AGENTS,
           responses={200: ("what the page needs to register", {"type": "object"}),
                      409: ("the softphone is not configured, or this account has no extension", None)})
async def account(request: web.Request) -> web.Response:
    _, extension, name = await _extension(request)
    try:
        data = identity.account(request.app[SETTINGS].softphone, extension, name)
    except identity.SoftphoneUnavailable as exc:
        raise ApiError(409, exc.code, str(exc)) from None
    data["line_renew_seconds"] = LINE_RENEW_SECONDS
    return web.json_response(data, headers=NO_STORE)


async def _tab(request: web.Request) -> str:
    body = await json_object(request)
    tab = body.get("tab")
    if set(body) != {"tab"} or not isinstance(tab, str) or not TAB.fullmatch(tab):
        raise ApiError(422, "invalid_field", {"tab": "required, 8-64 letters, digits, '-' or '_'"})
    return tab


@routes.post("/api/softphone/line")
@operation("Claim (or renew) the operator's one softphone line for this tab", tags=["softphone"], access=AGENTS,
           request_body={"type": "object", "required": ["tab"], "additionalProperties": False,
                         "properties": {"tab": {"type": "string"}}},
           responses={200: ("this tab has the line", {"type": "object"}),
                      409: ("another tab or browser has it", None)})
async def claim_line(request: web.Request) -> web.Response:
    tab = await _tab(request)
    username = session_of(request).username
    if not await request.app[STORE].claim_line(username, tab):
        raise ApiError(409, "line_taken", "the softphone is open in another tab or browser")
    return web.json_response({"ok": True, "ttl_seconds": LINE_TTL_SECONDS})


@routes.post("/api/softphone/line/release")
@operation("Give the softphone line up (the tab closes or logs out)", tags=["softphone"], access=AGENTS,
           request_body={"type": "object", "required": ["tab"], "additionalProperties": False,
                         "properties": {"tab": {"type": "string"}}},
           responses={200: ("released (or held by no one this tab knows)", {"type": "object"})})
async def release_line(request: web.Request) -> web.Response:
    tab = await _tab(request)
    released = await request.app[STORE].release_line(session_of(request).username, tab)
    return web.json_response({"ok": True, "released": released})


def _wrapup_fields(body: dict[str, Any], dispositions: list[str]) -> dict[str, Any]:
    problems: dict[str, str] = {name: "not a field here" for name in set(body) - set(WRAPUP_FIELDS)}
    fields: dict[str, Any] = {}
    for name, kind in WRAPUP_FIELDS.items():
        value = body.get(name, False if kind is bool else 0.0 if kind is float else "")
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind):
            problems[name] = f"a {kind.__name__}"
        elif isinstance(value, str) and len(value) > WRAPUP_LIMITS[name]:
            problems[name] = f"at most {WRAPUP_LIMITS[name]} characters"
        fields[name] = value
    if fields.get("disposition") not in dispositions:
        problems["disposition"] = "one of softphone.dispositions"
    if problems:
        raise ApiError(422, "invalid_field", problems)
    return fields


@routes.post("/api/softphone/wrapups")
@operation("Save the after-call work of a call: disposition and note", tags=["softphone"], access=AGENTS,
           request_body=WRAPUP_SCHEMA,
           responses={201: ("saved", {"type": "object"}), 422: ("bad fields", None)})
async def save_wrapup(request: web.Request) -> web.Response:
    fields = _wrapup_fields(await json_object(request), request.app[SETTINGS].softphone.dispositions)
    username, extension, _ = await _extension(request)
    wrapup = await request.app[STORE].save_wrapup(username, extension, fields)
    return web.json_response({"id": wrapup.id, "saved_at": wrapup.saved_at}, status=201)


@routes.get("/api/softphone/wrapups")
@operation("Supervisors: the operators' wrap-ups (disposition and note of each call), newest first",
           tags=["softphone"], access=("supervisor",),
           query=(QueryParam("hours", "how far back, hours (default 24)", {"type": "number"}),
                  QueryParam("limit", "at most this many (default 100, at most 1000)", {"type": "integer"})),
           responses={200: ("wrap-ups", {"type": "array", "items": {"type": "object"}})})
async def list_wrapups(request: web.Request) -> web.Response:
    try:
        hours = float(request.query.get("hours", "24"))
        limit = int(request.query.get("limit", "100"))
    except ValueError:
        raise ApiError(422, "invalid_query", {"hours": "a number", "limit": "a whole number"}) from None
    if not (0 < hours <= 24 * 400) or not (1 <= limit <= 1000):
        raise ApiError(422, "invalid_query", {"hours": "0 < hours <= 9600", "limit": "1..1000"})
    found = await request.app[STORE].wrapups(time.time() - hours * 3600, limit)
    return web.json_response(found)

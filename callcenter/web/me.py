"""An operator's own place in the queue: join or leave (QueueAdd/QueueRemove), pause with a reason or resume
(QueuePause) — always on the interface of the logged-in account, never one named in the request.

QueueAdd names the device app_queue should watch (StateInterface: the operator's softphone, PJSIP/<ext>, behind
a Local/<ext>@agents member): without it app_queue sees only the Local channel, which always looks free, and
rings an operator whose phone is offline every few seconds."""

from __future__ import annotations

from aiohttp import web

from callcenter.accounts.store import User
from callcenter.pbx.ami import AmiActionError, AmiError
from callcenter.web.auth import ACCOUNTS, session_of
from callcenter.web.body import json_object
from callcenter.web.errors import ApiError
from callcenter.web.hotline import PBX_LINK
from callcenter.web.keys import SETTINGS
from callcenter.web.openapi import operation

routes = web.RouteTableDef()
AGENTS = ("operator", "supervisor")
DONE = {"type": "object", "properties": {"ok": {"type": "boolean"}, "message": {"type": "string"}}}


async def _user(request: web.Request) -> User:
    session = session_of(request)
    user = await request.app[ACCOUNTS].get(session.username)
    if user is None or not user.interface:
        raise ApiError(422, "no_phone", "this account has no queue interface; ask a supervisor")
    return user


def queue_add_headers(queue: str, user: User) -> list[tuple[str, str]]:
    """QueueAdd for the account's member, paused off, with the device app_queue should watch."""
    headers = [("Queue", queue), ("Interface", user.interface), ("MemberName", user.username), ("Paused", "false")]
    if user.queue_state_interface:
        headers.append(("StateInterface", user.queue_state_interface))
    return headers


async def _send(request: web.Request, action: str, headers: list[tuple[str, str]]) -> web.Response:
    link = request.app.get(PBX_LINK)
    if link is None or not link.connected:
        raise ApiError(503, "pbx_unavailable", "the PBX is not reachable right now")
    try:
        result = await link.client.send_action(action, headers)
    except AmiActionError as exc:
        raise ApiError(409, "pbx_refused", exc.response.get("Message") or str(exc)) from None
    except AmiError as exc:
        raise ApiError(503, "pbx_unavailable", str(exc)) from None
    return web.json_response({"ok": True, "message": result.response.get("Message") or ""})


@routes.post("/api/me/queue")
@operation("Join (in: true) or leave (in: false) the hotline queue", tags=["me"], access=AGENTS,
           request_body={"type": "object", "required": ["in"], "additionalProperties": False,
                         "properties": {"in": {"type": "boolean"}}},
           responses={200: ("done", DONE), 409: ("the PBX refused (already in, not in)", None),
                      422: ("no queue interface on this account", None), 503: ("the PBX is unreachable", None)})
async def queue_membership(request: web.Request) -> web.Response:
    body = await json_object(request)
    if set(body) != {"in"} or not isinstance(body["in"], bool):
        raise ApiError(422, "invalid_field", {"in": "required, true or false"})
    user = await _user(request)
    queue = request.app[SETTINGS].hotline.queue
    if body["in"]:
        return await _send(request, "QueueAdd", queue_add_headers(queue, user))
    return await _send(request, "QueueRemove", [("Queue", queue), ("Interface", user.interface)])


@routes.post("/api/me/pause")
@operation("Pause with a reason, or resume", tags=["me"], access=AGENTS,
           request_body={"type": "object", "required": ["paused"], "additionalProperties": False,
                         "properties": {"paused": {"type": "boolean"}, "reason": {"type": "string", "maxLength": 80}}},
           responses={200: ("done", DONE), 409: ("the PBX refused (not in the queue)", None),
                      422: ("bad fields, or no queue interface", None), 503: ("the PBX is unreachable", None)})
async def pause(request: web.Request) -> web.Response:
    body = await json_object(request)
    reason = body.get("reason", "")
    if set(body) - {"paused", "reason"} or not isinstance(body.get("paused"), bool) or not isinstance(reason, str) \
            or len(reason) > 80 or "\n" in reason or "\r" in reason:
        raise ApiError(422, "invalid_field", {"paused": "required, true or false",
                                              "reason": "optional, one line of at most 80 characters"})
    user = await _user(request)
    headers = [("Queue", request.app[SETTINGS].hotline.queue), ("Interface", user.interface),
               ("Paused", "true" if body["paused"] else "false")]
    if body["paused"] and reason:
        headers.append(("Reason", reason))
    return await _send(request, "QueuePause", headers)

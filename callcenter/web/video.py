"""Video sessions over HTTP and WebSocket: the resident's page and start, staff actions, signalling.

Signalling is one WebSocket per participant (/api/video/ws). A resident proves who they are with the session
token they got when they started (in the first message, so it never lands in an access log); staff with their
dashboard session cookie. Messages are JSON objects with a `type`: hello, offer, candidate, chat, text (real-time
text when the page's T.140 data channel is not open), leave, end; the service answers with answer, state, chat,
chat_history, text and error. An error never ends the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from callcenter.accounts.store import Session
from callcenter.video.ice import use_host_addresses
from callcenter.video.media import MediaHub
from callcenter.video.model import VideoSession
from callcenter.video.service import VideoError, VideoPbx, VideoService
from callcenter.video.store import VideoStore
from callcenter.web.auth import ACCOUNTS, COOKIE, STAFF, session_of
from callcenter.web.body import json_object
from callcenter.web.errors import ApiError
from callcenter.web.keys import CLOCK, HOURS, REDIS, SETTINGS
from callcenter.web.openapi import operation
from callcenter.web.security import check_same_site
from callcenter.web.streams import tied_to_session

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
SESSION_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["id", "mode", "state", "created_at", "history", "waiting"],
    "properties": {"id": {"type": "string"}, "mode": {"type": "string", "enum": ["sign", "operator"]},
                   "state": {"type": "string"}, "created_at": {"type": "number"}, "history": {"type": "array"},
                   "waiting": {"type": ["object", "null"]}},
}
ONE_SESSION: dict[str, Any] = {"type": "object", "required": ["session"], "properties": {"session": SESSION_SCHEMA}}
VIDEO = web.AppKey("video", VideoService)
VIDEO_PBX = web.AppKey("video_pbx", VideoPbx)
Notify = Callable[[dict[str, Any]], None]
QueueWait = Callable[[str], tuple[int, float | None] | None]
VIDEO_NOTIFY: web.AppKey[Notify] = web.AppKey("video_notify")
QUEUE_WAIT: web.AppKey[QueueWait] = web.AppKey("video_queue_wait")
STATIC = Path(__file__).parent / "static"
HELLO_SECONDS = 10.0
MAX_MESSAGE = 64 * 1024

START_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["mode", "consent"], "additionalProperties": False,
    "properties": {
        "mode": {"enum": ["sign", "operator"], "description": "sign: with a sign-language interpreter"},
        "consent": {"const": True, "description": "the resident agrees to the video call"},
        "record": {"type": "boolean", "description": "the resident agrees to the call being recorded"},
    },
}
STATUS_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["status"], "additionalProperties": False,
    "properties": {"status": {"enum": ["available", "paused"]}, "reason": {"type": "string", "maxLength": 100}},
}


def ice_servers(app: web.Application) -> list[dict[str, Any]]:
    video = app[SETTINGS].video
    servers: list[dict[str, Any]] = [{"urls": url} for url in video.stun_urls]
    if video.turn_urls:
        servers.append({"urls": list(video.turn_urls), "username": video.turn_username,
                        "credential": video.turn_credential})
    return servers


async def video_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    use_host_addresses(settings.video.host_addresses)
    accounts = app[ACCOUNTS]

    async def interface_user(interface: str) -> str | None:
        for user in await accounts.all():
            if user.interface == interface and not user.disabled:
                return user.username
        return None

    recordings = Path(settings.video.recordings) if settings.video.recordings else None
    hub = MediaHub(ice_servers(app), recordings, forward_encoded=settings.video.forwarding)
    service = VideoService(VideoStore(app[REDIS], settings.video.retention_days), hub, settings.video, app[HOURS],
                           notify=app.get(VIDEO_NOTIFY, lambda change: None), pbx=app.get(VIDEO_PBX),
                           interface_user=interface_user, queue_wait=app.get(QUEUE_WAIT), clock=app[CLOCK])
    app[VIDEO] = service
    task = asyncio.create_task(service.run(), name="video-dispatch")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await service.close()


def _service(request: web.Request) -> VideoService:
    service = request.app.get(VIDEO)
    if service is None:
        raise ApiError(503, "video_unavailable", "video is not configured on this service")
    return service


def _api_error(exc: VideoError) -> ApiError:
    retry = {"Retry-After": str(exc.extra["retry_after"])} if "retry_after" in exc.extra else None
    return ApiError(exc.status, exc.code, {"message": exc.message, **exc.extra} if exc.extra else exc.message,
                    retry)


async def _call(action: Awaitable[Any]) -> Any:
    try:
        return await action
    except VideoError as exc:
        raise _api_error(exc) from None


# -- the resident ---------------------------------------------------------------------------------------------

@routes.get("/video")
@operation("The residents' video page (sign-language interpreter or video with an operator)", tags=["video"],
           responses={200: ("the page", None)})
async def video_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "video.html", headers={"Cache-Control": "no-cache"})


@routes.post("/api/video/sessions")
@operation("Start a video session (resident): consent, the mode, recording consent", tags=["video"],
           request_body=START_SCHEMA,
           responses={201: ("the session and its token (keep it: it lets the page join the call)",
                            {"type": "object", "required": ["token", "ice_servers", "session"],
                             "properties": {"token": {"type": "string"}, "ice_servers": {"type": "array"},
                                            "session": SESSION_SCHEMA}}),
                      400: ("consent missing or a bad mode", None),
                      409: ("the hotline is closed: opens_at says when it opens", None),
                      429: ("a session from this address is going, or too many were started this hour", None)})
async def start_session(request: web.Request) -> web.Response:
    body = await json_object(request)
    unknown = sorted(set(body) - {"mode", "consent", "record"})
    if unknown:
        raise ApiError(422, "unknown_fields", {name: "not a field here" for name in unknown})
    if body.get("consent") is not True:
        raise ApiError(400, "consent_required", "the resident must agree to the video call (consent: true)")
    if body.get("mode") not in ("sign", "operator"):
        raise ApiError(422, "invalid_field", {"mode": "sign or operator"})
    record = body.get("record", False)
    if not isinstance(record, bool):
        raise ApiError(422, "invalid_field", {"record": "true or false"})
    service = _service(request)
    session, token = await _call(service.start(body["mode"], record and bool(service.settings.recordings),
                                               address=request.remote or ""))
    return web.json_response({"token": token, "ice_servers": ice_servers(request.app),
                              "session": service.describe(session)}, status=201)


@routes.get("/api/video/session")
@operation("The resident's session now (state, position, estimated wait); token in X-Video-Token",
           tags=["video"],
           responses={200: ("the session", ONE_SESSION), 401: ("unknown or expired token", None)})
async def resident_session(request: web.Request) -> web.Response:
    service = _service(request)
    session = await _call(service.session_for_token(request.headers.get("X-Video-Token", "")))
    return web.json_response({"session": service.describe(session)})


# -- staff --------------------------------------------------------------------------------------------------

@routes.get("/api/video/sessions")
@operation("Live video sessions and the interpreters' pool", tags=["video"], access=STAFF,
           responses={200: ("sessions and interpreters",
                            {"type": "object", "required": ["sessions", "interpreters", "offers", "ice_servers"],
                             "properties": {"sessions": {"type": "array", "items": SESSION_SCHEMA},
                                            "interpreters": {"type": "array"}, "offers": {"type": "array"},
                                            "ice_servers": {"type": "array"}}})})
async def list_sessions(request: web.Request) -> web.Response:
    service = _service(request)
    sessions = [service.describe(s, staff=True) for s in service.sessions.values()]
    pool = [{"username": p.username, "status": p.status, "reason": p.reason, "session": p.session,
             "offered": p.offered} for p in service.pool.interpreters.values()]
    offers = [{"session": o.session, "for_user": o.username, "deadline": o.deadline}
              for o in service.pool.offers.values()]
    return web.json_response({"sessions": sessions, "interpreters": pool, "offers": offers,
                              "ice_servers": ice_servers(request.app)})


@routes.get("/api/video/sessions/{session_id}")
@operation("One video session with its history and chat", tags=["video"], access=STAFF,
           responses={200: ("the session", {"type": "object", "required": ["session", "chat"],
                                            "properties": {"session": SESSION_SCHEMA, "chat": {"type": "array"}}}),
                      404: ("no such session", None)})
async def get_session(request: web.Request) -> web.Response:
    service = _service(request)
    session = await _call(service.get(request.match_info["session_id"]))
    chat = await service.store.chat(session.id)
    return web.json_response({"session": service.describe(session, staff=True), "chat": chat})


@routes.post("/api/video/interpreter/status")
@operation("An interpreter becomes available or pauses (with a reason)", tags=["video"], access=("interpreter",),
           request_body=STATUS_SCHEMA, responses={200: ("the new status", {
               "type": "object", "required": ["username", "status"],
               "properties": {"username": {"type": "string"}, "status": {"type": "string"}}}),
                                                  409: ("busy in a session", None)})
async def interpreter_status(request: web.Request) -> web.Response:
    body = await json_object(request)
    if body.get("status") not in ("available", "paused") or not isinstance(body.get("reason", ""), str):
        raise ApiError(422, "invalid_field", {"status": "available or paused", "reason": "text"})
    result = await _call(_service(request).interpreter_status(session_of(request).username, body["status"],
                                                               str(body.get("reason", ""))[:100]))
    return web.json_response(result)


def _action(summary: str, roles: tuple[str, ...]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return operation(summary, tags=["video"], access=roles,
                     responses={200: ("the session", ONE_SESSION),
                                409: ("out of order (not offered to you, already taken, ended)", None)})


StaffStep = Callable[[VideoService, str, str], Awaitable[VideoSession]]


async def _staff_step(request: web.Request, step: StaffStep) -> web.Response:
    """One of the session's steps taken by the logged-in staff member; answers with the session."""
    service = _service(request)
    session = await _call(step(service, request.match_info["session_id"], session_of(request).username))
    return web.json_response({"session": service.describe(session, staff=True)})


@routes.post("/api/video/sessions/{session_id}/accept")
@_action("The interpreter accepts the session offered to them", ("interpreter",))
async def accept(request: web.Request) -> web.Response:
    return await _staff_step(request, VideoService.accept)


@routes.post("/api/video/sessions/{session_id}/decline")
@_action("The interpreter declines: the session goes to the next interpreter", ("interpreter",))
async def decline(request: web.Request) -> web.Response:
    service = _service(request)
    await _call(service.decline(request.match_info["session_id"], session_of(request).username))
    return web.json_response({"declined": True})


@routes.post("/api/video/sessions/{session_id}/request-operator")
@_action("The interpreter asks for an operator", ("interpreter",))
async def request_operator(request: web.Request) -> web.Response:
    return await _staff_step(request, VideoService.request_operator)


@routes.post("/api/video/sessions/{session_id}/join")
@_action("An operator joins the session (the one the queue gave it to, or from the video panel)",
         ("operator", "supervisor"))
async def join(request: web.Request) -> web.Response:
    return await _staff_step(request, VideoService.operator_join)


@routes.post("/api/video/sessions/{session_id}/end")
@_action("End the session (its interpreter or operator, or a supervisor)", STAFF)
async def end(request: web.Request) -> web.Response:
    service = _service(request)
    staff = session_of(request)
    session = await _call(service.get(request.match_info["session_id"]))
    if staff.role != "supervisor" and staff.username not in (session.interpreter, session.operator):
        raise ApiError(403, "not_in_session", "only the session's interpreter or operator, or a supervisor")
    session = await _call(service.end(session.id, f"ended by {staff.role}"))
    return web.json_response({"session": service.describe(session, staff=True)})


# -- signalling -----------------------------------------------------------------------------------------------

@routes.get("/api/video/ws")
@operation("WebSocket signalling for a participant (resident: token in the first message; staff: session "
           "cookie)", tags=["video"],
           description="First message {type: hello, token} (resident) or {type: hello, session} (staff). Then "
           "offer {sdp}, candidate {candidate, sdpMid, sdpMLineIndex}, chat {text}, text {t140} (real-time text, "
           "T.140, when the data channel is not open), leave, end. The service sends answer {sdp}, state {session}, "
           "chat, chat_history, text {from, t140}, error {error, message}.",
           responses={101: ("switching to WebSocket", None), 403: ("a page from another site", None)})
async def signalling(request: web.Request) -> web.WebSocketResponse:
    check_same_site(request)
    service = _service(request)
    staff = await request.app[ACCOUNTS].session(request.cookies.get(COOKIE, ""))
    ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=MAX_MESSAGE)
    await ws.prepare(request)

    async def send(message: dict[str, Any]) -> None:
        if not ws.closed:
            await ws.send_json(message)

    async def error(code: str, message: str) -> None:
        await send({"type": "error", "error": code, "message": message})

    try:
        first = await asyncio.wait_for(ws.receive(), HELLO_SECONDS)
    except TimeoutError:
        await error("no_hello", "say hello first")
        await ws.close()
        return ws
    hello = _parse(first)
    joined = await _hello(service, staff, hello) if hello is not None else None
    if isinstance(joined, VideoError) or joined is None:
        problem = joined or VideoError(400, "bad_message", "the first message is {type: hello, ...}")
        await error(problem.code, problem.message)
        await ws.close()
        return ws
    session_id, role = joined
    service.connect_pusher(session_id, role, send)
    # Staff join with their login: the socket ends with it (a resident's is bound to the session token instead).
    tie = tied_to_session(request, ws, request.app[ACCOUNTS], request.cookies.get(COOKIE, "")) \
        if role != "resident" else contextlib.nullcontext()
    try:
        async with tie:
            await _converse(service, ws, session_id, role, send, error)
    finally:
        service.disconnect_pusher(session_id, role, send)
    return ws


async def _converse(service: VideoService, ws: web.WebSocketResponse, session_id: str, role: str,
                    send: Callable[[dict[str, Any]], Awaitable[None]],
                    error: Callable[[str, str], Awaitable[None]]) -> None:
    session = await service.get(session_id)
    await send({"type": "state", "event": "hello",
                "session": service.describe(session, staff=role != "resident"), "role": role})
    async for raw in ws:
        message = _parse(raw)
        if message is None:
            await error("bad_message", "messages are JSON objects with a type")
            continue
        try:
            await _handle(service, session_id, role, message, send)
        except VideoError as exc:
            await error(exc.code, exc.message)


def _parse(raw: Any) -> dict[str, Any] | None:
    if raw.type != WSMsgType.TEXT:
        return None
    try:
        message = json.loads(raw.data)
    except ValueError:
        return None
    return message if isinstance(message, dict) and isinstance(message.get("type"), str) else None


async def _hello(service: VideoService, staff: Session | None,
                 hello: dict[str, Any]) -> tuple[str, str] | VideoError:
    if hello.get("type") != "hello":
        return VideoError(400, "bad_message", "the first message is {type: hello, ...}")
    try:
        if "token" in hello:
            session = await service.session_for_token(str(hello["token"]))
            if session.ended:
                return VideoError(409, "session_ended", "the session has ended")
            return session.id, "resident"
        if staff is None:
            return VideoError(401, "login_required", "a resident gives their token; staff log in first")
        session = await service.get(str(hello.get("session", "")))
        return session.id, service.role_of(session, staff.username, staff.role)
    except VideoError as exc:
        return exc


async def _handle(service: VideoService, session_id: str, role: str, message: dict[str, Any],
                  send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
    kind = message["type"]
    if kind == "offer":
        answer = await service.offer(session_id, role, message.get("sdp"))
        await send({"type": "answer", "sdp": answer})
    elif kind == "candidate":
        await service.candidate(session_id, role, message)
    elif kind == "chat":
        entry = await service.chat(session_id, role, message.get("text"))
        await send({"type": "chat", **entry})
    elif kind == "text":
        service.text(session_id, role, message.get("t140"))
    elif kind == "leave":
        await service.leave(session_id, role)
    elif kind == "end":
        if role == "resident":
            await service.leave(session_id, role, "ended")
        else:
            await service.end(session_id, f"ended by {role}")
    elif kind == "ping":
        await send({"type": "pong"})
    else:
        raise VideoError(400, "unknown_type", f"unknown message type '{kind[:40]}'")

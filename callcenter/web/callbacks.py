"""Callback requests over HTTP: from the IVR (dialplan CURL), from residents on the web, the public page."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from callcenter.callbacks.dialer import Dialer, Scheduler
from callcenter.callbacks.model import ACTIVE, Callback, Channel, Status, attempt_uniqueid
from callcenter.callbacks.phone import PhoneError
from callcenter.callbacks.service import Accepted, CallbackService, RequestError
from callcenter.callbacks.store import Conflict, NotFound
from callcenter.logs import request_id_var
from callcenter.web.auth import ACCOUNTS, session_of
from callcenter.web.body import json_object
from callcenter.web.errors import ApiError
from callcenter.web.ivr import check_ivr_access, dialplan_answer, dialplan_values
from callcenter.web.openapi import QueryParam, operation

routes = web.RouteTableDef()
HangupPlaceholder = Callable[[str], Awaitable[None]]
CALLBACKS = web.AppKey("callbacks", CallbackService)
# Where timed callback work goes: RQ in production; tests put in their own.
SCHEDULER = web.AppKey("callback_scheduler", Scheduler)

WEB_FIELDS = {"phone", "not_before", "not_after", "topic"}
RESIDENT_FIELDS = WEB_FIELDS | {"cancel_token"}
REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["phone"],
    "additionalProperties": False,
    "properties": {
        "phone": {"type": "string", "description": "Russian mobile or fixed-line numbers: 8 495 ..., +7 (495) ..., "
                                                  "7495... (not abroad, not 8-800, 8-809 and other paid ranges)"},
        "not_before": {"type": ["string", "number"], "description": "ISO 8601 with offset, or epoch seconds"},
        "not_after": {"type": ["string", "number"], "description": "ISO 8601 with offset, or epoch seconds"},
        "topic": {"type": "string", "maxLength": 200},
    },
}
RESIDENT_REQUEST_SCHEMA: dict[str, Any] = {
    **REQUEST_SCHEMA,
    "properties": {
        **REQUEST_SCHEMA["properties"],
        "cancel_token": {"type": "string", "description": "the cancel_token of this number's active callback: "
                                                          "with it, a second request describes that callback"},
    },
}
ACCEPTED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"}, "phone": {"type": "string", "description": "masked"},
        "status": {"type": "string"}, "position": {"type": "integer"},
        "estimated_call_at": {"type": "number", "description": "epoch seconds"},
        "topic": {"type": "string"},
        "existing": {"type": "boolean", "description": "true: the number's active callback, not a new one"},
        "cancel_token": {"type": "string", "description": "only in the 201 answer: keep it to cancel"},
    },
}
EXISTING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["existing", "message"],
    "description": "without the active callback's cancel_token: nothing about that callback",
    "properties": {"existing": {"type": "boolean", "enum": [True]}, "message": {"type": "string"}},
}


def _service(request: web.Request) -> CallbackService:
    service = request.app.get(CALLBACKS)
    if service is None:
        raise ApiError(503, "callbacks_unavailable", "callbacks are not configured on this service")
    return service


# Times a callback can sensibly name (2000-01-01 .. 2100-01-01 UTC): beyond them, the calendar arithmetic that
# follows would overflow, and no resident means them.
EARLIEST, LATEST = 946_684_800.0, 4_102_444_800.0


def _moment(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ApiError(422, "invalid_field", {name: "expected ISO 8601 time with offset, or epoch seconds"})
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ApiError(422, "invalid_field", {name: "not a finite number"})
        moment = float(value)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ApiError(422, "invalid_field", {name: f"'{value[:40]}' is not an ISO 8601 time"}) from None
        if parsed.tzinfo is None:
            raise ApiError(422, "invalid_field", {name: "give a UTC offset, e.g. 2026-11-24T10:00:00+03:00"})
        try:
            moment = parsed.timestamp()
        except (OverflowError, ValueError):
            moment = math.inf
    else:
        raise ApiError(422, "invalid_field", {name: "expected ISO 8601 time with offset, or epoch seconds"})
    if not EARLIEST <= moment <= LATEST:
        raise ApiError(422, "invalid_field", {name: "a time between the years 2000 and 2100"})
    return moment


def _refused(exc: RequestError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.detail, {"Retry-After": "86400"} if exc.status == 429 else None)


def _phone_refused(exc: PhoneError) -> web.Response:
    """422 like every error answer, with why a number is not allowed: `reason` foreign, own_number, prefix or
    number_type (and then `number_type`, e.g. premium_rate, toll_free)."""
    body: dict[str, Any] = {"error": exc.code, "detail": str(exc), "request_id": request_id_var.get()}
    if exc.reason:
        body["reason"] = exc.reason
    if exc.number_type:
        body["number_type"] = exc.number_type
    return web.json_response(body, status=422)


STATIC = Path(__file__).parent / "static"


@routes.get("/callback")
@operation("The residents' page for asking a callback", tags=["callbacks"], response_content_type="text/html",
           responses={200: ("an HTML page", {"type": "string"})})
async def callback_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "callback.html")


@routes.post("/api/callbacks")
@operation("Ask for a callback (residents, on the web)", tags=["callbacks"], request_body=RESIDENT_REQUEST_SCHEMA,
           responses={201: ("accepted: keep cancel_token", ACCEPTED_SCHEMA),
                      200: ("this number already has an active callback: that one with its cancel_token, else "
                            "only that there is one", {"oneOf": [ACCEPTED_SCHEMA, EXISTING_SCHEMA]}),
                      400: ("not JSON", None), 413: ("body too large", None),
                      422: ("a field is wrong: the detail says which and why; phone_not_allowed has a reason",
                            None),
                      429: ("too many requests today for this number or address", None)})
async def create_callback(request: web.Request) -> web.Response:
    body = await json_object(request)
    service = _service(request)
    unknown = sorted(set(body) - RESIDENT_FIELDS)
    if unknown:
        raise ApiError(422, "unknown_fields", {name: "not a field of a callback request" for name in unknown})
    if not isinstance(body.get("phone"), str):
        raise ApiError(422, "invalid_field", {"phone": "required, a string"})
    topic = body.get("topic", "")
    if not isinstance(topic, str) or len(topic) > 200:
        raise ApiError(422, "invalid_field", {"topic": "a string of at most 200 characters"})
    token = body.get("cancel_token")
    if token is not None and (not isinstance(token, str) or len(token) > 200):
        raise ApiError(422, "invalid_field", {"cancel_token": "the cancel_token of the number's callback"})
    try:
        accepted = await service.request(
            body["phone"], Channel.WEB, actor=f"web:{request.remote}", topic=topic,
            not_before=_moment("not_before", body.get("not_before")),
            not_after=_moment("not_after", body.get("not_after")), client_address=request.remote,
            presented_token=token)
    except PhoneError as exc:
        return _phone_refused(exc)
    except RequestError as exc:
        raise _refused(exc) from None
    return web.json_response(accepted.to_json(), status=201 if accepted.created else 200)


@routes.post("/api/callbacks/{id}/cancel")
@operation("Cancel a callback with the token given when it was accepted", tags=["callbacks"],
           request_body={"type": "object", "required": ["token"], "additionalProperties": False,
                         "properties": {"token": {"type": "string"}}},
           responses={200: ("cancelled", ACCEPTED_SCHEMA), 403: ("wrong token", None), 404: ("no such callback", None),
                      409: ("already done, failed or cancelled", None)})
async def cancel_callback(request: web.Request) -> web.Response:
    service = _service(request)
    body = await json_object(request)
    token = body.get("token")
    if set(body) - {"token"} or not isinstance(token, str):
        raise ApiError(422, "invalid_field", {"token": "required, the cancel_token from the 201 answer"})
    try:
        callback = await service.cancel(request.match_info["id"], actor="resident", token=token,
                                        reason="cancelled by the resident")
    except NotFound:
        raise ApiError(404, "not_found", "no such callback") from None
    except RequestError as exc:
        raise _refused(exc) from None
    return web.json_response(callback.public())


@routes.post("/api/ivr/callback")
@operation("For the dialplan: a caller asks to be called back, keeping their place", tags=["ivr"],
           request_content_type="application/x-www-form-urlencoded", response_content_type="text/plain",
           request_body={"type": "object", "required": ["phone"],
                         "properties": {"phone": {"type": "string"}, "uniqueid": {"type": "string"},
                                        "joined_at": {"type": "string", "description": "epoch seconds"}}},
           responses={200: ("result=accepted&id=..&position=N&minutes=M, or result=refused&reason=..",
                            {"type": "string"}), 403: ("not the PBX", None)})
async def ivr_callback(request: web.Request) -> web.Response:
    check_ivr_access(request)
    service = _service(request)
    values = await dialplan_values(request)
    joined_raw = values.get("joined_at", "")
    try:
        joined_at = float(joined_raw) if joined_raw else None
    except ValueError:
        joined_at = None
    try:
        accepted: Accepted = await service.request(values.get("phone", ""), Channel.IVR, actor="ivr",
                                                   order_key=joined_at, uniqueid=values.get("uniqueid", ""))
    except PhoneError as exc:
        return dialplan_answer(result="refused", reason=exc.code)
    except RequestError as exc:
        return dialplan_answer(result="refused", reason=exc.code)
    minutes = max(1, math.ceil((accepted.estimated_call_at - service.clock()) / 60))
    return dialplan_answer(result="accepted", id=accepted.callback.id, position=accepted.position, minutes=minutes,
                           existing=int(not accepted.created))


# -- operators ---------------------------------------------------------------------------------------------

DIALER = web.AppKey("callback_dialer", Dialer)
HANGUP: web.AppKey[HangupPlaceholder] = web.AppKey("callback_hangup")
OPERATORS = ("operator", "supervisor")
STAFF_CALLBACK: dict[str, Any] = {"type": "object", "description": "the whole record, and its history"}


def staff_view(callback: Callback, history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    data = asdict(callback)
    del data["cancel_token_hash"]
    if history is not None:
        data["history"] = history
    return data


async def _staff_callback(request: web.Request) -> Callback:
    try:
        return await _service(request).store.get(request.match_info["id"])
    except NotFound:
        raise ApiError(404, "not_found", "no such callback") from None


@routes.get("/api/callbacks")
@operation("Callbacks, by status (operators)", tags=["callbacks"], access=OPERATORS,
           query=(QueryParam("status", "comma-separated: scheduled, queued, dialling, connected, done, failed, "
                                       "expired, cancelled (default: the active ones)"),
                  QueryParam("limit", "at most this many (default 100, at most 1000)", {"type": "integer"})),
           responses={200: ("callbacks in queue order", {"type": "array", "items": STAFF_CALLBACK}),
                      422: ("unknown status", None)})
async def list_callbacks(request: web.Request) -> web.Response:
    service = _service(request)
    wanted = [s for s in request.query.get("status", "").split(",") if s] or sorted(ACTIVE)
    unknown = [s for s in wanted if s not in Status.__members__.values()]
    if unknown:
        raise ApiError(422, "invalid_field", {"status": f"unknown: {', '.join(unknown)}"})
    try:
        limit = min(1000, max(1, int(request.query.get("limit", "100"))))
    except ValueError:
        raise ApiError(422, "invalid_field", {"limit": "a whole number"}) from None
    callbacks = await service.store.find(wanted, limit=limit)
    return web.json_response([staff_view(c) for c in callbacks])


@routes.post("/api/operator/callbacks")
@operation("A callback for the caller on the line (operators)", tags=["callbacks"], access=OPERATORS,
           request_body=REQUEST_SCHEMA,
           responses={201: ("accepted", STAFF_CALLBACK), 200: ("the number's active callback", STAFF_CALLBACK),
                      422: ("a field is wrong", None), 429: ("daily limit for the number", None)})
async def operator_create(request: web.Request) -> web.Response:
    session = session_of(request)
    body = await json_object(request)
    unknown = sorted(set(body) - WEB_FIELDS)
    if unknown or not isinstance(body.get("phone"), str):
        raise ApiError(422, "invalid_field", {"phone": "required, a string", **{u: "not a field" for u in unknown}})
    try:
        accepted = await _service(request).request(
            body["phone"], Channel.OPERATOR, actor=f"operator:{session.username}", topic=str(body.get("topic", "")),
            not_before=_moment("not_before", body.get("not_before")),
            not_after=_moment("not_after", body.get("not_after")))
    except PhoneError as exc:
        return _phone_refused(exc)
    except RequestError as exc:
        raise _refused(exc) from None
    view = staff_view(accepted.callback)
    view.update({"position": accepted.position, "estimated_call_at": round(accepted.estimated_call_at)})
    return web.json_response(view, status=201 if accepted.created else 200)


@routes.get("/api/callbacks/{id}")
@operation("One callback with its history (operators)", tags=["callbacks"], access=OPERATORS,
           responses={200: ("the callback", STAFF_CALLBACK), 404: ("no such callback", None)})
async def get_callback(request: web.Request) -> web.Response:
    callback = await _staff_callback(request)
    return web.json_response(staff_view(callback, await _service(request).store.history(callback.id)))


@routes.post("/api/callbacks/{id}/reschedule")
@operation("Move a scheduled callback to another time (operators)", tags=["callbacks"], access=OPERATORS,
           request_body={"type": "object", "required": ["at"], "additionalProperties": False,
                         "properties": {"at": {"type": ["string", "number"]}}},
           responses={200: ("moved (to the next working moment at or after `at`)", STAFF_CALLBACK),
                      409: ("not scheduled", None), 422: ("bad time", None)})
async def reschedule(request: web.Request) -> web.Response:
    session = session_of(request)
    await _staff_callback(request)
    body = await json_object(request)
    if set(body) != {"at"}:
        raise ApiError(422, "invalid_field", {"at": "required, and the only field"})
    at = _moment("at", body["at"])
    if at is None:
        raise ApiError(422, "invalid_field", {"at": "required: ISO 8601 time with offset, or epoch seconds"})
    try:
        callback = await _service(request).reschedule(request.match_info["id"], at,
                                                       actor=f"operator:{session.username}")
    except RequestError as exc:
        raise _refused(exc) from None
    return web.json_response(staff_view(callback))


@routes.post("/api/callbacks/{id}/withdraw")
@operation("Cancel a callback (operators), with a reason", tags=["callbacks"], access=OPERATORS,
           request_body={"type": "object", "additionalProperties": False,
                         "properties": {"reason": {"type": "string", "maxLength": 200}}},
           responses={200: ("cancelled", STAFF_CALLBACK), 409: ("not active", None)})
async def withdraw(request: web.Request) -> web.Response:
    session = session_of(request)
    callback = await _staff_callback(request)
    body = await json_object(request)
    reason = body.get("reason", "")
    if set(body) - {"reason"} or not isinstance(reason, str) or len(reason) > 200:
        raise ApiError(422, "invalid_field", {"reason": "optional, a string of at most 200 characters"})
    hangup = request.app.get(HANGUP)
    try:
        cancelled = await _service(request).cancel(callback.id, actor=f"operator:{session.username}",
                                                   reason=reason or f"cancelled by {session.username}")
    except RequestError as exc:
        raise _refused(exc) from None
    if callback.status == Status.QUEUED and hangup is not None:
        await hangup(attempt_uniqueid(callback.id, callback.attempts))
    return web.json_response(staff_view(cancelled))


@routes.post("/api/callbacks/{id}/notes")
@operation("Add an outcome note (operators); kept in the callback's history", tags=["callbacks"],
           access=OPERATORS,
           request_body={"type": "object", "required": ["text"], "additionalProperties": False,
                         "properties": {"text": {"type": "string", "maxLength": 1000}}},
           responses={200: ("noted", STAFF_CALLBACK)})
async def add_note(request: web.Request) -> web.Response:
    session = session_of(request)
    await _staff_callback(request)
    body = await json_object(request)
    text = body.get("text")
    if set(body) != {"text"} or not isinstance(text, str) or not text.strip() or len(text) > 1000:
        raise ApiError(422, "invalid_field", {"text": "required, 1-1000 characters"})

    def note(record: Callback) -> str:
        record.notes.append(f"{session.username}: {text.strip()}")
        return f"note by {session.username}"

    callback = await _service(request).store.update(request.match_info["id"], note,
                                                    actor=f"operator:{session.username}")
    return web.json_response(staff_view(callback))


@routes.post("/api/callbacks/{id}/call-now")
@operation("Call now (preview dialling): the operator's phone rings first, then the resident's",
           tags=["callbacks"], access=OPERATORS,
           responses={200: ("dialling: the operator's phone rings", STAFF_CALLBACK),
                      409: ("not waiting to be dialled, or an attempt is under way", None),
                      422: ("this account has no phone (queue interface)", None)})
async def call_now(request: web.Request) -> web.Response:
    session = session_of(request)
    callback = await _staff_callback(request)
    user = await request.app[ACCOUNTS].get(session.username)
    if user is None or not user.interface:
        raise ApiError(422, "no_phone", "this account has no queue interface to ring; ask a supervisor")
    dialer = request.app.get(DIALER)
    if dialer is None:
        raise ApiError(503, "no_pbx_link", "this service runs without a PBX link")
    try:
        started = await dialer.call_now(callback.id, user.interface, session.username,
                                        hangup=request.app.get(HANGUP), now=_service(request).clock())
    except Conflict as exc:
        raise ApiError(409, "not_callable", f"cannot call now: {exc}") from None
    return web.json_response(staff_view(started))

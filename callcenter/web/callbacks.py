"""Callback requests over HTTP: from the IVR (dialplan CURL), from residents on the web, the public page."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

from aiohttp import web

from callcenter.callbacks.dialer import Scheduler
from callcenter.callbacks.model import Channel
from callcenter.callbacks.phone import PhoneError
from callcenter.callbacks.service import Accepted, CallbackService, RequestError
from callcenter.callbacks.store import NotFound
from callcenter.web.errors import ApiError
from callcenter.web.ivr import check_ivr_access, dialplan_answer
from callcenter.web.openapi import operation

routes = web.RouteTableDef()
CALLBACKS = web.AppKey("callbacks", CallbackService)
# Where timed callback work goes: RQ in production; tests put in their own.
SCHEDULER = web.AppKey("callback_scheduler", Scheduler)

WEB_FIELDS = {"phone", "not_before", "not_after", "topic"}
REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["phone"],
    "additionalProperties": False,
    "properties": {
        "phone": {"type": "string", "description": "Russian formats accepted: 8 495 ..., +7 (495) ..., 7495..."},
        "not_before": {"type": ["string", "number"], "description": "ISO 8601 with offset, or epoch seconds"},
        "not_after": {"type": ["string", "number"], "description": "ISO 8601 with offset, or epoch seconds"},
        "topic": {"type": "string", "maxLength": 200},
    },
}
ACCEPTED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"}, "phone": {"type": "string", "description": "masked"},
        "status": {"type": "string"}, "position": {"type": "integer"},
        "estimated_call_at": {"type": "number", "description": "epoch seconds"},
        "cancel_token": {"type": "string", "description": "only in the 201 answer: keep it to cancel"},
    },
}


def _service(request: web.Request) -> CallbackService:
    service = request.app.get(CALLBACKS)
    if service is None:
        raise ApiError(503, "callbacks_unavailable", "callbacks are not configured on this service")
    return service


def _moment(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ApiError(422, "invalid_field", {name: "expected ISO 8601 time with offset, or epoch seconds"})
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ApiError(422, "invalid_field", {name: "not a finite number"})
        return float(value)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ApiError(422, "invalid_field", {name: f"'{value[:40]}' is not an ISO 8601 time"}) from None
        if moment.tzinfo is None:
            raise ApiError(422, "invalid_field", {name: "give a UTC offset, e.g. 2026-11-24T10:00:00+03:00"})
        return moment.timestamp()
    raise ApiError(422, "invalid_field", {name: "expected ISO 8601 time with offset, or epoch seconds"})


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return body


def _refused(exc: PhoneError | RequestError) -> ApiError:
    if isinstance(exc, PhoneError):
        return ApiError(422, exc.code, str(exc))
    return ApiError(exc.status, exc.code, exc.detail, {"Retry-After": "86400"} if exc.status == 429 else None)


@routes.post("/api/callbacks")
@operation("Ask for a callback (residents, on the web)", tags=["callbacks"], request_body=REQUEST_SCHEMA,
           responses={201: ("accepted: keep cancel_token", ACCEPTED_SCHEMA),
                      200: ("this number already has an active callback: that one", ACCEPTED_SCHEMA),
                      400: ("not JSON", None), 413: ("body too large", None),
                      422: ("a field is wrong: the detail says which and why", None),
                      429: ("too many requests today for this number or address", None)})
async def create_callback(request: web.Request) -> web.Response:
    service = _service(request)
    body = await _json_object(request)
    unknown = sorted(set(body) - WEB_FIELDS)
    if unknown:
        raise ApiError(422, "unknown_fields", {name: "not a field of a callback request" for name in unknown})
    if not isinstance(body.get("phone"), str):
        raise ApiError(422, "invalid_field", {"phone": "required, a string"})
    topic = body.get("topic", "")
    if not isinstance(topic, str) or len(topic) > 200:
        raise ApiError(422, "invalid_field", {"topic": "a string of at most 200 characters"})
    try:
        accepted = await service.request(
            body["phone"], Channel.WEB, actor=f"web:{request.remote}", topic=topic,
            not_before=_moment("not_before", body.get("not_before")),
            not_after=_moment("not_after", body.get("not_after")), client_address=request.remote)
    except (PhoneError, RequestError) as exc:
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
    body = await _json_object(request)
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
    form = await request.post()
    values = {**request.query, **{k: v for k, v in form.items() if isinstance(v, str)}}
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

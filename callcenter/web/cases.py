"""Case status over HTTP: the IVR's answer, the residents' look-up, operators' search and view.

A status is told only after the case number and a second factor (date of birth, or the PIN on the receipt).
Caller ID alone never suffices; it only feeds the operator's screen-pop, marked "not verified". Every look-up
is audited; failures lock the case number, the caller number and the client address after a few tries.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from callcenter.cases.model import Case, StatusText
from callcenter.cases.store import CaseStore, Verdict, masked_caller
from callcenter.web.auth import session_of
from callcenter.web.body import read_json
from callcenter.web.errors import ApiError
from callcenter.web.ivr import check_ivr_access, dialplan_answer, dialplan_values
from callcenter.web.keys import SETTINGS
from callcenter.web.openapi import QueryParam, operation

routes = web.RouteTableDef()
CASES = web.AppKey("cases", CaseStore)
VOCABULARY = web.AppKey("case_vocabulary", dict)
OPERATORS = ("operator", "supervisor")
RESULT_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["result"],
    "properties": {"result": {"type": "string", "enum": ["ok", "not_verified"]},
                   "case": {"type": "object", "description": "status, its text, dates, next step, history"}},
}


def _store(request: web.Request) -> CaseStore:
    store = request.app.get(CASES)
    if store is None:
        raise ApiError(503, "cases_unavailable", "case look-up is not configured")
    return store


def _status(request: web.Request, code: str) -> StatusText:
    vocabulary: dict[str, StatusText] = request.app[VOCABULARY]
    return vocabulary.get(code) or StatusText(code, code, code, ())


def _epoch(day: str, timezone: str) -> int | None:
    """A date as the epoch of its local noon (SayUnixTime then says the right day in any zone)."""
    if not day:
        return None
    moment = datetime.fromisoformat(day).replace(hour=12, tzinfo=ZoneInfo(timezone))
    return int(moment.timestamp())


# The per-call suffix Asterisk gives a channel name (PJSIP/trunk-0000002a, Local/s@ctx-0000001b;2).
CHANNEL_SUFFIX = re.compile(r"-[0-9a-f]{8}(;[12])?$")


def line_of(channel: str) -> str:
    """The telephone line a call came in on, from its channel name (pure): PJSIP/trunk-0000002a -> PJSIP/trunk."""
    return CHANNEL_SUFFIX.sub("", channel.strip())[:80]


def ivr_caller(callerid: str, channel: str) -> list[tuple[str, str]]:
    """Whose failures an IVR look-up counts: the caller's number when it is sent, else the line the call came
    in on (withheld numbers all share it), else nothing to tell callers apart by."""
    if sum(c.isdigit() for c in callerid) >= 5:
        return [("phone", callerid)]
    line = line_of(channel)
    return [("line", line)] if line else []


def resident_view(request: web.Request, case: Case) -> dict[str, Any]:
    """What a verified resident may see: no name, no birth date, no phones."""
    status = _status(request, case.status)
    return {
        "number": case.number, "kind": case.kind, "status": status.code, "status_text": status.ru,
        "status_text_en": status.en, "status_date": case.status_date, "next_step": case.next_step,
        "decision_due": case.decision_due or None, "office": case.office,
        "history": [{**h, "text": _status(request, h.get("code", "")).ru} for h in case.history],
    }


async def _verify(request: web.Request, number: str, factor: str, caller: list[tuple[str, str]],
                  channel: str, who: str) -> Verdict:
    store = _store(request)
    verdict = await store.verify(number, factor, caller)
    await store.audit(channel, who, number, verdict.result)
    return verdict


@routes.post("/api/ivr/case-status")
@operation("For the dialplan: a case's status after the caller gives the number and a second factor",
           tags=["ivr"], request_content_type="application/x-www-form-urlencoded", response_content_type="text/plain",
           request_body={"type": "object", "required": ["case", "factor"],
                         "properties": {"case": {"type": "string"}, "factor": {"type": "string",
                                        "description": "date of birth DDMMYYYY, or the receipt PIN"},
                                        "callerid": {"type": "string"},
                                        "channel": {"type": "string", "description": "the call's channel name: "
                                                    "its line counts the failures of withheld numbers"}}},
           responses={200: ("result=ok|not_verified|locked|invalid&status=..&prompts=a+b&date=EPOCH&due=EPOCH"
                                 "[&text=..]; invalid&reason=.. for a malformed number or factor",
                            {"type": "string"}),
                      403: ("not the PBX", None)})
async def ivr_case_status(request: web.Request) -> web.Response:
    check_ivr_access(request)
    values = await dialplan_values(request)
    store = _store(request)
    number, factor, callerid = values.get("case", ""), values.get("factor", ""), values.get("callerid", "")
    channel = values.get("channel", "")
    # The dialplan reads key=value answers only (a JSON error body broke its expressions): a malformed number
    # or factor is a 200 that the caller hears as "not verified" (a mistyped number guesses at no real case).
    if not store.valid_number(number):
        return dialplan_answer(result="invalid", reason="invalid_case_number")
    if not factor.isdigit() or not 4 <= len(factor) <= 8:
        return dialplan_answer(result="invalid", reason="invalid_factor")
    caller = ivr_caller(callerid, channel)
    who = masked_caller(callerid) if caller and caller[0][0] == "phone" else f"line:{line_of(channel)}"
    verdict = await _verify(request, number, factor, caller, "ivr", who)
    if verdict.case is None:
        return dialplan_answer(result=verdict.result)
    settings = request.app[SETTINGS]
    status = _status(request, verdict.case.status)
    zone = settings.hotline.timezone
    return dialplan_answer(result="ok", status=status.code, prompts="+".join(status.prompts),
                           date=_epoch(verdict.case.status_date, zone), due=_epoch(verdict.case.decision_due, zone),
                           text=status.ru if settings.cases.speech_text else None)


@routes.post("/api/cases/lookup")
@operation("Residents: a case's status after the case number and the date of birth or the PIN", tags=["cases"],
           request_body={"type": "object", "required": ["case"], "additionalProperties": False,
                         "properties": {"case": {"type": "string"}, "birth_date": {"type": "string",
                                        "description": "YYYY-MM-DD"}, "pin": {"type": "string"}}},
           responses={200: ("ok with the case, or not_verified (the same whether the case exists or not)",
                            RESULT_SCHEMA),
                      400: ("not JSON", None), 413: ("body too large", None),
                      422: ("malformed case number, or no factor", None), 429: ("locked for a while", None)})
async def lookup(request: web.Request) -> web.Response:
    body = await read_json(request, {"case", "birth_date", "pin"}, {"case"})
    store = _store(request)
    if not store.valid_number(body["case"]):
        raise ApiError(422, "invalid_case_number", {"case": "does not have the case number format"})
    factors = [body.get(name) for name in ("birth_date", "pin") if body.get(name)]
    if len(factors) != 1 or not isinstance(factors[0], str) or len(factors[0]) > 20:
        raise ApiError(422, "invalid_factor", {"birth_date": "give the date of birth (YYYY-MM-DD) or the pin",
                                               "pin": "the PIN printed on the application receipt"})
    remote = request.remote or ""
    verdict = await _verify(request, body["case"], factors[0], [("addr", remote)], "web", f"addr:{remote}")
    if verdict.result == "locked":
        raise ApiError(429, "locked", "too many failed attempts: try again later or call the hotline",
                       {"Retry-After": str(int(store.settings.lock_minutes * 60))})
    if verdict.case is None:
        return web.json_response({"result": "not_verified"})
    return web.json_response({"result": "ok", "case": resident_view(request, verdict.case)})


def staff_view(request: web.Request, case: Case) -> dict[str, Any]:
    data = case.for_staff()
    status = _status(request, case.status)
    data["status_text"], data["status_text_en"] = status.ru, status.en
    # Each step's words (the codes are for programs): the dashboard shows them in the reader's language.
    data["history"] = [{**h, "text": _status(request, h.get("code", "")).ru,
                        "text_en": _status(request, h.get("code", "")).en} for h in case.history]
    return data


@routes.get("/api/cases")
@operation("Operators: find cases by number or by phone (each view audited)", tags=["cases"], access=OPERATORS,
           query=(QueryParam("number", "a case number"), QueryParam("phone", "a phone number, any format")),
           responses={200: ("matching cases", {"type": "array", "items": {"type": "object"}}),
                      422: ("give number or phone", None)})
async def search(request: web.Request) -> web.Response:
    session = session_of(request)
    store = _store(request)
    number, phone = request.query.get("number", ""), request.query.get("phone", "")
    if bool(number) == bool(phone):
        raise ApiError(422, "invalid_query", {"number": "give a case number", "phone": "or a phone, not both"})
    if number:
        if not store.valid_number(number):
            raise ApiError(422, "invalid_case_number", {"number": "does not have the case number format"})
        found = [case] if (case := await store.get(number)) else []
    else:
        found = await store.by_phone(phone)
    for case in found:
        await store.audit("operator", f"operator:{session.username}", case.number, "viewed")
    if not found:
        await store.audit("operator", f"operator:{session.username}", number or "by-phone", "none_found")
    return web.json_response([staff_view(request, case) for case in found])


@routes.get("/api/cases/{number}")
@operation("Operators: one case with its history (audited)", tags=["cases"], access=OPERATORS,
           responses={200: ("the case", {"type": "object", "required": ["number", "kind", "status"],
                                         "properties": {"number": {"type": "string"}, "kind": {"type": "string"},
                                                        "status": {"type": "string"}}}),
                      404: ("no such case", None)})
async def view(request: web.Request) -> web.Response:
    session = session_of(request)
    store = _store(request)
    number = request.match_info["number"]
    case = await store.get(number) if store.valid_number(number) else None
    await store.audit("operator", f"operator:{session.username}", number, "viewed" if case else "none_found")
    if case is None:
        raise ApiError(404, "not_found", "no such case")
    return web.json_response(staff_view(request, case))


def screen_pop(cases: list[Case], callerid: str, interface: str, vocabulary: dict[str, StatusText],
               now: float | None = None) -> dict[str, Any]:
    """For the operator just connected to a caller: cases whose phones match the caller ID. Not verified:
    caller ID can be forged, so this is a hint for the operator, never an answer to the caller."""
    return {"type": "screen_pop", "interface": interface, "callerid": callerid, "verified": False,
            "at": now or datetime.now(UTC).timestamp(),
            "cases": [{"number": c.number, "kind": c.kind, "status": c.status, "status_date": c.status_date,
                       "status_text": vocabulary[c.status].ru if c.status in vocabulary else c.status}
                      for c in cases]}

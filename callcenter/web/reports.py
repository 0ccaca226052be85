"""Supervisors' day reports: JSON, CSV, and a printable page with server-drawn SVG charts."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from callcenter.reports import page
from callcenter.reports.source import day_report
from callcenter.web.auth import browser_page, wants_html
from callcenter.web.cases import CASES
from callcenter.web.errors import ApiError
from callcenter.web.keys import CLOCK, REDIS, SETTINGS
from callcenter.web.openapi import QueryParam, operation
from callcenter.web.plainpage import plain_page

routes = web.RouteTableDef()
SUPERVISOR = ("supervisor",)
DATE = (QueryParam("date", "the day, YYYY-MM-DD in the hotline's time zone (default: today), 2000..2099",
                   {"type": "string", "format": "date"}),)
REPORT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "date": {"type": "string"}, "calls": {"type": "object"}, "by_hour": {"type": "array"},
        "callbacks": {"type": "object"}, "case_lookups": {"type": "object"}, "video": {"type": "object"},
    },
}


FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)


def _day(request: web.Request) -> date:
    zone = ZoneInfo(request.app[SETTINGS].hotline.timezone)
    raw = request.query.get("date")
    if not raw:
        return datetime.fromtimestamp(request.app[CLOCK](), UTC).astimezone(zone).date()
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise ApiError(422, "invalid_field", {"date": f"'{raw[:20]}' is not a date YYYY-MM-DD"}) from None
    # Day boundaries are epoch seconds: years 1 and 9999 overflow them, and no report lies so far out.
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ApiError(422, "invalid_field", {"date": f"a day between {FIRST_DAY} and {LAST_DAY}"})
    return day


async def _report(request: web.Request) -> dict[str, Any]:
    return await day_report(request.app[REDIS], request.app[SETTINGS], request.app[CASES], _day(request))


@routes.get("/api/reports/day")
@operation("A day's report: calls, service level, waits, callbacks, case look-ups, video, all by hour, with "
           "the operators needed by Erlang C", tags=["reports"], access=SUPERVISOR, query=DATE,
           responses={200: ("the report", REPORT_SCHEMA), 422: ("a bad date", None)})
async def report_json(request: web.Request) -> web.Response:
    return web.json_response(await _report(request))


@routes.get("/api/reports/day.csv")
@operation("A day's hourly figures as CSV", tags=["reports"], access=SUPERVISOR, query=DATE,
           responses={200: ("text/csv", None), 422: ("a bad date", None)})
async def report_csv(request: web.Request) -> web.Response:
    from callcenter.reports.day import csv_rows

    report = await _report(request)
    out = io.StringIO()
    csv.writer(out).writerows(csv_rows(report))
    return web.Response(text=out.getvalue(), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="hotline-{report["date"]}.csv"'})


@routes.get("/reports/day")
@operation("The printable day report with charts (HTML, no JavaScript needed); a logged-out browser is sent to "
           "the login page and back (303 to /?next=...)", tags=["reports"], access=SUPERVISOR, query=DATE,
           responses={200: ("text/html", None), 303: ("a browser that is not logged in: to the login page", None),
                      422: ("a bad date", None)})
@browser_page
async def report_page(request: web.Request) -> web.Response:
    try:
        report = await _report(request)
    except ApiError as exc:
        if exc.status != 422 or not wants_html(request):
            raise
        return plain_page(422, "Нет такого дня", "Дата указывается как ГГГГ-ММ-ДД, с 2000 по 2099 год.",
                          [("/reports/day", "Отчёт за сегодня"), ("/", "Панель")])
    zone = ZoneInfo(request.app[SETTINGS].hotline.timezone)
    now = datetime.fromtimestamp(request.app[CLOCK](), UTC).astimezone(zone)
    current_hour = now.hour if report["date"] == now.date().isoformat() else None
    return web.Response(text=page.render(report, request.app[SETTINGS].hotline.name, current_hour),
                        content_type="text/html", charset="utf-8")

"""Day reports: the pure computation from facts, and the supervisor's JSON, CSV and printable page."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from callcenter.callbacks.model import Callback
from callcenter.config import Settings
from callcenter.pbx.tracker import QueueTracker
from callcenter.reports.day import build_day_report, merge_calls
from callcenter.reports.facts import FactRecorder
from callcenter.video.model import VideoSession
from callcenter.web.app import create_app
from callcenter.web.cases import CASES
from callcenter.web.keys import CLOCK
from tests.conftest import staff_login

MSK = ZoneInfo("Europe/Moscow")
DAY = date(2026, 11, 24)


def at(hour: int, minute: int = 0, second: int = 0) -> float:
    return datetime(2026, 11, 24, hour, minute, second, tzinfo=MSK).timestamp()


def joined(uid: str, t: float) -> dict[str, str]:
    return {"e": "j", "u": uid, "t": f"{t}"}


def answered(uid: str, t: float, hold: int) -> dict[str, str]:
    return {"e": "a", "u": uid, "t": f"{t}", "h": str(hold), "i": "Local/1@agents"}


def abandoned(uid: str, t: float, hold: int) -> dict[str, str]:
    return {"e": "x", "u": uid, "t": f"{t}", "h": str(hold)}


def completed(uid: str, t: float, talk: int) -> dict[str, str]:
    return {"e": "c", "u": uid, "t": f"{t}", "k": str(talk)}


FACTS = [
    joined("a", at(9, 0)), answered("a", at(9, 0, 10), 10), completed("a", at(9, 3, 10), 180),
    joined("b", at(9, 30)), answered("b", at(9, 31), 60), completed("b", at(9, 36), 300),
    joined("c", at(9, 50)), abandoned("c", at(9, 52), 120),
    joined("d", at(10, 5)), answered("d", at(10, 5, 5), 5), completed("d", at(10, 7, 5), 120),
    # A resync or a restarted service writes a fact again: it counts once.
    joined("a", at(9, 0)), answered("a", at(9, 0, 10), 10),
    # A call that began before the facts did: only its end is known, it is not counted as offered.
    completed("z", at(8, 1), 60),
]


def test_calls_are_merged_per_caller_and_counted_in_their_arrival_hour() -> None:
    calls = merge_calls(FACTS)
    assert calls["a"].outcome == "answered" and calls["a"].talk == 180 and calls["c"].outcome == "abandoned"
    report = build_day_report(DAY, MSK, 20, 0.8, FACTS, [{"t": f"{at(9, m)}", "in": "3"} for m in range(60)],
                              [], [], [])
    totals = report["calls"]
    assert (totals["offered"], totals["answered"], totals["abandoned"]) == (4, 3, 1)
    # Within 20 s: a (10 s) and d (5 s); b waited 60 s and c abandoned: 2 of 4.
    assert totals["service_level"] == 0.5
    assert totals["average_speed_of_answer"] == 25.0 and totals["longest_wait"] == 120.0
    assert totals["average_handle_time"] == 200.0
    nine = next(row for row in report["by_hour"] if row["hour"] == 9)
    assert (nine["offered"], nine["answered"], nine["abandoned"]) == (3, 2, 1)
    assert nine["service_level"] == round(1 / 3, 4) and nine["operators_logged_in"] == 3.0
    # Erlang C for 3 calls an hour of 240 s: one operator meets 80 % in 20 s.
    assert nine["operators_needed"] == 1
    assert [row["hour"] for row in report["by_hour"]] == list(range(8, 20))


def test_callbacks_lookups_and_video_figures() -> None:
    def callback(cid: str, channel: str, status: str, rings: int, reason: str = "", carried: int = 0) -> Callback:
        return Callback(cid, "+79161234567", channel, status, at(9), at(9), at(9), rings=rings, attempts=rings,
                        reason=reason, carried_over=carried)

    callbacks = [callback("cb1", "ivr", "done", 1), callback("cb2", "web", "done", 2),
                 callback("cb3", "ivr", "failed", 3, "no answer after 3 attempts"),
                 callback("cb4", "operator", "scheduled", 0, carried=1)]
    lookups = [{"at": f"{at(10)}", "channel": "ivr", "result": "ok"},
               {"at": f"{at(10)}", "channel": "web", "result": "not_verified"},
               {"at": f"{at(11)}", "channel": "web", "result": "locked"},
               {"at": f"{at(11)}", "channel": "screen_pop", "result": "shown"}]
    sign = VideoSession.start("sign", at(12))
    sign.interpreter_joins("ivanova", at(12, 1))
    sign.operator_joins("petrov", at(12, 3))
    sign.end("finished", at(12, 20))
    report = build_day_report(DAY, MSK, 20, 0.8, [], [], callbacks, lookups, [sign])
    figures = report["callbacks"]
    assert figures["requested_by_channel"] == {"ivr": 2, "operator": 1, "web": 1}
    assert (figures["completed_first_attempt"], figures["completed_later_attempt"]) == (1, 1)
    assert figures["failed_by_reason"] == {"no answer after 3 attempts": 1}
    assert figures["carried_over"] == 1 and figures["pending"] == 1
    assert report["case_lookups"]["by_channel"] == {"ivr": {"verified": 1}, "web": {"locked": 1, "refused": 1}}
    assert report["case_lookups"]["total"] == 3
    video = report["video"]
    assert video["wait_for_interpreter"]["average"] == 60.0 and video["wait_for_operator"]["average"] == 120.0


@pytest.fixture
async def reports_app(settings: Settings, redis: aioredis.Redis) -> AsyncIterator[TestClient]:
    client = TestClient(TestServer(create_app(settings, redis_url=settings.redis.url)))
    await client.start_server()
    yield client
    await client.close()


async def test_supervisors_get_json_csv_and_a_page_with_svg_charts(reports_app: TestClient,
                                                                   redis: aioredis.Redis) -> None:
    recorder = FactRecorder(redis, QueueTracker("Europe/Moscow", 20, queues=["hotline"]), "hotline",
                            "Europe/Moscow", 30, lambda: at(10))
    recorder.on_changes([{"type": "caller_joined", "caller": {"uniqueid": "u1", "kind": "call",
                                                              "joined_at": at(9, 15)}},
                         {"type": "call_connected", "uniqueid": "u1", "hold_seconds": 12, "interface": "x"},
                         {"type": "caller_joined", "caller": {"uniqueid": "cb1-1", "kind": "callback",
                                                              "joined_at": at(9, 16)}}], at(9, 15, 12))
    await recorder.flush()
    await reports_app.app[CASES].audit("web", "masked", "100200300", "not_verified", now=at(9, 20))

    assert (await reports_app.get("/api/reports/day?date=2026-11-24")).status == 401
    await staff_login(reports_app, "operator")
    assert (await reports_app.get("/api/reports/day?date=2026-11-24")).status == 403
    reports_app.session.cookie_jar.clear()
    await staff_login(reports_app, "supervisor")
    bad = await reports_app.get("/api/reports/day?date=24.11.2026")
    assert bad.status == 422 and "date" in (await bad.json())["detail"]
    report: dict[str, Any] = await (await reports_app.get("/api/reports/day?date=2026-11-24")).json()
    assert report["calls"]["offered"] == 1 and report["calls"]["answered"] == 1  # the placeholder is no call
    assert report["case_lookups"]["by_channel"] == {"web": {"refused": 1}}

    exported = await reports_app.get("/api/reports/day.csv?date=2026-11-24")
    assert exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(await exported.text())))
    assert rows[0][:4] == ["date", "hour", "offered", "answered"]
    nine = next(row for row in rows if row[1] == "9")
    assert nine[2:4] == ["1", "1"] and rows[-1][1] == "total"

    page = await reports_app.get("/reports/day?date=2026-11-24")
    html = await page.text()
    assert page.status == 200 and html.count("<svg") == 4 and "<script" not in html
    assert "Уровень сервиса по часам" in html and "2026-11-24" in html


BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


async def test_the_page_reads_as_a_russian_report(settings: Settings, redis: aioredis.Redis) -> None:
    """Issue 18: percent on the service-level axis, decimal commas, distinct chart ids, another day reachable,
    no zeros for hours still to come, and a page (not JSON) for those who may not see it."""
    app = create_app(settings, redis_url=settings.redis.url)
    app[CLOCK] = lambda: at(10, 30)  # the report's own day, half past ten
    reports_app = TestClient(TestServer(app))
    await reports_app.start_server()
    try:
        await _read_the_page(reports_app, redis)
    finally:
        await reports_app.close()


async def _read_the_page(reports_app: TestClient, redis: aioredis.Redis) -> None:
    recorder = FactRecorder(redis, QueueTracker("Europe/Moscow", 20, queues=["hotline"]), "hotline",
                            "Europe/Moscow", 30, lambda: at(10))
    recorder.on_changes([{"type": "caller_joined", "caller": {"uniqueid": "u1", "kind": "call",
                                                              "joined_at": at(9, 15)}},
                         {"type": "call_connected", "uniqueid": "u1", "hold_seconds": 12, "interface": "x"}],
                        at(9, 15, 12))
    await recorder.flush()
    await staff_login(reports_app, "operator")
    refused = await reports_app.get("/reports/day?date=2026-11-24", headers=BROWSER)
    assert refused.status == 403 and refused.content_type == "text/html"
    assert "вы вошли как оператор" in await refused.text()
    reports_app.session.cookie_jar.clear()
    await staff_login(reports_app, "supervisor")

    page = await reports_app.get("/reports/day?date=2026-11-24", headers=BROWSER)
    html = await page.text()
    ids = re.findall(r'aria-labelledby="([^"]+)"', html)
    assert len(ids) == 4 and len(set(ids)) == 4
    service_level_chart = html[html.index('id="chart-service-level"'):].split("</svg>")[0]
    assert "100 %" in service_level_chart and "0.84" not in service_level_chart
    visible = re.sub(r"<[^>]+>", " ", html)
    assert not re.search(r"\d\.\d", visible), re.search(r".{20}\d\.\d.{20}", visible)
    assert "12,0" in visible  # the wait, with a decimal comma
    assert "отчёт за 24 ноября 2026 г." in html
    assert 'href="?date=2026-11-23"' in html and 'href="?date=2026-11-25"' in html
    assert 'name="date" type="date" value="2026-11-24"' in html
    eleven = re.search(r"<tr><td>11:00</td>(.*?)</tr>", html)
    assert eleven is not None and "<td>0</td>" not in eleven.group(1) and "—" in eleven.group(1)
    ten = re.search(r"<tr><td>10:00</td>(.*?)</tr>", html)
    assert ten is not None and "<td>0</td>" in ten.group(1)  # a past hour with no calls is a real zero

    bad = await reports_app.get("/reports/day?date=0001-01-01", headers=BROWSER)
    assert bad.status == 422 and "Нет такого дня" in await bad.text()

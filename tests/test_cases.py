"""Case status: import, verification, lockout, audit, the IVR answer and the operator's screen-pop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from callcenter import server
from callcenter.callbacks.model import attempt_uniqueid
from callcenter.cases.importer import check_file
from callcenter.cases.model import Case, load_vocabulary
from callcenter.cases.store import CaseStore
from callcenter.config import CaseSettings, Settings
from callcenter.server import build_service
from callcenter.web.app import DEFAULT_STATUSES, create_app
from callcenter.web.cases import CASES, ivr_caller
from callcenter.web.hotline import PBX_LINK
from tests.amitools import TranscriptServer
from tests.conftest import REPO, TRANSCRIPTS, staff_login

VOCABULARY = load_vocabulary(DEFAULT_STATUSES)
PATTERN = CaseSettings().number_pattern
CSV_HEADER = "number,kind,applicant_name,birth_date,phones,pin,status,status_date,office,next_step,decision_due\n"
GOOD_ROWS = [
    "100200300,Ежемесячное пособие,Иванова Анна Петровна,1954-03-15,+7 495 123-45-67,4321,in_review,2026-11-10,"
    "Отдел соцзащиты №3,,2026-12-01",
    "100200301,Место в доме-интернате,Петров Иван Сергеевич,1940-07-01,8 916 555-12-34;84951112233,,"
    "documents_missing,2026-11-20,Отдел №1,Справка о доходах,",
]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def import_command(path: Path, redis_url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "callcenter", "import-cases", str(path), *extra], cwd=REPO,
                          env={"REDIS_URL": redis_url, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                          check=False)


async def test_import_good_file_then_idempotent_reimport(tmp_path: Path, redis_url: str,
                                                         redis: aioredis.Redis) -> None:
    path = write(tmp_path, "cases.csv", CSV_HEADER + "\n".join(GOOD_ROWS) + "\n")
    result = import_command(path, redis_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "imported 2 case(s)" in result.stdout
    store = CaseStore(redis, CaseSettings())
    case = await store.get("100200301")
    assert case is not None
    assert case.phones == ["+79165551234", "+74951112233"]
    assert [c.number for c in await store.by_phone("8 (916) 555-12-34")] == ["100200301"]
    # The same file again, with one phone changed: an upsert, the index follows.
    changed = GOOD_ROWS[1].replace("8 916 555-12-34;", "")
    again = write(tmp_path, "again.csv", CSV_HEADER + GOOD_ROWS[0] + "\n" + changed + "\n")
    assert import_command(again, redis_url).returncode == 0
    assert await store.by_phone("+79165551234") == []
    assert len(await redis.keys("case:1*")) == 2


async def test_bad_rows_are_reported_with_line_numbers_and_nothing_is_written(
        tmp_path: Path, redis_url: str, redis: aioredis.Redis) -> None:
    rows = [GOOD_ROWS[0],
            "12AB,Пособие,Имя,1950-01-01,,,in_review,2026-11-01,,,",
            "100200302,Пособие,Имя,1950-13-01,,,in_review,2026-11-01,,,",
            "100200303,Пособие,Имя,1950-01-01,12345,,in_review,2026-11-01,,,",
            "100200304,Пособие,Имя,1950-01-01,,,lost,2026-11-01,,,",
            GOOD_ROWS[0]]
    path = write(tmp_path, "bad.csv", CSV_HEADER + "\n".join(rows) + "\n")
    result = import_command(path, redis_url)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert f"{path}:3: number: '12AB' does not match the case number format" in lines
    assert f"{path}:4: birth_date: '1950-13-01' is not a date YYYY-MM-DD" in lines
    assert any(line.startswith(f"{path}:5: phones: '12345'") for line in lines)
    assert f"{path}:6: status: unknown code 'lost'" in lines
    assert f"{path}:7: number 100200300 is also on line 2" in lines
    assert "nothing imported" in result.stdout
    assert await redis.keys("case:*") == []


def test_json_lines_and_dry_run(tmp_path: Path, redis_url: str) -> None:
    lines = [json.dumps({"number": "100200305", "kind": "Пособие", "applicant_name": "Сидорова Ольга",
                         "birth_date": "1960-02-29", "phones": ["+74951234500"], "pin": "7777",
                         "status": "approved", "status_date": "2026-11-21",
                         "history": [{"code": "received", "date": "2026-10-01", "note": ""}]}, ensure_ascii=False),
             "{not json", json.dumps(["a list"])]
    path = write(tmp_path, "cases.jsonl", "\n".join(lines) + "\n")
    report = check_file(path, PATTERN, VOCABULARY)
    assert [line for line, _ in report.errors] == [2, 3]
    good = write(tmp_path, "good.jsonl", lines[0] + "\n")
    dry = import_command(good, redis_url, "--dry-run")
    assert dry.returncode == 0 and "would be imported; nothing written" in dry.stdout


@pytest.fixture
async def cases_app(settings: Settings, redis: aioredis.Redis, tmp_path: Path) -> AsyncIterator[TestClient]:
    client = TestClient(TestServer(create_app(settings, redis_url=settings.redis.url)))
    await client.start_server()
    report = check_file(write_rows(tmp_path), PATTERN, VOCABULARY)
    assert report.ok, report.errors
    await client.app[CASES].upsert_all(report.cases)
    yield client
    await client.close()


def write_rows(folder: Path) -> Path:
    return write(folder, "cases.csv", CSV_HEADER + "\n".join(GOOD_ROWS) + "\n")


async def lookup(client: TestClient, **body: Any) -> tuple[int, dict[str, Any]]:
    response = await client.post("/api/cases/lookup", json=body)
    return response.status, await response.json()


async def test_web_lookup_right_and_wrong_factors(cases_app: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        status, ok = await lookup(cases_app, case="100200300", birth_date="1954-03-15")
        assert status == 200 and ok["result"] == "ok"
        assert ok["case"]["status"] == "in_review"
        assert ok["case"]["status_text"] == "Заявление рассматривается."
        assert ok["case"]["decision_due"] == "2026-12-01"
        assert "applicant_name" not in ok["case"] and "birth_date" not in ok["case"]
        assert (await lookup(cases_app, case="100200300", pin="4321"))[1]["result"] == "ok"
        wrong = await lookup(cases_app, case="100200300", birth_date="1954-03-16")
        unknown = await lookup(cases_app, case="999999999", birth_date="1954-03-15")
        assert wrong == unknown == (200, {"result": "not_verified"})
    logged = caplog.text
    assert "Иванова" not in logged and "1954-03-15" not in logged and "4951234567" not in logged


@pytest.mark.parametrize(("body", "code"), [
    ({"case": "12-AB", "pin": "1234"}, "invalid_case_number"),
    ({"case": "100200300"}, "invalid_factor"),
    ({"case": "100200300", "pin": "1234", "birth_date": "1954-03-15"}, "invalid_factor"),
    ({"case": "100200300", "pin": "1234", "extra": "x"}, "unknown_fields"),
])
async def test_bad_lookups_make_no_lookup(cases_app: TestClient, redis: aioredis.Redis, body: dict[str, Any],
                                          code: str) -> None:
    status, answer = await lookup(cases_app, **body)
    assert status == 422 and answer["error"] == code
    assert await redis.xlen("audit:cases") == 0


async def test_huge_or_binary_bodies(cases_app: TestClient, redis: aioredis.Redis) -> None:
    huge = await cases_app.post("/api/cases/lookup", data=b"{" + b" " * 100_000 + b"}",
                                headers={"Content-Type": "application/json"})
    binary = await cases_app.post("/api/cases/lookup", data=b"\x00\xff\xfe\x01",
                                  headers={"Content-Type": "application/json"})
    assert (huge.status, binary.status) == (413, 400)
    assert await redis.xlen("audit:cases") == 0


async def test_lockout_after_five_failures_and_unlock_after_the_window(redis: aioredis.Redis,
                                                                      tmp_path: Path) -> None:
    store = CaseStore(redis, CaseSettings(max_failures=5, failure_window_minutes=15, lock_minutes=30))
    report = check_file(write_rows(tmp_path), PATTERN, VOCABULARY)
    await store.upsert_all(report.cases)
    caller = [("phone", "+74957770000")]
    now = 1_800_000_000.0
    results = [(await store.verify("100200300", "01011900", caller, now=now + i)).result for i in range(5)]
    assert results == ["not_verified"] * 4 + ["locked"]
    # The guesser is locked out of every case, even with the right factor.
    assert (await store.verify("100200300", "15031954", caller, now=now + 10)).result == "locked"
    assert (await store.verify("100200301", "01071940", caller, now=now + 10)).result == "locked"
    # The resident, who has not guessed wrong, still gets their own case (issue 16, point 8): a stranger cannot
    # lock them out of it. A wrong answer from a fresh caller is told "locked" and counts against them.
    assert (await store.verify("100200300", "15031954", [("phone", "+74950000001")], now=now + 10)).result == "ok"
    assert (await store.verify("100200300", "01011901", [("phone", "+74950000002")], now=now + 11)).result == "locked"
    assert (await store.verify("100200300", "15031954", [("phone", "+74950000002")], now=now + 12)).result == "locked"
    later = now + 31 * 60
    assert (await store.verify("100200300", "15031954", caller, now=later)).result == "ok"


async def test_a_locked_case_lets_only_a_few_fresh_callers_try(redis: aioredis.Redis, tmp_path: Path) -> None:
    """Guessing from many fresh addresses: each gets one try while the case is locked, and only max_failures of
    them per lock, so the per-case limit on guesses stands."""
    store = CaseStore(redis, CaseSettings(max_failures=3, failure_window_minutes=15, lock_minutes=30))
    await store.upsert_all(check_file(write_rows(tmp_path), PATTERN, VOCABULARY).cases)
    now = 1_800_000_000.0
    for i in range(3):
        await store.verify("100200300", "01011900", [("addr", "10.0.0.1")], now=now + i)
    answers = [(await store.verify("100200300", "01011900", [("addr", f"10.1.0.{n}")], now=now + 10 + n)).result
               for n in range(5)]
    assert answers == ["locked"] * 5
    # Three fresh tries were spent: even the right answer from a fourth fresh address now waits for the lock.
    assert (await store.verify("100200300", "15031954", [("addr", "10.2.0.1")], now=now + 20)).result == "locked"


async def test_a_guesser_hammering_a_locked_case_spends_none_of_the_residents_tries(redis: aioredis.Redis,
                                                                                   tmp_path: Path) -> None:
    store = CaseStore(redis, CaseSettings(max_failures=3, failure_window_minutes=15, lock_minutes=30))
    await store.upsert_all(check_file(write_rows(tmp_path), PATTERN, VOCABULARY).cases)
    now = 1_800_000_000.0
    for i in range(3):
        await store.verify("100200300", "01011900", [("addr", "10.0.0.1")], now=now + i)
    for i in range(20):  # the same guesser, locked, keeps trying
        assert (await store.verify("100200300", "01011900", [("addr", "10.0.0.1")], now=now + 5 + i)).result == \
            "locked"
    assert (await store.verify("100200300", "15031954", [("addr", "10.3.0.1")], now=now + 30)).result == "ok"


async def test_withheld_numbers_are_limited_per_line(redis: aioredis.Redis, tmp_path: Path) -> None:
    store = CaseStore(redis, CaseSettings(max_failures=5, anonymous_line_max_failures=8))
    await store.upsert_all(check_file(write_rows(tmp_path), PATTERN, VOCABULARY).cases)
    line = ivr_caller("", "PJSIP/city-trunk-0000002a")
    assert line == [("line", "PJSIP/city-trunk")]
    assert ivr_caller("anonymous", "PJSIP/city-trunk-0000003b") == line  # every withheld call on that line
    assert ivr_caller("+74951234567", "PJSIP/city-trunk-0000002a") == [("phone", "+74951234567")]
    now = 1_800_000_000.0
    cases = [f"1002003{n:02d}" for n in range(8)]  # different cases: only the line's count adds up
    results = [(await store.verify(case, "01011900", line, now=now + n)).result for n, case in enumerate(cases)]
    assert results == ["not_verified"] * 7 + ["locked"]
    assert (await store.verify("100200300", "15031954", line, now=now + 10)).result == "locked"


async def test_ivr_answer_as_the_dialplan_reads_it_and_the_audit(cases_app: TestClient, redis: aioredis.Redis) -> None:
    response = await cases_app.post("/api/ivr/case-status",
                                    data={"case": "100200300", "factor": "15031954", "callerid": "+74951234567"})
    text = await response.text()
    # Read exactly as the dialplan does (CUT on & and =, no decoding): the prompt name must arrive playable.
    answer = dict(pair.split("=", 1) for pair in text.split("&"))
    assert answer["result"] == "ok"
    assert answer["status"] == "in_review"
    assert answer["prompts"].replace("+", "&") == "status/in-review"  # Playback(${REPLACE(..,+,&)})
    assert "%" not in text
    said = datetime.fromtimestamp(int(answer["date"]), ZoneInfo("Europe/Moscow"))
    assert said.date().isoformat() == "2026-11-10"  # SayUnixTime(..., Europe/Moscow, AdBY)
    assert "text" not in answer
    refused = await cases_app.post("/api/ivr/case-status", data={"case": "100200300", "factor": "1111",
                                                                 "callerid": "+74951234567"})
    assert await refused.text() == "result=not_verified"
    malformed = await cases_app.post("/api/ivr/case-status", data={"case": "abc", "factor": "1111"})
    # A key=value answer the dialplan can read (a JSON error body broke its expression parser).
    assert malformed.status == 200 and await malformed.text() == "result=invalid&reason=invalid_case_number"
    no_factor = await cases_app.post("/api/ivr/case-status", data={"case": "100200300", "factor": "12"})
    assert await no_factor.text() == "result=invalid&reason=invalid_factor"
    records = list(reversed(await cases_app.app[CASES].audit_records()))
    assert [(r["channel"], r["case"], r["result"]) for r in records] == [
        ("ivr", "100200300", "ok"), ("ivr", "100200300", "not_verified")]
    assert records[0]["who"] == "+*********67"


async def test_operators_search_and_view_are_audited(cases_app: TestClient) -> None:
    await staff_login(cases_app, "operator", username="op7")
    by_phone = await (await cases_app.get("/api/cases", params={"phone": "84951234567"})).json()
    assert [c["number"] for c in by_phone] == ["100200300"]
    assert by_phone[0]["applicant_name"] == "Иванова Анна Петровна" and "pin_hash" not in by_phone[0]
    one = await cases_app.get("/api/cases/100200301")
    assert (await one.json())["status_text"].startswith("Не хватает документов")
    assert (await cases_app.get("/api/cases/999999999")).status == 404
    assert (await cases_app.get("/api/cases")).status == 422
    records = await cases_app.app[CASES].audit_records()
    assert [(r["who"], r["case"], r["result"]) for r in reversed(records)] == [
        ("operator:op7", "100200300", "viewed"), ("operator:op7", "100200301", "viewed"),
        ("operator:op7", "999999999", "none_found")]


async def test_screen_pop_on_a_replayed_agent_connect(settings: Settings) -> None:
    """The real recording queue_call_answered played over TCP: its AgentConnect (caller 5551001) pops the
    matching case on the operator's stream, marked not verified."""
    async with recorded_service(settings) as client:
        link = client.app[PBX_LINK]
        await client.app[CASES].upsert_all([Case("100200399", "Пособие", "Тест", "1950-01-01", ["5551001"],
                                                 "in_review", "2026-11-01")])
        await link.client.wait_until(lambda: link.resyncs >= 1, 5)
        changes = link.feed.listen()
        for _ in range(3):  # each action lets the recording play on to its next response
            await link.client.send_action("Ping", check=False)
        while (change := await changes.get())["type"] != "screen_pop":
            pass
        assert change["interface"] == "Local/1@agent-sim"
        assert change["verified"] is False
        assert [c["number"] for c in change["cases"]] == ["100200399"]
        shown = await client.app[CASES].audit_records()
        assert (shown[0]["channel"], shown[0]["case"], shown[0]["result"]) == ("screen_pop", "100200399", "shown")


async def test_a_burst_of_connects_pops_each_operators_own_cases(settings: Settings, redis: aioredis.Redis) -> None:
    """Connects arriving together are looked up side by side: every operator gets the cases of their own
    caller, in the order app_queue connected them; callback and video placeholders get no pop."""
    pops, shown = await _burst_of_connects(settings, callers=150, placeholders=True)
    assert [p["interface"] for p in pops] == [f"PJSIP/{i}" for i in range(150)]
    assert all([c["number"] for c in p["cases"]] == [f"3000{i:05d}"] for i, p in enumerate(pops))
    assert sorted((r["channel"], r["case"]) for r in shown) == [("screen_pop", f"3000{i:05d}") for i in range(150)]


async def test_screen_pops_that_fall_too_far_behind_drop_the_oldest(
        settings: Settings, redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """Past the backlog the oldest connects lose their pop (their calls have gone on longest), and the log
    says how many; the newest still pop."""
    monkeypatch.setattr(server, "SCREEN_POP_BACKLOG", 100)
    pops, shown = await _burst_of_connects(settings, callers=150, placeholders=False)
    assert [p["interface"] for p in pops] == [f"PJSIP/{i}" for i in range(50, 150)]
    assert len(shown) == 100
    dropped = [r for r in caplog.records if r.getMessage().startswith("screen pops fell behind")]
    assert [getattr(r, "dropped", None) for r in dropped] == [50]


async def _burst_of_connects(settings: Settings, callers: int, placeholders: bool
                             ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The service on a recorded Asterisk session; `callers` connects (and two placeholders) handed to the
    link's consumers at once, as one read off the AMI socket does. Returns the pops and the audit."""
    async with recorded_service(settings) as client:
        link = client.app[PBX_LINK]
        await client.app[CASES].upsert_all([
            Case(f"3000{i:05d}", "Пособие", "Тест", "1950-01-01", [f"7916{i:07d}"], "in_review", "2026-11-01")
            for i in range(callers)])
        await link.client.wait_until(lambda: link.resyncs >= 1, 5)
        changes = link.feed.listen()
        burst: list[dict[str, Any]] = [
            {"type": "call_connected", "interface": f"PJSIP/{i}", "uniqueid": f"1795000000.{i}",
             "callerid": f"7916{i:07d}"} for i in range(callers)]
        if placeholders:  # their caller IDs match cases: only the filter keeps them from popping
            burst += [{"type": "call_connected", "interface": "PJSIP/cb", "uniqueid": attempt_uniqueid("cb0123abcd", 1),
                       "callerid": "79160000001"},
                      {"type": "call_connected", "interface": "PJSIP/video", "uniqueid": "video-v0123456789ab",
                       "callerid": "79160000002"}]
        for sink in link.sinks:
            sink(burst, link.now())
        pops: list[dict[str, Any]] = []
        expected = min(callers, server.SCREEN_POP_BACKLOG)
        while len(pops) < expected:
            change = await asyncio.wait_for(changes.get(), 10)
            if change["type"] == "screen_pop":
                pops.append(change)
        shown = await client.app[CASES].audit_records(count=1000)
        # The placeholders' pops, had they been made, would have been published with the same batch.
        assert not any(change["type"] == "screen_pop" for change in _drain(changes))
        return pops, shown


def _drain(queue: asyncio.Queue[dict[str, Any]]) -> list[dict[str, Any]]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


@contextlib.asynccontextmanager
async def recorded_service(settings: Settings) -> AsyncIterator[TestClient]:
    """The whole service on the real recording queue_call_answered, played over TCP."""
    server_ = TranscriptServer((TRANSCRIPTS / "queue_call_answered.ami").read_bytes())
    await server_.start()
    configured = settings.replace("ami", host="127.0.0.1", port=server_.port, secret="x", ping_interval=3600)
    client = TestClient(TestServer(build_service(configured)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()
        await server_.stop()

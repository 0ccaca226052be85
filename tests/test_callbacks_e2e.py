"""Callbacks end to end: the PBX simulator over real TCP, a real Redis-compatible server, the real service.
Time is injected (a clock the test moves), never slept; the dialler runs as the worker's job would."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from callcenter.callbacks.dialer import Dialer
from callcenter.callbacks.jobs import AmiPbx
from callcenter.callbacks.model import Status
from callcenter.callbacks.store import CallbackStore
from callcenter.config import Settings
from callcenter.hours import WorkingHours
from callcenter.pbx.protocol import Message
from callcenter.pbx.simulator import PbxSimulator, SimConfig
from callcenter.server import CALLBACK_MONITOR, build_service
from callcenter.web.callbacks import SCHEDULER
from callcenter.web.hotline import PBX_LINK
from callcenter.web.keys import CLOCK
from tests.conftest import staff_login

MSK = ZoneInfo("Europe/Moscow")
LONG = 100_000.0


def msk(hour: int, minute: int = 0, day: int = 24) -> float:
    return datetime(2026, 11, day, hour, minute, tzinfo=MSK).timestamp()


@dataclass
class Clock:
    now: float
    # When set, the clock reads the PBX's own (accelerated, simulated) time instead of `now`.
    follow: Callable[[], float] | None = None

    def __call__(self) -> float:
        return self.follow() if self.follow else self.now


@dataclass
class RecordingScheduler:
    """Stands in for RQ: remembers what was scheduled for when, so the test can run it at that time."""

    jobs: list[tuple[str, float]] = field(default_factory=list)

    async def schedule(self, callback_id: str, at: float) -> None:
        self.jobs.append((callback_id, at))


@dataclass
class Hotline:
    client: TestClient
    sim: PbxSimulator
    clock: Clock
    scheduler: RecordingScheduler
    settings: Settings
    store: CallbackStore

    async def ask(self, phone: str, **extra: Any) -> dict[str, Any]:
        response = await self.client.post("/api/callbacks", json={"phone": phone, **extra})
        assert response.status in (200, 201), await response.text()
        return await response.json()  # type: ignore[no-any-return]

    async def dial(self, callback_id: str) -> str:
        """What the RQ job does at its time."""
        hours = WorkingHours.from_settings(self.settings.hours, self.settings.hotline.timezone)
        async with AmiPbx(self.settings) as pbx:
            dialer = Dialer(self.store, self.settings, hours, pbx, self.scheduler, owner="test-worker")
            return await dialer.place(callback_id, now=self.clock())

    async def settled(self, callback_id: str, statuses: set[str], timeout: float = 10.0) -> Any:
        """Wait until the monitor has handled the PBX events that move the callback to one of `statuses`."""
        monitor = self.client.app[CALLBACK_MONITOR]
        async with asyncio.timeout(timeout):
            while True:
                callback = await self.store.get(callback_id)
                if callback.status in statuses:
                    return callback
                handled = monitor.handled
                while monitor.handled == handled:
                    await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running_hotline(settings: Settings, redis: aioredis.Redis, queue_log: str = "",
                          **callbacks: Any) -> AsyncIterator[Hotline]:
    # The simulated PBX's day starts at 10:00 Moscow time, whatever the wall clock says.
    sim = PbxSimulator(SimConfig(agents=1, secret="s", generate_traffic=False, agent_no_answer=0.0,
                                 acceleration=100, resident_answer_probability=1.0, queue_log=queue_log),
                       start_time=msk(10))
    await sim.start()
    configured = settings.replace("ami", host="127.0.0.1", port=sim.port, secret="s")
    configured = configured.replace("reports", queue_log=queue_log)
    configured = configured.replace("callbacks", retry_minutes_no_answer=10.0, retry_minutes_busy=5.0, **callbacks)
    app = build_service(configured)
    clock = Clock(msk(10))
    scheduler = RecordingScheduler()
    app[CLOCK] = clock
    app[SCHEDULER] = scheduler
    client = TestClient(TestServer(app))
    await client.start_server()
    link = client.app[PBX_LINK]
    await link.client.wait_until(lambda: link.resyncs >= 1, 5)
    try:
        yield Hotline(client, sim, clock, scheduler, configured, CallbackStore(redis))
    finally:
        await client.close()
        await sim.stop()


@pytest.fixture
async def hotline(settings: Settings, redis: aioredis.Redis) -> AsyncIterator[Hotline]:
    async with running_hotline(settings, redis) as running:
        yield running


async def test_web_request_cancel_and_one_active_per_number(hotline: Hotline, redis: aioredis.Redis) -> None:
    first = await hotline.ask("8 (495) 123-45-67", topic="субсидия")
    assert first["phone"] == "+7 *** ***-45-67"
    assert first["status"] == "scheduled"
    assert first["position"] == 1
    assert first["estimated_call_at"] >= hotline.clock.now
    assert len(first["cancel_token"]) > 20
    assert hotline.scheduler.jobs == [(first["id"], hotline.clock.now)]
    again = await hotline.client.post("/api/callbacks", json={"phone": "+7 495 1234567"})
    assert again.status == 200
    body = await again.json()
    # Without the cancel token, only that there is one (issue 16): not its id, place or topic.
    assert body == {"existing": True, "message": body["message"]}
    wrong = await hotline.client.post(f"/api/callbacks/{first['id']}/cancel", json={"token": "guess"})
    assert wrong.status == 403
    cancelled = await hotline.client.post(f"/api/callbacks/{first['id']}/cancel", json={"token": first["cancel_token"]})
    assert cancelled.status == 200
    assert (await cancelled.json())["status"] == "cancelled"
    history = await hotline.store.history(first["id"])
    assert [(h["from"], h["to"]) for h in history] == [("", "scheduled"), ("scheduled", "cancelled")]
    assert await hotline.dial(first["id"]) == "not scheduled (cancelled)"
    assert hotline.sim.originates == []
    # With the first one cancelled the number may ask again: a new callback.
    assert (await hotline.ask("84951234567"))["id"] != first["id"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"phone": "12345"}, 422, "phone_invalid"),
        ({"phone": "+44 20 7946 0958"}, 422, "phone_not_allowed"),
        ({"phone": "84951234567", "colour": "red"}, 422, "unknown_fields"),
        ({"phone": "84951234567", "not_before": "2026-11-24T12:00:00+03:00",
          "not_after": "2026-11-24T11:00:00+03:00"}, 422, "window_reversed"),
        ({"phone": "84951234567", "not_after": "2026-11-23T11:00:00+03:00"}, 422, "window_in_the_past"),
        ({"phone": "84951234567", "not_before": "tomorrow"}, 422, "invalid_field"),
        ({"phone": 84951234567}, 422, "invalid_field"),
        ([1, 2], 400, "invalid_json"),
    ],
)
async def test_bad_requests_are_refused_and_nothing_is_stored(hotline: Hotline, redis: aioredis.Redis,
                                                              body: Any, status: int, code: str) -> None:
    response = await hotline.client.post("/api/callbacks", json=body)
    assert response.status == status
    answer = await response.json()
    assert answer["error"] == code
    assert answer["detail"]
    assert await redis.keys("cb:*") == []


async def test_oversized_and_non_json_bodies(hotline: Hotline, redis: aioredis.Redis) -> None:
    huge = await hotline.client.post("/api/callbacks", data=b"{" + b" " * 100_000 + b"}",
                                     headers={"Content-Type": "application/json"})
    assert huge.status == 413
    garbage = await hotline.client.post("/api/callbacks", data=b"\xff\xfe not json",
                                        headers={"Content-Type": "application/json"})
    assert garbage.status == 400
    assert await redis.keys("cb:*") == []


async def test_daily_limit_per_client_address(hotline: Hotline) -> None:
    limit = hotline.settings.callbacks.per_address_daily_limit
    for index in range(limit):
        await hotline.ask(f"8495123{index:04d}")
    refused = await hotline.client.post("/api/callbacks", json={"phone": "84959999999"})
    assert refused.status == 429
    assert (await refused.json())["error"] == "too_many_requests"
    assert refused.headers["Retry-After"] == "86400"


async def test_asking_about_numbers_that_have_callbacks_counts_against_the_address(hotline: Hotline,
                                                                                  redis: aioredis.Redis) -> None:
    """Issue 16, point 2: "this number has a callback" is itself something learned, so a sweep of numbers from
    one address is held by the same daily limit as requests."""
    limit = hotline.settings.callbacks.per_address_daily_limit
    numbers = [f"8495123{index:04d}" for index in range(limit + 1)]
    for number in numbers:
        await hotline.ask(number)
        await redis.delete(*await redis.keys("cb:limit:addr:*"))  # each resident asked from their own address
    probes = [(await hotline.client.post("/api/callbacks", json={"phone": number})).status for number in numbers]
    assert probes == [200] * limit + [429]


async def test_behind_a_trusted_proxy_each_resident_has_their_own_address_limit(settings: Settings,
                                                                             redis: aioredis.Redis) -> None:
    limit = settings.callbacks.per_address_daily_limit
    async with running_hotline(settings.replace("http", trusted_proxies=["127.0.0.1"]), redis) as hotline:
        async def ask(index: int, address: str) -> int:
            response = await hotline.client.post("/api/callbacks", json={"phone": f"8495123{index:04d}"},
                                                 headers={"X-Forwarded-For": f"{address}, 127.0.0.1"})
            return response.status

        assert [await ask(index, "203.0.113.7") for index in range(limit + 1)] == [201] * limit + [429]
        assert await ask(limit + 1, "203.0.113.8") == 201  # another resident behind the same proxy
    # Not behind a trusted proxy: the header is the client's own claim and changes nothing.
    await redis.flushdb()
    async with running_hotline(settings, redis) as direct:
        statuses = [(await direct.client.post("/api/callbacks", json={"phone": f"8495223{index:04d}"},
                                              headers={"X-Forwarded-For": f"198.51.100.{index}"})).status
                    for index in range(limit + 1)]
        assert statuses == [201] * limit + [429]


async def test_out_of_hours_request_is_dialled_at_the_next_opening(hotline: Hotline) -> None:
    hotline.clock.now = msk(21, 30)
    request = await hotline.ask("84951234567")
    assert request["estimated_call_at"] == msk(8, 0, day=25)
    assert hotline.scheduler.jobs == [(request["id"], msk(8, 0, day=25))]
    hotline.clock.now = msk(23, 0)  # a job that runs early changes nothing
    assert await hotline.dial(request["id"]) == "rescheduled"
    assert hotline.sim.originates == []
    hotline.clock.now = msk(8, 0, day=25)
    assert await hotline.dial(request["id"]) == "dialled"
    [originate] = hotline.sim.originates
    assert originate.headers["Channel"] == f"Local/{request['id']}@callback-placeholder/n"
    assert originate.headers["Exten"] == "+74951234567"


async def test_a_retry_that_falls_after_closing_is_carried_over(hotline: Hotline) -> None:
    hotline.sim.originate_script["+74951234568"] = deque(["noanswer"])
    hotline.clock.now = msk(19, 55)
    request = await hotline.ask("84951234568")
    assert await hotline.dial(request["id"]) == "dialled"
    retry = await hotline.settled(request["id"], {Status.SCHEDULED})
    assert (retry.due_at, retry.carried_over) == (msk(8, 0, day=25), 1)
    history = await hotline.store.history(request["id"])
    assert history[-1]["reason"].endswith("retry at the next opening")


async def test_no_answer_is_retried_after_the_interval_then_succeeds(hotline: Hotline) -> None:
    hotline.sim.originate_script["+74951234567"] = deque(["noanswer", "answer"])
    request = await hotline.ask("84951234567")
    assert await hotline.dial(request["id"]) == "dialled"
    retry = await hotline.settled(request["id"], {Status.SCHEDULED})
    assert (retry.attempts, retry.rings, retry.last_outcome) == (1, 1, "no_answer")
    assert retry.due_at == hotline.clock.now + 10 * 60
    assert hotline.scheduler.jobs[-1] == (request["id"], retry.due_at)
    assert await hotline.dial(request["id"]) == "rescheduled"  # too early: waits for the interval
    hotline.clock.now = retry.due_at
    assert await hotline.dial(request["id"]) == "dialled"
    done = await hotline.settled(request["id"], {Status.DONE})
    assert (done.attempts, done.operator) == (2, "op1")
    assert len(hotline.sim.originates) == 2
    steps = [(h["from"], h["to"]) for h in await hotline.store.history(request["id"])]
    assert ("queued", "dialling") in steps and steps[-1][1] == "done"


async def test_an_outcome_the_link_missed_is_read_from_the_queue_log(settings: Settings, redis: aioredis.Redis,
                                                                     tmp_path: Path) -> None:
    queue_log = tmp_path / "queue_log"
    async with running_hotline(settings, redis, queue_log=str(queue_log), sweep_seconds=0.2) as hotline:
        lost: list[str] = []

        def lose_the_outcome(message: Message) -> None:
            # The link goes down as the resident answers, and again as the call ends: neither UserEvent arrives.
            if message.name == "UserEvent" and message.get("UserEvent") in ("CallbackAnswered", "CallbackResult"):
                lost.append(message.get("UserEvent") or "")
                hotline.sim.drop_connections()

        hotline.sim.event_hooks.append(lose_the_outcome)
        request = await hotline.ask("84951234567")
        assert await hotline.dial(request["id"]) == "dialled"
        done = await hotline.settled(request["id"], {Status.DONE}, timeout=20)
        assert lost == ["CallbackAnswered", "CallbackResult"]
        assert (done.attempts, done.last_outcome) == (1, "answered")
        assert f"{request['id']}-1|hotline|NONE|CALLBACKRESULT|ANSWER" in queue_log.read_text()
        assert len(hotline.sim.originates) == 1  # settled, not dialled again


async def test_busy_three_times_fails_with_the_reason(hotline: Hotline) -> None:
    hotline.sim.originate_script["+74951234567"] = deque(["busy", "busy", "busy"])
    request = await hotline.ask("84951234567")
    for attempt in (1, 2, 3):
        assert await hotline.dial(request["id"]) == "dialled"
        callback = await hotline.settled(request["id"], {Status.SCHEDULED, Status.FAILED})
        assert callback.attempts == attempt
        hotline.clock.now = callback.due_at if callback.status == Status.SCHEDULED else hotline.clock.now
    assert callback.status == Status.FAILED
    assert callback.reason == "busy after 3 attempts"
    assert len(hotline.sim.originates) == 3
    assert await hotline.dial(request["id"]) == "not scheduled (failed)"


async def test_a_callback_at_position_five_keeps_its_place(hotline: Hotline) -> None:
    """Callers A-D were ahead of E; E leaves for a callback; F and G join later. The operator must serve
    A, B, C, D, then E's callback, then F and G."""
    sim = hotline.sim
    link = hotline.client.app[PBX_LINK]
    await link.client.send_action("QueuePause", [("Interface", "Local/1@agents"), ("Paused", "true")])
    changes = link.feed.listen()
    # Callers arrive ten simulated seconds apart, as real ones do (scheduled on the PBX's own clock).
    for index, name in enumerate("ABCDE"):
        sim.later(10.0 * index, sim.caller_arrives, f"5550{ord(name)}", name, LONG, 30)
    seen_joins = 0
    while seen_joins < 5:
        seen_joins += (await changes.get())["type"] == "caller_joined"
    e_caller = sim.waiting[4]
    sim._leave(e_caller)  # E presses 2: app_queue lets them out of the queue (context hotline-queue-exit)
    for index, name in enumerate("FG", start=1):
        sim.later(10.0 * index, sim.caller_arrives, f"5550{ord(name)}", name, LONG, 30)
    while seen_joins < 7:
        seen_joins += (await changes.get())["type"] == "caller_joined"
    hotline.clock.follow = sim.now  # positions are judged against the PBX's Wait, in its own (accelerated) time
    response = await hotline.client.post("/api/ivr/callback", data={
        "phone": "84951112233", "uniqueid": e_caller.uniqueid, "joined_at": str(e_caller.joined_at)})
    answer = dict(pair.split("=", 1) for pair in (await response.text()).split("&"))
    assert answer["result"] == "accepted"
    assert answer["position"] == "5"  # four live callers were ahead of E
    assert await hotline.dial(answer["id"]) == "dialled"
    assert "__CC_POSITION=5" in sim.originates[-1].headers["Variable"].split(",")
    order: list[str] = []
    popped: list[dict[str, Any]] = []
    await link.client.send_action("QueuePause", [("Interface", "Local/1@agents"), ("Paused", "false")])
    async with asyncio.timeout(20):
        while len(order) < 7 or not popped:
            change = await changes.get()
            if change["type"] == "call_connected":
                order.append(change["callerid"])
            elif change["type"] == "callback_connected":
                popped.append(change)
    names = {f"5550{ord(n)}": n for n in "ABCDFG"} | {"+74951112233": "E (callback)"}
    assert [names[number] for number in order] == ["A", "B", "C", "D", "E (callback)", "F", "G"]
    done = await hotline.settled(answer["id"], {Status.DONE}, timeout=20)
    assert done.operator == "op1"
    # The operator's dashboard was told which callback app_queue connected them to.
    assert [(p["operator"], p["interface"], p["callback"]["id"]) for p in popped] == \
        [("op1", "Local/1@agents", answer["id"])]


async def test_callbacks_due_but_not_reached_by_closing_are_carried_over(hotline: Hotline) -> None:
    """A backlog (a busy worker, a queue of callbacks) leaves callbacks due and undialled at closing: they move
    to the next opening and count as carried over, whether the sweep or their late job sees them first."""
    hotline.clock.now = msk(19, 40)
    by_sweep = await hotline.ask("84951110011")
    by_job = await hotline.ask("84951110012")
    hotline.clock.now = msk(20, 1)
    assert await hotline.dial(by_job["id"]) == "rescheduled"
    await hotline.client.app[CALLBACK_MONITOR].sweep()
    moved = [await hotline.store.get(r["id"]) for r in (by_sweep, by_job)]
    assert [(c.status, c.due_at, c.carried_over) for c in moved] == [("scheduled", msk(8, 0, day=25), 1)] * 2
    await hotline.client.app[CALLBACK_MONITOR].sweep()  # a second sweep that night changes nothing
    assert [(await hotline.store.get(r["id"])).carried_over for r in (by_sweep, by_job)] == [1, 1]
    # One requested after closing was never due today: it waits for the opening, not carried over.
    night = await hotline.ask("84951110013")
    await hotline.client.app[CALLBACK_MONITOR].sweep()
    assert (await hotline.store.get(night["id"])).carried_over == 0


async def test_carry_over_at_closing_keeps_the_order(hotline: Hotline) -> None:
    link = hotline.client.app[PBX_LINK]
    await link.client.send_action("QueuePause", [("Interface", "Local/1@agents"), ("Paused", "true")])
    hotline.clock.now = msk(19, 50)
    first = await hotline.ask("84951110001")
    second = await hotline.ask("84951110002")
    changes = link.feed.listen()
    for request in (first, second):
        assert await hotline.dial(request["id"]) == "dialled"
    placeholders = 0
    while placeholders < 2:
        placeholders += (await changes.get())["type"] == "caller_joined"
    assert [c.kind for c in link.tracker.queues["hotline"].waiting] == ["callback", "callback"]
    hotline.clock.now = msk(20, 0)
    await hotline.client.app[CALLBACK_MONITOR].sweep()
    carried = [await hotline.store.get(r["id"]) for r in (first, second)]
    assert [(c.status, c.due_at, c.carried_over) for c in carried] == [("scheduled", msk(8, 0, day=25), 1)] * 2
    while hotline.sim.waiting:  # the placeholders were hung up
        await changes.get()
    later = await hotline.ask("84951110003")
    assert later["position"] == 3  # a request made after closing waits behind the two carried over
    hotline.clock.now = msk(8, 0, day=25)
    for request in (first, second):
        assert await hotline.dial(request["id"]) == "dialled"
    positions = [next(v for v in o.headers["Variable"].split(",") if v.startswith("__CC_POSITION="))
                 for o in hotline.sim.originates[-2:]]
    assert positions == ["__CC_POSITION=1", "__CC_POSITION=2"]


async def test_operator_call_now_rings_the_operator_first(hotline: Hotline) -> None:
    headers = await staff_login(hotline.client, "operator", username="op1", interface="Local/1@agents")
    request = await hotline.ask("84951234567")
    response = await hotline.client.post(f"/api/callbacks/{request['id']}/call-now", headers=headers)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert (body["status"], body["operator"], body["attempts"]) == ("dialling", "op1", 1)
    [originate] = hotline.sim.originates
    assert (originate.headers["Channel"], originate.headers["Context"], originate.headers["Exten"]) == \
        ("Local/1@agents", "callback-operator-first", "+74951234567")
    done = await hotline.settled(request["id"], {Status.DONE})
    assert done.attempts == 1
    again = await hotline.client.post(f"/api/callbacks/{request['id']}/call-now", headers=headers)
    assert again.status == 409
    # The worker's job for the same callback does nothing: the callback is no longer scheduled.
    assert await hotline.dial(request["id"]) == "not scheduled (done)"
    assert len(hotline.sim.originates) == 1


async def test_operator_list_view_reschedule_notes_and_withdraw(hotline: Hotline) -> None:
    headers = await staff_login(hotline.client, "operator", username="op2")
    created = await hotline.client.post("/api/operator/callbacks", headers=headers,
                                        json={"phone": "8 916 555-12-34", "topic": "пособие"})
    assert created.status == 201
    callback_id = (await created.json())["id"]
    listed = await (await hotline.client.get("/api/callbacks?status=scheduled", headers=headers)).json()
    assert [(c["id"], c["phone"], c["channel"]) for c in listed] == [(callback_id, "+79165551234", "operator")]
    bad_status = await hotline.client.get("/api/callbacks?status=lost", headers=headers)
    assert bad_status.status == 422
    tomorrow = "2026-11-25T09:30:00+03:00"
    moved = await hotline.client.post(f"/api/callbacks/{callback_id}/reschedule", json={"at": tomorrow},
                                      headers=headers)
    assert (await moved.json())["due_at"] == msk(9, 30, day=25)
    assert hotline.scheduler.jobs[-1] == (callback_id, msk(9, 30, day=25))
    noted = await hotline.client.post(f"/api/callbacks/{callback_id}/notes", json={"text": "просит после обеда"},
                                      headers=headers)
    assert (await noted.json())["notes"] == ["op2: просит после обеда"]
    withdrawn = await hotline.client.post(f"/api/callbacks/{callback_id}/withdraw",
                                          json={"reason": "resolved on the line"}, headers=headers)
    assert (await withdrawn.json())["status"] == "cancelled"
    view = await (await hotline.client.get(f"/api/callbacks/{callback_id}", headers=headers)).json()
    assert [h["actor"] for h in view["history"]] == ["operator:op2"] * 4
    assert view["history"][-1]["reason"] == "resolved on the line"
    assert "cancel_token_hash" not in view
    missing = await hotline.client.get("/api/callbacks/cb0000", headers=headers)
    assert missing.status == 404


async def test_call_now_needs_an_operator_phone(hotline: Hotline) -> None:
    headers = await staff_login(hotline.client, "supervisor", username="boss", interface="")
    request = await hotline.ask("84951234567")
    response = await hotline.client.post(f"/api/callbacks/{request['id']}/call-now", headers=headers)
    assert response.status == 422
    assert (await response.json())["error"] == "no_phone"


async def test_resident_first_mode_dials_the_resident_then_queues_them(settings: Settings,
                                                                      redis: aioredis.Redis) -> None:
    async with running_hotline(settings, redis, mode="resident_first") as hotline:
        request = await hotline.ask("84951234567")
        assert await hotline.dial(request["id"]) == "dialled"
        [originate] = hotline.sim.originates
        assert originate.headers["Channel"] == "Local/+74951234567@callback-resident-first/n"
        assert (originate.headers["Context"], originate.headers["Exten"]) == ("callback-resident-first", "answered")
        # Answering is not the end: done only once an operator has talked to the resident.
        answered = await hotline.settled(request["id"], {Status.CONNECTED, Status.DONE})
        assert answered.status == Status.CONNECTED
        done = await hotline.settled(request["id"], {Status.DONE})
        assert (done.attempts, done.last_outcome) == (1, "answered") and done.operator


async def test_the_residents_page(hotline: Hotline) -> None:
    page = await hotline.client.get("/callback")
    assert page.status == 200
    html = await page.text()
    assert '<input id="phone"' in html and 'src="/static/callback.js"' in html
    script = await hotline.client.get("/static/callback.js")
    assert script.status == 200
    assert "/api/callbacks" in await script.text()


async def test_a_job_a_moment_early_waits_for_the_due_time(hotline: Hotline) -> None:
    hotline.clock.now = msk(21, 30)
    request = await hotline.ask("84951234567")
    hotline.clock.now = msk(8, 0, day=25) - 0.3  # RQ started the job a moment early
    assert await hotline.dial(request["id"]) == "dialled"
    callback = await hotline.store.get(request["id"])
    assert callback.attempt_started_at == msk(8, 0, day=25)  # not a moment before the opening


# -- issue 16: what a second request may learn, and what the PBX may be made to dial -------------------------

async def test_a_second_request_for_the_number_learns_nothing_without_the_cancel_token(hotline: Hotline) -> None:
    first = await hotline.ask("8 (495) 123-45-67", topic="диагноз: онкология, нужна сиделка")
    for extra in ({}, {"topic": "что там у соседа?"}, {"cancel_token": "guess"}):
        probe = await hotline.client.post("/api/callbacks", json={"phone": "+7 495 123-45-67", **extra},
                                          headers={"X-Forwarded-For": "203.0.113.9"})
        assert probe.status == 200
        text = await probe.text()
        body = await probe.json()
        assert set(body) == {"existing", "message"}, body
        assert body["existing"] is True and body["message"]
        for secret in (first["id"], "диагноз", first["cancel_token"], "45-67", '"position"', '"estimated_call_at"'):
            assert secret not in text, secret
    # The stored request is the first one, untouched.
    stored = await hotline.store.get(first["id"])
    assert stored.topic == "диагноз: онкология, нужна сиделка"
    # Whoever holds the cancel token is the resident who asked: they see their request again (not the token).
    own = await hotline.client.post("/api/callbacks", json={"phone": "84951234567",
                                                            "cancel_token": first["cancel_token"]})
    assert own.status == 200
    mine = await own.json()
    assert (mine["id"], mine["existing"], mine["position"], mine["topic"]) == (
        first["id"], True, 1, "диагноз: онкология, нужна сиделка")
    assert "cancel_token" not in mine
    bad = await hotline.client.post("/api/callbacks", json={"phone": "84951234567", "cancel_token": 12})
    assert (bad.status, (await bad.json())["error"]) == (422, "invalid_field")
    # The IVR asks from the caller's own line: it still hears its place.
    ivr = await hotline.client.post("/api/ivr/callback", data={"phone": "84951234567"})
    answer = dict(pair.split("=", 1) for pair in (await ivr.text()).split("&"))
    assert (answer["result"], answer["id"], answer["position"], answer["existing"]) == (
        "accepted", first["id"], "1", "1")


@pytest.mark.parametrize(
    ("phone", "reason", "number_type"),
    [
        ("+7 701 123-45-67", "foreign", None),  # Kazakhstan, mobile: +7 too
        ("+7 727 258-00-00", "foreign", None),  # Almaty, fixed line
        ("8 495 000-00-00", "own_number", None),  # hotline.number
        ("8 800 200-06-00", "number_type", "toll_free"),
        ("8 809 505-12-34", "number_type", "premium_rate"),
    ],
)
async def test_numbers_the_pbx_must_not_dial_are_refused(hotline: Hotline, redis: aioredis.Redis, phone: str,
                                                         reason: str, number_type: str | None) -> None:
    response = await hotline.client.post("/api/callbacks", json={"phone": phone})
    assert response.status == 422
    body = await response.json()
    assert (body["error"], body["reason"], body.get("number_type")) == ("phone_not_allowed", reason, number_type)
    assert body["detail"]
    assert await redis.keys("cb:*") == []
    ivr = await hotline.client.post("/api/ivr/callback", data={"phone": phone})
    assert await ivr.text() == "result=refused&reason=phone_not_allowed"
    csrf = await staff_login(hotline.client)
    operator = await hotline.client.post("/api/operator/callbacks", json={"phone": phone}, headers=csrf)
    assert operator.status == 422
    assert (await operator.json())["reason"] == reason
    assert await redis.keys("cb:*") == []
    assert hotline.sim.originates == []


async def test_the_hotlines_extra_numbers_are_refused(settings: Settings, redis: aioredis.Redis) -> None:
    async with running_hotline(settings, redis, own_numbers=["+74957770000"]) as hotline:
        response = await hotline.client.post("/api/callbacks", json={"phone": "8 (495) 777-00-00"})
        assert response.status == 422
        assert (await response.json())["reason"] == "own_number"


async def test_reschedule_and_reports_refuse_times_no_calendar_holds(hotline: Hotline) -> None:
    """Issue 16, point 7: these were 500s with tracebacks (OverflowError, AssertionError, a Redis error)."""
    headers = await staff_login(hotline.client, "supervisor", username="sup2")
    created = await hotline.client.post("/api/operator/callbacks", headers=headers, json={"phone": "8 916 555-12-35"})
    callback_id = (await created.json())["id"]
    for at in (1e20, -1e20, None, "9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00-12:00"):
        moved = await hotline.client.post(f"/api/callbacks/{callback_id}/reschedule", json={"at": at},
                                          headers=headers)
        assert moved.status == 422, at
        assert "at" in (await moved.json())["detail"]
    for day in ("0001-01-01", "9999-12-31"):
        report = await hotline.client.get(f"/api/reports/day?date={day}", headers=headers)
        assert report.status == 422, day
        assert (await report.json())["error"] == "invalid_field"
    kept = await (await hotline.client.get(f"/api/callbacks/{callback_id}", headers=headers)).json()
    assert kept["status"] == "scheduled"  # the refused moves changed nothing

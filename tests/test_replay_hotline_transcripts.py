"""The hotline's own flows recorded from a real Asterisk 22 (tests/asterisk/, HOTLINE_RECORD_AMI) and replayed:
the AMI exactly as the service's `callcenter` user received it, with its event filters."""

from __future__ import annotations

import re

import redis.asyncio as aioredis

from callcenter.callbacks.model import Callback, Status, parse_attempt
from callcenter.callbacks.monitor import CallbackMonitor
from callcenter.callbacks.store import CallbackStore
from callcenter.config import HoursSettings, Settings
from callcenter.hours import WorkingHours
from callcenter.pbx.protocol import Message
from callcenter.pbx.replay import replay
from callcenter.video.service import session_of_placeholder
from tests.conftest import TRANSCRIPTS

RECORDED = TRANSCRIPTS / "asterisk22-hotline"
CALLBACK = "an_ivr_callback_keeps_its_place_in_the_real_queue_and_ends_done"
VIDEO = "a_video_session_with_an_operator_reaches_the_operator_the_queue_chose"
CASE_STATUS = "the_caller_hears_their_case_status"
NOW = 1796106840.0


def messages(name: str) -> list[Message]:
    result = replay((RECORDED / f"{name}.ami").read_bytes(), now=NOW, keep_messages=True)
    assert result.unparsed == []
    return result.messages


def test_asterisk_gave_every_assigned_channel_id_as_asked() -> None:
    """The ids the service assigns (callback and video placeholders) were all accepted: a refused one shows as
    an OriginateResponse Failure and never as a channel."""
    for name in (CALLBACK, VIDEO):
        recorded = messages(name)
        responses = [m for m in recorded if m.name == "OriginateResponse"]
        assert responses and all(m.get("Response") == "Success" for m in responses), name
        assigned = {m.get("Uniqueid") or "" for m in recorded if m.name == "Newchannel"
                    and not re.fullmatch(r"[\d.]+", m.get("Uniqueid") or "")}
        assert any(uid.startswith(("cb", "video-")) for uid in assigned), assigned
        for first in assigned:
            for second in assigned - {first}:
                assert not second.lower().startswith(first.lower()), (first, second)


def test_the_recorded_callback_is_placed_at_its_place_then_connected_and_answered() -> None:
    recorded = messages(CALLBACK)
    joins = [m for m in recorded if m.name == "QueueCallerJoin"]
    placeholder = next(m for m in joins if "@callback-placeholder" in (m.get("Channel") or ""))
    assert placeholder.get("Position") == "3"  # behind the two who joined before the resident asked
    ref = parse_attempt(placeholder.get("Uniqueid") or "")
    assert ref is not None and ref[1] == 1
    user_events = [(m.get("UserEvent"), m.get("CallbackId"), m.get("Attempt"), m.get("DialStatus"))
                   for m in recorded if m.name == "UserEvent" and (m.get("UserEvent") or "").startswith("Callback")]
    assert user_events == [("CallbackAnswered", ref[0], "1", None), ("CallbackResult", ref[0], "1", "ANSWER")]
    tracker = replay((RECORDED / f"{CALLBACK}.ami").read_bytes(), now=NOW).to_json()["queues"]["hotline"]
    assert tracker["counters"]["callbacks_connected"] == 1


async def test_the_recorded_callback_settles_done_through_the_monitor(redis: aioredis.Redis) -> None:
    recorded = messages(CALLBACK)
    placeholder = next(m for m in recorded if m.name == "QueueCallerJoin"
                       and "@callback-placeholder" in (m.get("Channel") or ""))
    ref = parse_attempt(placeholder.get("Uniqueid") or "")
    assert ref is not None
    settings = Settings()
    store = CallbackStore(redis)
    await store.create(Callback(ref[0], "+79160001003", "ivr", Status.QUEUED, NOW - 60, NOW - 60, NOW - 60,
                                attempts=1, attempt_started_at=NOW - 30),
                       actor="test", client_address=None, number_limit=5, address_limit=20, now=NOW - 60)
    hours = WorkingHours.from_settings(HoursSettings(open="00:00", close="24:00"), settings.hotline.timezone)
    monitor = CallbackMonitor(store, settings, hours, scheduler=None, clock=lambda: NOW)  # type: ignore[arg-type]
    for message in recorded:
        if monitor.concerns_callbacks(message):
            await monitor.handle(message)
    done = await store.get(ref[0])
    assert (done.status, done.attempts, done.rings, done.last_outcome) == (Status.DONE, 1, 1, "answered")
    assert done.operator == "op101"


def test_the_recorded_video_placeholder_names_its_session_and_operator() -> None:
    recorded = messages(VIDEO)
    connect = next(m for m in recorded if m.name == "AgentConnect")
    session = session_of_placeholder(connect.get("Uniqueid") or "")
    assert session is not None and connect.get("Interface") == "Local/101@agents"
    said = next(m for m in recorded if m.name == "UserEvent" and m.get("UserEvent") == "VideoOperator")
    assert said.get("Session") == session


def test_the_recorded_case_status_call_chose_the_case_menu_and_hung_up_cleanly() -> None:
    recorded = messages(CASE_STATUS)
    choices = [m.get("Target") for m in recorded if m.name == "UserEvent" and m.get("UserEvent") == "IvrChoice"]
    assert choices == ["case-status"]
    assert any(m.name == "Hangup" for m in recorded)

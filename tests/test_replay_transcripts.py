"""Every recorded Asterisk 22 session, replayed through the same parser and tracker the service uses."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from callcenter.pbx.replay import ReplayResult, replay
from tests.conftest import TRANSCRIPTS

ALL = sorted(p.stem for p in TRANSCRIPTS.glob("*.ami"))
NOW = 1795400000.0


def run(name: str, until: bytes | None = None, occurrence: int = 1, before: bool = False) -> ReplayResult:
    """Replay a transcript, or only up to the end of the frame holding the n-th `until` (or its start)."""
    data = (TRANSCRIPTS / f"{name}.ami").read_bytes()
    if until is not None:
        at = -1
        for _ in range(occurrence):
            at = data.index(until, at + 1)
        data = data[:at] if before else data[: data.index(b"\r\n\r\n", at) + 4]
    return replay(data, now=NOW, keep_messages=True)


def hotline(result: ReplayResult) -> dict[str, Any]:
    return result.to_json()["queues"]["hotline"]  # type: ignore[no-any-return]


def test_all_fourteen_transcripts_are_present() -> None:
    assert len(ALL) == 14


@pytest.mark.parametrize("name", ALL)
def test_every_frame_parses(name: str) -> None:
    result = run(name)
    assert result.unparsed == []
    assert result.banner == "Asterisk Call Manager/11.0.0"
    assert result.frames == len(result.messages) > 0


def test_queue_call_answered_mid_call_and_after() -> None:
    talking = hotline(run("queue_call_answered", b"Event: AgentConnect"))
    assert talking["waiting"] == []
    [member] = talking["members"]
    assert (member["interface"], member["name"], member["state"], member["in_call"]) == \
        ("Local/1@agent-sim", "op1", "talking", True)
    [call] = talking["calls"]
    assert call["callerid"] == "5551001"
    done = hotline(run("queue_call_answered", b"Event: AgentComplete"))
    [member] = done["members"]
    assert (member["state"], member["in_call"]) == ("free", False)
    # Asterisk's CallsTaken comes in the QueueMemberStatus that follows AgentComplete here.
    counted = hotline(run("queue_call_answered", b"Event: QueueMemberStatus", occurrence=2))
    assert counted["members"][0]["calls_taken"] == 1
    counters = hotline(run("queue_call_answered"))["counters"]
    assert (counters["offered"], counters["answered"], counters["abandoned"], counters["completed"]) == (1, 1, 0, 1)
    assert counters["answered_within_threshold"] == 1
    assert counters["talk_seconds"] == 3


def test_queue_caller_abandon() -> None:
    joined = hotline(run("queue_caller_abandon", b"Event: QueueCallerJoin"))
    assert [(c["callerid"], c["position"]) for c in joined["waiting"]] == [("5551002", 1)]
    assert joined["waiting"][0]["callername"] == "Bob Customer"
    final = hotline(run("queue_caller_abandon"))
    assert final["waiting"] == []
    assert (final["counters"]["offered"], final["counters"]["abandoned"], final["counters"]["answered"]) == (1, 1, 0)
    assert final["counters"]["wait_seconds_abandoned"] == 4


def test_queue_timeout_is_reported_as_an_abandon() -> None:
    # Asterisk 22 reports a Queue() timeout exactly like a hang-up (QueueCallerAbandon + QueueCallerLeave).
    counters = hotline(run("queue_timeout_empty"))["counters"]
    assert (counters["abandoned"], counters["wait_seconds_abandoned"]) == (1, 5)


def test_queue_status_resync_shows_paused_members_and_the_waiting_caller() -> None:
    state = hotline(run("queue_status", b"Event: QueueStatusComplete"))
    assert sorted((m["name"], m["paused"], m["state"]) for m in state["members"]) == \
        [("op1", True, "paused"), ("op2", True, "paused")]
    assert [(c["callerid"], c["position"]) for c in state["waiting"]] == [("5551004", 1)]
    assert state["counters"]["offered"] == 1  # seen at join; the resync does not count it again
    final = hotline(run("queue_status"))
    assert (final["counters"]["offered"], final["counters"]["abandoned"]) == (1, 1)
    assert final["members"] == []


def test_agent_pause_with_reason_and_unpause() -> None:
    paused = hotline(run("agent_pause_unpause", b"Event: QueueMemberPause"))
    [member] = paused["members"]
    assert (member["paused"], member["paused_reason"], member["state"]) == (True, "Lunch break", "paused")
    resumed = hotline(run("agent_pause_unpause", b"Event: QueueMemberPause", occurrence=2))
    assert (resumed["members"][0]["paused"], resumed["members"][0]["paused_reason"]) == (False, "")
    assert hotline(run("agent_pause_unpause"))["members"] == []


def test_queue_summary_three_members_two_answered_one_abandoned() -> None:
    final = hotline(run("queue_summary"))
    assert {m["name"]: m["state"] for m in final["members"]} == {"op1": "paused", "op2": "free", "op3": "free"}
    counters = final["counters"]
    assert (counters["offered"], counters["answered"], counters["abandoned"], counters["completed"]) == (3, 2, 1, 2)
    waiting = hotline(run("queue_summary", b"Event: QueueCallerJoin", occurrence=3))["waiting"]
    assert len(waiting) >= 1


def test_burst_of_fifty_callers() -> None:
    at_last_join = hotline(run("burst_50_callers", b"Event: QueueCallerJoin", occurrence=50))
    positions = [c["position"] for c in at_last_join["waiting"]]
    assert positions == list(range(1, len(positions) + 1))
    assert len(positions) > 40
    before_removal = hotline(run("burst_50_callers", b"Event: QueueMemberRemoved", before=True))
    assert sum(m["calls_taken"] for m in before_removal["members"]) == 50
    counters = hotline(run("burst_50_callers"))["counters"]
    # AgentComplete sometimes lacks every channel header: it is still matched, by member interface.
    assert (counters["offered"], counters["answered"], counters["completed"], counters["abandoned"]) == (50, 50, 50, 0)
    holds = [int(m["HoldTime"]) for m in run("burst_50_callers").messages if m.name == "AgentConnect"]
    assert counters["answered_within_threshold"] == sum(1 for hold in holds if hold <= 20)
    assert counters["wait_seconds_answered"] == sum(holds)
    assert counters["longest_wait_answered"] > 20


def test_late_join_counts_only_what_it_saw() -> None:
    synced = hotline(run("late_join_mid_call", b"Event: QueueStatusComplete"))
    [member] = synced["members"]
    assert (member["in_call"], member["state"]) == (True, "talking")
    assert [(c["callerid"], c["position"]) for c in synced["waiting"]] == [("5551021", 1)]
    counters = hotline(run("late_join_mid_call"))["counters"]
    # A's call was up before this session connected: its completion changes state but is not counted.
    assert (counters["offered"], counters["answered"], counters["completed"]) == (1, 1, 1)
    assert counters["wait_seconds_answered"] == 14


def test_ivr_dtmf_to_queue() -> None:
    result = run("ivr_dtmf_to_queue")
    [choice] = [m for m in result.messages if m.name == "UserEvent"]
    assert (choice["UserEvent"], choice["Option"]) == ("IvrChoice", "1")
    assert hotline(result)["counters"]["answered"] == 1


def test_originate_success_and_failure_responses() -> None:
    [ok] = [m for m in run("originate_callback_bridge").messages if m.name == "OriginateResponse"]
    assert (ok["Response"], ok["Reason"]) == ("Success", "4")
    assert ok["Channel"].endswith(";1")
    [failed] = [m for m in run("originate_failure").messages if m.name == "OriginateResponse"]
    assert (failed["Response"], failed["Reason"], failed["Uniqueid"]) == ("Failure", "0", "<unknown>")
    assert failed["Channel"] == "Local/nobody@agent-sim"


def test_login_failure_and_ping() -> None:
    [refused] = run("login_failure").messages
    assert (refused.kind, refused.name, refused["Message"]) == ("response", "Error", "Authentication failed")
    pong = [m for m in run("ping_core_show_channels").messages if m.get("Ping") == "Pong"]
    assert len(pong) == 1 and "Timestamp" in pong[0]


def test_user_event_keeps_custom_headers_in_order() -> None:
    events = [m for m in run("user_event").messages if m.name == "UserEvent"]
    assert events[0].keys()[:3] == ["Event", "Privilege", "UserEvent"]
    assert all(e["UserEvent"] == "CallbackRequested" for e in events)


def test_replay_command_json_shape() -> None:
    result = subprocess.run([sys.executable, "-m", "callcenter", "replay", "--json",
                             str(TRANSCRIPTS / "queue_status.ami")], capture_output=True, text=True, check=True)
    document = json.loads(result.stdout)
    assert (document["frames"], document["unparsed"]) == (70, 0)
    queue = document["queues"]["hotline"]
    assert {"waiting", "members", "counters"} <= queue.keys()
    assert {"offered", "answered", "abandoned"} <= queue["counters"].keys()

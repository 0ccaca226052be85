"""A real day's slice played through the PBX simulator and the service's tracker (the benchmark plays whole days)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from callcenter.pbx.clock import VirtualClock
from callcenter.pbx.protocol import Message
from callcenter.pbx.simulator import PbxSimulator, SimConfig
from callcenter.simulation.trace import Call, day_calls, read_trace
from callcenter.simulation.trace_replay import patience_of, play_day, wire
from tests.conftest import REPO
from tests.test_trace import TRACE

DAY = date(1999, 2, 1)


def test_priority_callers_join_ahead_of_the_others_and_behind_their_own() -> None:
    clock = VirtualClock(0.0)
    sim = PbxSimulator(SimConfig(agents=0, generate_traffic=False), start_time=0.0, clock=clock)
    joins: list[tuple[str, str, str]] = []
    sim.event_hooks.append(lambda m: joins.append((m["CallerIDNum"], m["Position"], m["Count"]))
                           if m.name == "QueueCallerJoin" else None)
    for number, priority in (("a", 0), ("b", 0), ("p1", 2), ("p2", 2), ("c", 0)):
        sim.caller_arrives(number, number, patience=1000, handle=10, priority=priority)
    assert joins == [("a", "1", "1"), ("b", "2", "2"), ("p1", "1", "3"), ("p2", "2", "4"), ("c", "5", "5")]
    assert [c.number for c in sim.waiting] == ["p1", "p2", "a", "b", "c"]


def test_an_agent_paused_is_not_offered_callers_until_back() -> None:
    clock = VirtualClock(0.0)
    sim = PbxSimulator(SimConfig(agents=0, generate_traffic=False, agent_no_answer=0.0), start_time=0.0,
                       clock=clock)
    names: list[str] = []
    sim.event_hooks.append(lambda m: names.append(m.name))
    sim.add_member("Local/anat-0@agents", "ANAT")
    sim.pause_member("Local/anat-0@agents", True, "wrap-up")
    sim.caller_arrives("1", "one", patience=1000, handle=10)
    clock.run_until(60)
    assert "AgentCalled" not in names and len(sim.waiting) == 1
    sim.pause_member("Local/anat-0@agents", False)
    clock.run_until(70)
    assert "AgentConnect" in names and not sim.waiting
    sim.remove_member("Local/anat-0@agents")
    assert names[-1] == "QueueMemberRemoved" and not sim.members


def test_the_wire_round_trip_keeps_every_header() -> None:
    message = Message("event", "QueueCallerJoin", [("Event", "QueueCallerJoin"), ("Queue", "hotline"),
                                                   ("CallerIDName", "PS P2"), ("Position", "1")])
    received = wire(message)
    assert received.name == "QueueCallerJoin"
    assert [tuple(header) for header in received.headers] == message.headers


def test_patience_is_the_wait_of_those_who_hung_up_and_beyond_it_for_those_served() -> None:
    calls = [Call(str(i), DAY, 36000.0 + i, 0, "PS", "abandoned" if i % 3 == 0 else "served", 20.0 + i, 60.0,
                  "" if i % 3 == 0 else "ANAT") for i in range(60)]
    patience = patience_of(calls, seed=3)
    for call in calls:
        if call.outcome == "abandoned":
            assert patience[call.call_id] == call.wait
        else:
            assert patience[call.call_id] > call.wait  # censored: only known to exceed the wait
    assert patience != patience_of(calls, seed=4) and patience == patience_of(calls, seed=3)


def test_a_morning_of_the_real_log_replayed_through_the_tracker() -> None:
    calls = day_calls(read_trace(TRACE), DAY)
    until = 10 * 3600.0
    morning = [c for c in calls if c.arrival < until]
    played = play_day(calls, DAY, until=until)
    # Every caller of the morning joined, was seen by the tracker over the wire, and was told something.
    assert played.offered == len(morning) == len(played.told) > 150
    assert played.answered + played.abandoned == played.offered
    assert all(t.ours is not None and t.ours >= 0 for t in played.told)
    served = [t for t in played.told if t.replay_outcome == "served"]
    assert len(served) == played.answered and all(t.replay_wait is not None for t in served)
    # Priority customers were put ahead: some joined at a position before the back of the queue.
    assert any(t.position > 1 for t in played.told)
    # The replay is the log's morning: about as many gave up as really did (agents' after-call pauses and
    # shifts come from the log; without the pauses, a third as many did).
    real = sum(c.outcome != "served" for c in morning)
    assert 0.6 * real <= played.abandoned <= 1.4 * real
    # The estimate saw the queue: told more to those who then waited longer.
    long_waits = [t.ours or 0.0 for t in served if (t.replay_wait or 0) > 60]
    short_waits = [t.ours or 0.0 for t in served if (t.replay_wait or 0) < 5]
    assert long_waits and short_waits and sum(long_waits) / len(long_waits) > 3 * sum(short_waits) / len(short_waits)


@pytest.mark.timeout(240)
def test_simulate_day_plays_an_hour_of_the_log_through_the_real_processes(tmp_path: Path) -> None:
    """The real path: the PBX simulator process plays the log's first hour, the service sees it over AMI."""
    result = subprocess.run(
        [sys.executable, "-m", "callcenter", "simulate-day", "--trace", str(TRACE), "--date", "990201",
         "--until", "08:00", "--acceleration", "600", "--drain-minutes", "20", "--workdir", str(tmp_path / "day")],
        cwd=REPO, capture_output=True, text=True, timeout=200, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "INVARIANTS HOLD" in result.stdout
    first_hour = [c for c in day_calls(read_trace(TRACE), DAY) if c.arrival < 8 * 3600]
    day = json.loads((tmp_path / "day" / "simulator.json").read_text())["daily"]["1999-02-01"]
    # Every caller of the log's first hour joined, and the service saw each join and each fate.
    assert day["offered"] == day["observed_offered"] == len(first_hour) > 10
    assert day["answered"] + day.get("abandoned", 0) == day["offered"]
    assert f"the log for the same hours: {len(first_hour)} queue calls" in result.stdout

"""Asterisk's queue_log: reading it, finding a moment in a large file, and the report facts it makes."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as aioredis

from callcenter.pbx.queuelog import QueueLogEntry, format_line, offset_at, parse_line, read_since
from callcenter.pbx.tracker import QueueTracker
from callcenter.reports.day import merge_calls
from callcenter.reports.facts import CALLS, LAST_EVENT, FactRecorder, call_facts, queue_log_fact

ZONE = ZoneInfo("Europe/Moscow")
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=ZONE).timestamp()

# The lines of one answered call and one abandon, in app_queue's formats (docs.asterisk.org, "Queue Logs").
ANSWERED = [
    f"{int(T0)}|1764054000.11|hotline|NONE|ENTERQUEUE||79161234567|1",
    f"{int(T0) + 15}|1764054000.11|hotline|op3|RINGNOANSWER|15000",
    f"{int(T0) + 42}|1764054000.11|hotline|op7|CONNECT|42|1764054042.13|2",
    f"{int(T0) + 222}|1764054000.11|hotline|op7|COMPLETEAGENT|42|180|1",
]
ABANDONED = [
    f"{int(T0) + 5}|1764054005.12|hotline|NONE|ENTERQUEUE||79031112233|2",
    f"{int(T0) + 95}|1764054005.12|hotline|NONE|ABANDON|1|2|90",
]


def test_lines_parse_into_their_fields_and_back() -> None:
    entry = parse_line(ANSWERED[2] + "\n")
    assert entry == QueueLogEntry(T0 + 42, "1764054000.11", "hotline", "op7", "CONNECT",
                                  ("42", "1764054042.13", "2"))
    assert format_line(entry) == ANSWERED[2] + "\n"
    for bad in ("", "garbage", "notatime|x|hotline|NONE|ENTERQUEUE", f"{int(T0)}|x|hotline|NONE|"):
        assert parse_line(bad) is None, bad


def test_each_way_through_the_queue_makes_the_fact_the_live_link_makes() -> None:
    facts = [fact for line in sorted(ANSWERED + ABANDONED, key=lambda line: int(line.split("|")[0]))
             if (entry := parse_line(line)) and (fact := queue_log_fact(entry, "hotline"))]
    assert [(f["e"], f["u"]) for f in facts] == [
        ("j", "1764054000.11"), ("j", "1764054005.12"), ("a", "1764054000.11"), ("x", "1764054005.12"),
        ("c", "1764054000.11")]
    calls = merge_calls(facts)
    answered, abandoned = calls["1764054000.11"], calls["1764054005.12"]
    assert (answered.outcome, answered.hold, answered.talk, answered.joined_at) == ("answered", 42.0, 180.0, T0)
    assert (abandoned.outcome, abandoned.hold) == ("abandoned", 90.0)
    # Pressing a key to leave is an exit with its wait in the fourth field.
    exit_fact = queue_log_fact(QueueLogEntry(T0, "u9", "hotline", "NONE", "EXITWITHKEY", ("2", "3", "4", "61")),
                               "hotline")
    assert exit_fact == {"e": "e", "u": "u9", "t": f"{T0:.3f}", "h": "61"}
    # Other queues, member lines, and the places callbacks and video sessions hold are not calls.
    for entry in (QueueLogEntry(T0, "u1", "other", "NONE", "ENTERQUEUE"),
                  QueueLogEntry(T0, "NONE", "hotline", "op1", "ADDMEMBER"),
                  QueueLogEntry(T0, "video-abc", "hotline", "NONE", "ENTERQUEUE"),
                  QueueLogEntry(T0, "u1", "hotline", "op1", "RINGNOANSWER", ("15000",))):
        assert queue_log_fact(entry, "hotline") is None, entry


def test_the_same_call_from_the_link_and_from_the_queue_log_counts_once() -> None:
    tracker = QueueTracker()
    from tests.test_tracker import event

    live: list[dict[str, str]] = []
    for message, at in ((event("QueueCallerJoin", Uniqueid="1764054000.11", Channel="c", Position="1"), T0),
                        (event("AgentCalled", Uniqueid="1764054000.11", Interface="Local/7@agents"), T0 + 40),
                        (event("QueueCallerLeave", Uniqueid="1764054000.11"), T0 + 42),
                        (event("AgentConnect", Uniqueid="1764054000.11", Interface="Local/7@agents",
                               HoldTime="42"), T0 + 42)):
        live += [fact for change in tracker.apply(message, at) if (fact := call_facts(change, at))]
    from_log = [fact for line in ANSWERED if (entry := parse_line(line)) and (fact := queue_log_fact(entry, "hotline"))]
    calls = merge_calls(live + from_log)
    assert list(calls) == ["1764054000.11"]
    assert calls["1764054000.11"].outcome == "answered" and calls["1764054000.11"].talk == 180.0


def _big_log(path: Path, lines: int) -> list[float]:
    rng = random.Random(5)
    times, at = [], T0
    with path.open("w") as out:
        for index in range(lines):
            at += rng.choice((0, 0, 1, 2))
            times.append(float(int(at)))
            out.write(format_line(QueueLogEntry(int(at), f"{int(at)}.{index}", "hotline", "NONE", "ENTERQUEUE",
                                                ("", "79160000000", "1"))))
    return times


def test_a_moment_is_found_in_a_large_file_without_missing_a_line(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    times = _big_log(path, 50_000)
    for since in (T0 - 10, T0 + 1, times[1234], times[25_000] + 0.5, times[-1], times[-1] + 5):
        expected = [t for t in times if t >= since]
        result = read_since(path, since)
        assert [e.time for e in result.entries] == expected, since
    with path.open("rb") as stream:
        # Bisection lands on a line start at or just before the moment, far from the file's start.
        middle = offset_at(stream, times[25_000])
        assert 0 < middle < path.stat().st_size // 2 + 8192


def test_a_line_still_being_written_and_garbage_are_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    path.write_text("\n".join(ANSWERED[:2]) + "\nnot a queue_log line\n" + ANSWERED[2][:20])
    result = read_since(path, T0 - 1)
    assert [e.event for e in result.entries] == ["ENTERQUEUE", "RINGNOANSWER"]
    assert result.skipped == 1


def _write_sorted(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in sorted(lines, key=lambda line: int(line.split("|")[0]))))


YESTERDAY = f"{int(T0) - 86400}|1763967600.1|hotline|NONE|ENTERQUEUE||79160000001|1"
EARLY = f"{int(T0) - 3600}|1764050400.2|hotline|NONE|ENTERQUEUE||79160000002|1"


async def test_after_a_reconnect_the_recorder_reads_what_the_link_missed(redis: aioredis.Redis,
                                                                          tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    _write_sorted(path, [YESTERDAY, EARLY, ANSWERED[0], *ABANDONED])
    recorder = FactRecorder(redis, QueueTracker(), "hotline", "Europe/Moscow", 1, lambda: T0 + 100, str(path))
    # The link saw the first caller join, then went down; the second caller came and went in the gap.
    recorder.on_changes([{"type": "caller_joined", "caller": {"kind": "call", "uniqueid": "1764054000.11",
                                                              "joined_at": T0}}], T0)
    await recorder.flush()
    assert float(await redis.get(LAST_EVENT)) == pytest.approx(T0)
    recorder.on_changes([{"type": "link_lost", "reason": "keep-alive Ping got no answer"}], T0 + 1)
    recorder.on_changes([{"type": "resync"}], T0 + 100)
    # The new connection's first events can come before the read: the read still starts before the gap.
    recorder.on_changes([{"type": "caller_joined", "caller": {"kind": "call", "uniqueid": "1764054100.1",
                                                              "joined_at": T0 + 100}}], T0 + 100)
    await recorder.flush()
    assert await recorder.backfill() == 3  # both joins (one a duplicate) and the abandon; not the early call
    await recorder.flush()
    key = CALLS + "2026-11-24"
    calls = merge_calls([fields for _, fields in await redis.xrange(key)])
    assert set(calls) == {"1764054000.11", "1764054005.12", "1764054100.1"}
    assert calls["1764054005.12"].outcome == "abandoned" and calls["1764054005.12"].hold == 90.0
    assert calls["1764054000.11"].outcome == ""  # still waiting as far as anyone knows

    # A restarted service reads from the stored last event (less the margin), not from the start of the day.
    _write_sorted(path, [YESTERDAY, EARLY, *ANSWERED, *ABANDONED])
    restarted = FactRecorder(redis, QueueTracker(), "hotline", "Europe/Moscow", 1, lambda: T0 + 300, str(path))
    # From a minute before the last event the first process wrote (T0+100): the answer, the abandon again,
    # the completion.
    assert await restarted.backfill() == 3
    await restarted.flush()
    calls = merge_calls([fields for _, fields in await redis.xrange(key)])
    assert (calls["1764054000.11"].outcome, calls["1764054000.11"].talk) == ("answered", 180.0)
    assert "1764050400.2" not in calls

    # The very first start (nothing stored) reads the whole of today, and nothing of yesterday.
    await redis.flushdb()
    first = FactRecorder(redis, QueueTracker(), "hotline", "Europe/Moscow", 1, lambda: T0 + 300, str(path))
    assert await first.backfill() == 6  # the early call joining, and the five above
    await first.flush()
    assert "1764050400.2" in merge_calls([fields for _, fields in await redis.xrange(key)])
    assert not await redis.exists(CALLS + "2026-11-23")


async def test_a_missing_queue_log_is_reported_not_fatal(redis: aioredis.Redis, tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    recorder = FactRecorder(redis, QueueTracker(), "hotline", "Europe/Moscow", 1, lambda: T0,
                            str(tmp_path / "absent"))
    assert await asyncio.wait_for(recorder.backfill(), 5) == 0
    assert "queue_log not found" in caplog.text


async def test_the_simulators_queue_log_tells_the_same_day_as_its_ami_events(tmp_path: Path) -> None:
    from callcenter.pbx.clock import VirtualClock
    from callcenter.pbx.protocol import Message
    from callcenter.pbx.simulator import PbxSimulator, SimConfig
    from callcenter.pbx.traffic import TrafficModel

    start = datetime(2026, 11, 24, 8, 0, tzinfo=ZONE).timestamp()
    clock = VirtualClock(start)
    path = tmp_path / "queue_log"
    # Few operators for the traffic, so callers wait, give up and press 2 for a callback as well.
    sim = PbxSimulator(SimConfig(agents=6, secret="x", seed=3, callback_share=0.3, callback_url="http://unused",
                                 queue_log=str(path), traffic=TrafficModel(calls_per_day=1500)),
                       start_time=start, clock=clock)
    async def no_request(caller: object) -> None:
        return None

    sim._request_callback = no_request  # type: ignore[method-assign,assignment]
    tracker = QueueTracker()
    live: list[dict[str, str]] = []

    def observe(message: Message) -> None:
        live.extend(fact for change in tracker.apply(message, clock.now())
                    if (fact := call_facts(change, clock.now())) is not None)

    sim.event_hooks.append(observe)
    sim.open_day()
    clock.run_until(start + 4 * 3600)
    from_log = [fact for entry in read_since(path, start).entries if (fact := queue_log_fact(entry, "hotline"))]
    by_link, by_log = merge_calls(live), merge_calls(from_log)
    assert set(by_link) == set(by_log) and len(by_log) == sim.offered
    outcomes = {uid: (c.outcome, c.hold, c.talk) for uid, c in by_link.items()}
    assert outcomes == {uid: (c.outcome, c.hold, c.talk) for uid, c in by_log.items()}
    kinds = {c.outcome for c in by_log.values()}
    assert {"answered", "abandoned", "exited"} <= kinds, kinds

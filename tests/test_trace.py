"""Reading a real call centre's log: the queue calls, the log's quirks, censored patience, agents' shifts."""

from __future__ import annotations

import gzip
import itertools
from datetime import date
from pathlib import Path

import pytest

from callcenter.simulation.trace import (
    DAY_SECONDS,
    Call,
    TraceError,
    day_calls,
    parse_day,
    parse_trace,
    read_trace,
    shifts,
    wrapups,
)
from tests.conftest import REPO

HEADER = ("vru+line\tcall_id\tcustomer_id\tpriority\ttype\tdate\tvru_entry\tvru_exit\tvru_time\tq_start\tq_exit"
          "\tq_time\toutcome\tser_start\tser_exit\tser_time\tserver")
TRACE = REPO / "benchmarks" / "data" / "anonymous-bank-1999-02.tsv.gz"


def row(call_id: str, day: str, vru: tuple[str, str], queue: tuple[str, str, int], outcome: str,
        service: tuple[str, str, int], server: str, priority: int = 0, kind: str = "PS") -> str:
    return "\t".join(["AA0101", call_id, "0", str(priority), kind, day, vru[0], vru[1], "5", queue[0], queue[1],
                      str(queue[2]), outcome, service[0], service[1], str(service[2]), server])


def parse(*rows: str) -> list[Call]:
    return list(parse_trace([HEADER, *rows]))


def test_a_served_caller_who_waited() -> None:
    [call] = parse(row("1", "990201", ("10:00:00", "10:00:06"), ("10:00:06", "10:01:06", 60), "AGENT",
                       ("10:01:05", "10:03:05", 120), "DORIT", priority=2))
    assert call == Call("1", date(1999, 2, 1), 36006.0, 2, "PS", "served", 60.0, 120.0, "DORIT")
    # Served: the patience only exceeds the wait (censored); the wait is q_time though the service started
    # a second before the queue's exit (the log's two clocks).
    assert not call.patience_observed
    assert call.service_start == 36066.0


def test_an_abandon_is_an_observed_patience_and_ivr_hangups_and_unrecorded_agents_are_not_queue_calls() -> None:
    calls = parse(
        row("1", "990201", ("11:00:00", "11:00:05"), ("11:00:05", "11:00:47", 42), "HANG",
            ("0:00:00", "0:00:00", 0), "NO_SERVER"),
        row("2", "990201", ("11:00:00", "11:01:13"), ("0:00:00", "0:00:00", 0), "HANG",
            ("0:00:00", "0:00:00", 0), "NO_SERVER"),
        row("3", "990201", ("11:02:00", "11:02:09"), ("0:00:00", "0:00:00", 0), "AGENT",
            ("11:02:08", "11:02:40", 32), "NO_SERVER"),
        row("4", "990201", ("11:03:00", "11:03:09"), ("11:03:09", "11:03:30", 21), "PHANTOM",
            ("11:03:08", "11:03:35", 27), "NO_SERVER"))
    assert [(c.call_id, c.outcome, c.wait, c.patience_observed) for c in calls] == [
        ("1", "abandoned", 42.0, True), ("4", "phantom", 21.0, False)]


def test_after_midnight_a_call_belongs_to_the_previous_evening_and_a_midnight_crossing_is_mended() -> None:
    late, crossing = parse(
        row("1", "990202", ("0:40:00", "0:40:10"), ("0:40:10", "0:41:10", 60), "AGENT",
            ("0:41:09", "0:45:00", 230), "TOVA"),
        row("2", "990201", ("23:59:55", "0:00:03"), ("0:00:03", "0:00:20", 17), "HANG",
            ("0:00:00", "0:00:00", 0), "NO_SERVER"))
    assert late.day == date(1999, 2, 1) and late.arrival == DAY_SECONDS + 40 * 60 + 10
    assert crossing.day == date(1999, 2, 1) and crossing.arrival == DAY_SECONDS + 3


def test_zero_service_is_a_second_and_direct_service_is_no_wait() -> None:
    [call] = parse(row("1", "990201", ("9:00:00", "9:00:09"), ("0:00:00", "0:00:00", 0), "AGENT",
                       ("9:00:08", "9:00:08", 0), "YITZ"))
    assert (call.wait, call.service) == (0.0, 1.0)


def test_malformed_lines_say_where() -> None:
    with pytest.raises(TraceError, match="line 2: 'x:00' is not H:MM:SS"):
        parse(row("1", "990201", ("x:00", "9:00:09"), ("0:00:00", "0:00:00", 0), "AGENT",
                  ("9:00:08", "9:00:20", 12), "YITZ"))
    with pytest.raises(TraceError, match="line 2: 3 fields"):
        parse("a\tb\tc")
    with pytest.raises(TraceError, match="unknown outcome 'LOST'"):
        parse(row("1", "990201", ("9:00:00", "9:00:09"), ("9:00:09", "9:00:19", 10), "LOST",
                  ("0:00:00", "0:00:00", 0), "NO_SERVER"))
    assert parse_day("990215") == parse_day("1999-02-15") == date(1999, 2, 15)


def served(call_id: str, start: float, length: float, server: str, wait: float = 0.0) -> Call:
    return Call(call_id, date(1999, 2, 1), start - wait, 0, "PS", "served", wait, length, server)


def test_shifts_end_after_an_hour_without_calls_and_idle_time_while_callers_wait_is_after_call_work() -> None:
    calls = [
        served("1", 36000, 100, "ANAT"),
        served("2", 36400, 100, "ANAT", wait=350),  # waiting since 36050: ANAT, done at 36100, was not ready
        served("3", 36600, 100, "ANAT"),  # idle from 36500 while nobody waited: says nothing
        served("4", 36600 + 100 + 3601, 50, "ANAT"),  # over an hour later: a new shift
    ]
    assert [(s.server, s.start, s.end) for s in shifts(calls)] == [("ANAT", 36000, 36700), ("ANAT", 40301, 40351)]
    assert wrapups(calls) == [300.0]


def test_the_real_log_in_the_repository() -> None:
    raw = gzip.decompress(TRACE.read_bytes()).decode()
    assert raw.count("\n") == 33345  # the header and the 33,344 calls the README counts
    calls = read_trace(TRACE)
    first = day_calls(calls, date(1999, 2, 1))
    assert 1400 < len(first) < 1600
    assert all(a.arrival <= b.arrival for a, b in itertools.pairwise(first))
    assert sum(c.patience_observed for c in calls) == 3963 and {c.priority for c in calls} == {0, 1, 2}


def test_a_plain_file_reads_as_the_compressed_one(tmp_path: Path) -> None:
    text = "\n".join([HEADER, row("1", "990201", ("9:00:00", "9:00:09"), ("9:00:09", "9:00:19", 10), "HANG",
                                  ("0:00:00", "0:00:00", 0), "NO_SERVER")]) + "\n"
    (tmp_path / "day.tsv").write_text(text)
    (tmp_path / "day.tsv.gz").write_bytes(gzip.compress(text.encode()))
    assert read_trace(tmp_path / "day.tsv") == read_trace(tmp_path / "day.tsv.gz") != []

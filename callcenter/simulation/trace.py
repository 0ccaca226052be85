"""A real call centre's log (the Technion "Anonymous Bank" format, tests/data and benchmarks/data), read into
the calls that reached the agents' queue and the agents' shifts. Pure apart from `read_trace`.

What the log's README warns of, and what is done about it:
- calls after midnight carry the next date: a service day runs from 06:00 to 06:00, so a call dated D+1 at
  00:40 belongs to day D's evening (its times count past 24:00, e.g. 88,800 s);
- a call that crosses midnight has later stamps smaller than earlier ones: they get a day added;
- `ser_start` can precede `q_exit` by a second or two (two clocks): the wait is `q_time`, never derived;
- a few served calls have zero service times: served for one second (the agent did pick up);
- priority customers break first-come order: each call keeps its priority, the replay puts them ahead.

Which calls are the queue's: every call that asked for an agent. A caller who hung up in the IVR (HANG with no
queue time) never joined; a call "served" with no agent recorded (NO_SERVER, about 30 s, nearly always with no
wait) took no agent's time, so it is left out too. PHANTOM calls left the queue unserved after `q_time` and
are replayed as callers who left then; they are not scored, their fate being unknown.

Patience: a caller who hung up waited exactly their patience; a served caller's patience is only known to
exceed the wait they had (right-censored). `Call.patience_observed` says which.
"""

from __future__ import annotations

import bisect
import gzip
import io
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

DAY_SECONDS = 86_400
# A service day starts at 06:00: the centre is closed (or nearly: a handful of calls) from about 03:00 to 07:00.
DAY_STARTS = 6 * 3600
# No call for this long means the agent left the floor (a break, the end of a shift).
SHIFT_GAP = 3600.0
# Shorter waits are the two clocks' skew and the ring, not a queue.
MIN_WAIT = 2.0
NO_SERVER = "NO_SERVER"
UNSET = "0:00:00"


@dataclass(frozen=True)
class Call:
    call_id: str
    day: date  # the service day (06:00 to 06:00) the call belongs to
    arrival: float  # joining the queue, seconds from the service day's midnight (past 86,400 after midnight)
    priority: int  # 2: moved ahead of the others in the queue
    kind: str  # PS, PE, IN, NE, NW, TT
    outcome: str  # served | abandoned | phantom
    wait: float  # seconds in the queue
    service: float  # seconds with the agent (0 unless served)
    server: str  # the agent's name ("" unless served)

    @property
    def patience_observed(self) -> bool:
        """True: `wait` is the caller's patience; False: the patience only exceeds it (censored)."""
        return self.outcome == "abandoned"

    @property
    def service_start(self) -> float:
        return self.arrival + self.wait


@dataclass(frozen=True)
class Shift:
    server: str
    start: float  # seconds from the service day's midnight, as Call.arrival
    end: float


class TraceError(ValueError):
    """A line that is not the log's format (the field and the line say which)."""


def _seconds(stamp: str, line: int) -> int:
    try:
        hours, minutes, seconds = (int(part) for part in stamp.split(":"))
    except ValueError:
        raise TraceError(f"line {line}: {stamp!r} is not H:MM:SS") from None
    return hours * 3600 + minutes * 60 + seconds


def _after(stamp: int, base: int) -> int:
    """A stamp of the same call that reads earlier than `base` by hours crossed midnight."""
    return stamp + DAY_SECONDS if stamp < base - DAY_SECONDS // 2 else stamp


def _date(text: str, line: int) -> date:
    if len(text) != 6 or not text.isdigit():
        raise TraceError(f"line {line}: date {text!r} is not YYMMDD")
    return date(1900 + int(text[:2]) if int(text[:2]) >= 50 else 2000 + int(text[:2]), int(text[2:4]), int(text[4:]))


def parse_line(fields: dict[str, str], line: int = 0) -> Call | None:
    """One log line as a queue call, or None when the call never reached the agents' queue."""
    try:
        entry = _seconds(fields["vru_entry"], line)
        outcome, server = fields["outcome"], fields["server"]
        queued = not (fields["q_start"] == UNSET and fields["q_exit"] == UNSET)
        q_time, ser_time = int(fields["q_time"]), int(fields["ser_time"])
        priority = int(fields["priority"])
        called = _date(fields["date"], line)
        vru_exit = _after(_seconds(fields["vru_exit"], line), entry)
    except KeyError as missing:
        raise TraceError(f"line {line}: no field {missing}") from None
    except ValueError as bad:
        raise TraceError(f"line {line}: {bad}") from None
    if outcome == "HANG" and not queued:
        return None  # hung up in the IVR
    if outcome == "AGENT" and server == NO_SERVER:
        return None  # no agent's time taken
    offset = 0
    if entry < DAY_STARTS:
        called -= timedelta(days=1)  # after midnight: the previous day's evening
        offset = DAY_SECONDS
    arrival = vru_exit + offset
    if outcome == "AGENT":
        return Call(fields["call_id"], called, float(arrival), priority, fields["type"], "served",
                    float(q_time if queued else 0), float(max(1, ser_time)), server)
    if outcome in ("HANG", "PHANTOM"):
        return Call(fields["call_id"], called, float(arrival), priority, fields["type"],
                    "abandoned" if outcome == "HANG" else "phantom", float(q_time), 0.0, "")
    raise TraceError(f"line {line}: unknown outcome {outcome!r}")


def parse_trace(lines: Iterable[str]) -> Iterator[Call]:
    """Tab-separated lines, the header first."""
    rows = iter(lines)
    header = next(rows, "").rstrip("\r\n").split("\t")
    if "vru_entry" not in header:
        raise TraceError("line 1: no header with vru_entry")
    for number, text in enumerate(rows, start=2):
        text = text.rstrip("\r\n")
        if not text:
            continue
        values = text.split("\t")
        if len(values) != len(header):
            raise TraceError(f"line {number}: {len(values)} fields, the header has {len(header)}")
        call = parse_line(dict(zip(header, values, strict=True)), number)
        if call is not None:
            yield call


def read_trace(path: Path) -> list[Call]:
    """The file's queue calls (a `.gz` file is read through gzip)."""
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    return list(parse_trace(io.StringIO(raw.decode("utf-8"))))


def day_calls(calls: Iterable[Call], day: date) -> list[Call]:
    """One service day's calls in the order they joined."""
    return sorted((c for c in calls if c.day == day), key=lambda c: (c.arrival, c.call_id))


def shifts(calls: Iterable[Call], gap: float = SHIFT_GAP) -> list[Shift]:
    """Each agent is on the floor from the start of their first call to the end of their last, a shift ending
    where they took no call for `gap` seconds (a long break, or gone)."""
    served: dict[str, list[tuple[float, float]]] = {}
    for call in calls:
        if call.outcome == "served":
            served.setdefault(call.server, []).append((call.service_start, call.service_start + call.service))
    found: list[Shift] = []
    for server, spans in served.items():
        spans.sort()
        start, end = spans[0]
        for begin, finish in spans[1:]:
            if begin - end > gap:
                found.append(Shift(server, start, end))
                start = begin
            end = max(end, finish)
        found.append(Shift(server, start, end))
    return sorted(found, key=lambda s: (s.start, s.server))


def _queue_busy(calls: Iterable[Call]) -> list[tuple[float, float]]:
    """When somebody was waiting in the real queue: the union of the waits, merged and in order."""
    spans = sorted((c.arrival, c.arrival + c.wait) for c in calls if c.wait >= MIN_WAIT)
    merged: list[tuple[float, float]] = []
    for begin, end in spans:
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged


def wrapups(calls: Iterable[Call], gap: float = SHIFT_GAP) -> list[float]:
    """How long agents stayed off the phone after a call while callers were waiting: after-call work (and the
    odd break), the time the log shows an agent not available though on the floor. Only calls that ended
    with somebody waiting say it (otherwise an idle agent may just have had nobody to take); gaps of a
    shift's length are the shift's end, not a wrap-up."""
    calls = list(calls)
    busy = _queue_busy(calls)
    starts = [b for b, _ in busy]
    served: dict[str, list[tuple[float, float]]] = {}
    for call in calls:
        if call.outcome == "served":
            served.setdefault(call.server, []).append((call.service_start, call.service_start + call.service))
    found = []
    for spans in served.values():
        spans.sort()
        for (_, end), (begin, _) in itertools.pairwise(spans):
            index = bisect.bisect_right(starts, end) - 1
            if 0 <= begin - end <= gap and index >= 0 and busy[index][1] > end:
                found.append(begin - end)
    return sorted(found)


def parse_day(text: str) -> date:
    """--date: YYMMDD as in the log (990215), or ISO (1999-02-15)."""
    return date.fromisoformat(text) if "-" in text else _date(text, 0)

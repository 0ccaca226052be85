"""Asterisk's queue_log: app_queue's own record of every queued call, one line per step (pure, plus file reads).

    1732345200|1732345187.42|hotline|op7|CONNECT|13|1732345200.43|2

`time|callid|queue|agent|event|data...`, with callid the caller channel's Uniqueid (docs.asterisk.org,
"Queue Logs"). The fields of the events read here, as app_queue writes them:

    ENTERQUEUE        url|callerid|position
    CONNECT           holdtime|bridged channel's uniqueid|ringtime
    ABANDON           position|original position|waittime
    EXITWITHKEY       key|position|original position|waittime
    EXITWITHTIMEOUT   position|original position|waittime
    EXITEMPTY         position|original position|waittime
    COMPLETECALLER    holdtime|calltime|original position
    COMPLETEAGENT     holdtime|calltime|original position

AMI keeps no history: what happens while the service's link is down never reaches it. The queue_log does, so
the reports read it to complete the facts for the time the link was away (`reports/facts.py`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

# A line longer than this is not a queue_log line (caller IDs and URLs are short); it is skipped.
MAX_LINE = 4096


@dataclass(frozen=True)
class QueueLogEntry:
    time: float
    callid: str
    queue: str
    agent: str
    event: str
    data: tuple[str, ...] = ()

    def field(self, index: int) -> str:
        return self.data[index] if index < len(self.data) else ""


def parse_line(line: str) -> QueueLogEntry | None:
    """One line, or None when it is not a queue_log line (the reader counts and skips those)."""
    parts = line.rstrip("\r\n").split("|")
    if len(parts) < 5 or not parts[4]:
        return None
    try:
        at = float(parts[0])
    except ValueError:
        return None
    return QueueLogEntry(at, parts[1], parts[2], parts[3], parts[4], tuple(parts[5:]))


def format_line(entry: QueueLogEntry) -> str:
    """What app_queue appends (the simulator writes the same)."""
    return "|".join((str(int(entry.time)), entry.callid, entry.queue, entry.agent, entry.event, *entry.data)) + "\n"


def _line_time(stream: BinaryIO, offset: int) -> tuple[int, float | None]:
    """The start of the first whole line at or after `offset`, and its time (None at the end of the file)."""
    stream.seek(offset)
    if offset:
        stream.readline(MAX_LINE)  # the rest of a line cut in the middle
    start = stream.tell()
    while True:
        line = stream.readline(MAX_LINE)
        if not line:
            return start, None
        entry = parse_line(line.decode("utf-8", "replace"))
        if entry is not None:
            return start, entry.time
        start = stream.tell()


def offset_at(stream: BinaryIO, since: float) -> int:
    """The byte offset of the first line at or after `since`, by bisection: a day's file at a hundred times
    the traffic has millions of lines, and a gap to fill is a few seconds of them.

    app_queue appends in time order (within a second); the search may land a few lines early, never late,
    because the caller filters by time again."""
    size = stream.seek(0, os.SEEK_END)
    low, high = 0, size
    while high - low > MAX_LINE:
        middle = (low + high) // 2
        _, at = _line_time(stream, middle)
        if at is None or at >= since - 1:
            high = middle
        else:
            low = middle
    start, _ = _line_time(stream, low)
    return start


@dataclass
class ReadResult:
    entries: list[QueueLogEntry]
    skipped: int  # lines that were not queue_log lines


def read_since(path: Path, since: float) -> ReadResult:
    """Every entry from `since` on, with a count of the lines that could not be read."""
    entries: list[QueueLogEntry] = []
    skipped = 0
    with path.open("rb") as stream:
        stream.seek(offset_at(stream, since))
        for raw in iter(lambda: stream.readline(MAX_LINE), b""):
            if not raw.endswith(b"\n"):
                break  # a line app_queue is still writing: read next time
            entry = parse_line(raw.decode("utf-8", "replace"))
            if entry is None:
                skipped += 1
            elif entry.time >= since:
                entries.append(entry)
    return ReadResult(entries, skipped)


def read_queue_log(path: Path, since: float) -> list[QueueLogEntry]:
    """The queue_log's lines from `since` on; a missing file is logged (a wrong path), not fatal: the reports and
    the callbacks then only lack what the link missed."""
    try:
        result = read_since(path, since)
    except FileNotFoundError:
        log.warning("queue_log not found: link gaps cannot be filled", extra={"path": str(path)})
        return []
    if result.skipped:
        log.warning("queue_log lines skipped: not queue_log lines", extra={"skipped": result.skipped})
    return result.entries

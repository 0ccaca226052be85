"""AMI ingest speed: events per second through framing + parsing + the queue tracker, next to the raw rate of
just splitting the same bytes into frames (the limit), as a ratio.

The stream is the real Asterisk 22 recording of a 50-caller burst (tests/data/ami), repeated until
it holds the requested number of events: real field names, real noise (VarSet, Newexten, ...) and real order.

    python benchmarks/ami_ingest.py [--events 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from callcenter.pbx.ami import AmiClient
from callcenter.pbx.link import LINK_EVENTS
from callcenter.pbx.protocol import (
    FrameSplitter,
    Message,
    event_name,
    frame_selector,
    parse_frame,
    split_stream,
)
from callcenter.pbx.tracker import QueueTracker

TRANSCRIPT = Path(__file__).resolve().parents[1] / "tests" / "data" / "ami" / "burst_50_callers.ami"
CHUNK = 256 * 1024


def corpus(events: int) -> tuple[bytes, int]:
    _, frames = split_stream(TRANSCRIPT.read_bytes())
    # Keep the events (drop the recorded session's responses: they answer actions nobody sends here).
    body = [f for f in frames if f.startswith(b"Event: ")]
    repeats = max(1, round(events / len(body)))
    block = b"".join(f + b"\r\n\r\n" for f in body)
    return block * repeats, len(body) * repeats


def raw_split(data: bytes) -> int:
    return len(data.split(b"\r\n\r\n")) - 1


def splitter_only(data: bytes) -> int:
    """Framing only; returns the number of frames."""
    splitter = FrameSplitter(expect_banner=False)
    count = 0
    view = memoryview(data)
    for start in range(0, len(data), CHUNK):
        count += len(splitter.feed(view[start:start + CHUNK]))  # type: ignore[arg-type]
    return count


def per_frame_pipeline(data: bytes) -> int:
    """Frame everything, skip noise by name in Python, parse what matters, fold it into the tracker.
    Returns the number of events applied to the tracker."""
    splitter = FrameSplitter(expect_banner=False)
    tracker = QueueTracker()
    wanted = LINK_EVENTS
    now = time.time()
    applied = 0
    view = memoryview(data)
    for start in range(0, len(data), CHUNK):
        for frame in splitter.feed(view[start:start + CHUNK]):  # type: ignore[arg-type]
            name = event_name(frame)
            if name is not None and name not in wanted:
                continue
            tracker.apply(parse_frame(frame), now)
            applied += 1
    return applied


def selected_pipeline(data: bytes) -> int:
    """What the service's reader does: the regex engine picks the frames that matter, they are parsed and
    folded into the tracker. Returns the number of events applied to the tracker."""
    splitter = FrameSplitter(expect_banner=False)
    selector = frame_selector(LINK_EVENTS)
    tracker = QueueTracker()
    now = time.time()
    applied = 0
    view = memoryview(data)
    for start in range(0, len(data), CHUNK):
        for frame in splitter.feed_selected(view[start:start + CHUNK], selector):  # type: ignore[arg-type]
            tracker.apply(parse_frame(frame), now)
            applied += 1
    return applied


async def over_tcp(data: bytes) -> float:
    """The real client on a real socket: login, then the stream; seconds until the last event is handled."""
    finished = asyncio.Event()
    body = data + b"Event: BenchmarkDone\r\nPrivilege: user,all\r\n\r\n"

    # The login is answered with the client's own (random) ActionID, read from its action.
    async def serve_properly(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        action = await reader.readuntil(b"\r\n\r\n")
        action_id = next(line.split(b": ", 1)[1] for line in action.split(b"\r\n") if line.startswith(b"ActionID"))
        writer.write(b"Response: Success\r\nActionID: " + action_id + b"\r\nMessage: Authentication accepted\r\n\r\n")
        await writer.drain()
        started.set_result(time.perf_counter())
        writer.write(body)
        await writer.drain()
        await finished.wait()
        writer.close()

    started: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    server = await asyncio.start_server(serve_properly, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    tracker = QueueTracker()
    client = AmiClient("127.0.0.1", port, "bench", "x", ping_interval=3600,
                       wanted_events=LINK_EVENTS | {b"BenchmarkDone"})

    def on_event(message: Message) -> None:
        if message.name == "BenchmarkDone":
            finished.set()
        else:
            tracker.apply(message, 0.0)

    client.on_event(on_event)
    await client.connect()
    await finished.wait()
    elapsed = time.perf_counter() - await started
    await client.close()
    server.close()
    return elapsed


def rate(func: Callable[[bytes], int], data: bytes, events: int, runs: int) -> tuple[float, int]:
    """Events of the stream handled per second (median of runs), and what the function returned."""
    rates = []
    result = 0
    for _ in range(runs):
        started = time.perf_counter()
        result = func(data)
        rates.append(events / (time.perf_counter() - started))
    return statistics.median(rates), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    data, events = corpus(args.events)
    print(f"corpus: {events:,} events, {len(data) / 1e6:.0f} MB (real Asterisk 22 burst recording, repeated)")
    raw, raw_frames = rate(raw_split, data, events, args.runs)
    framing, frames = rate(splitter_only, data, events, args.runs)
    per_frame, applied_per_frame = rate(per_frame_pipeline, data, events, args.runs)
    selected, applied_selected = rate(selected_pipeline, data, events, args.runs)
    assert raw_frames == frames == events
    assert applied_selected == applied_per_frame, "both paths must apply the same events"
    tcp_seconds = statistics.median(asyncio.run(over_tcp(data)) for _ in range(args.runs))
    tcp = events / tcp_seconds
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{applied_selected:,} of them matter to the tracker and the callbacks; the rest is skipped")
    print(f"{'path':<52} {'events/s':>12} {'vs raw split':>13}")
    rows = [
        ("bytes.split, framing only (the limit)", raw),
        ("FrameSplitter.feed, 256 KiB chunks, framing only", framing),
        ("framing + skip by name in Python + parse + tracker", per_frame),
        ("regex-selected frames + parse + tracker (service)", selected),
        ("AmiClient over loopback TCP + tracker (service)", tcp),
    ]
    for label, value in rows:
        print(f"{label:<52} {value:>12,.0f} {value / raw:>13.2f}")
    print(f"peak RSS {rss:.0f} MiB (holds the corpus)")
    print("target: >= 50,000 events/s and >= 0.5 of the raw rate, through parse + tracker")


if __name__ == "__main__":
    main()

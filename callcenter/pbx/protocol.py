"""The AMI wire format, with no I/O: split a byte stream into frames, parse a frame into a Message.

AMI is `Key: Value` lines ended by CRLF, a message ended by an empty line; the stream opens with a banner line
`Asterisk Call Manager/x.y.z`. Keys repeat (ChanVariable, Command's Output), so headers are kept as an ordered
list of pairs; values are UTF-8 with replacement (caller names in Cyrillic occur, and a broken byte must not
kill the link). Most events on a real PBX are noise for a queue tracker (VarSet, Newexten, ...), so
`event_name()` reads just the name and callers parse the rest only for the events they want.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import cast

FRAME_END = b"\r\n\r\n"
LINE_END = b"\r\n"
# A frame bigger than this without its terminating empty line is garbage: drop it, keep the link.
MAX_FRAME_BYTES = 1 << 20
BANNER = re.compile(r"^Asterisk Call Manager/(?P<version>\d+(?:\.\d+)*)")


class MalformedFrame(ValueError):
    def __init__(self, reason: str, frame: bytes) -> None:
        super().__init__(reason)
        self.reason = reason
        self.frame = frame


class Message:
    """One AMI message: an event (`kind == "event"`, `name` the event name) or an action's response
    (`kind == "response"`, `name` the Response value: Success, Error, Follows, Goodbye)."""

    __slots__ = ("_index", "headers", "kind", "name")

    def __init__(self, kind: str, name: str, headers: list[tuple[str, str]]) -> None:
        self.kind = kind
        self.name = name
        self.headers = headers
        self._index: dict[str, str] | None = None

    def _lookup(self) -> dict[str, str]:
        if self._index is None:
            index = dict(self.headers)
            if len(index) != len(self.headers):  # a repeated key: the first value is the one `get` returns
                index = {}
                for key, value in self.headers:
                    index.setdefault(key, value)
            self._index = index
        return self._index

    def get(self, key: str, default: str | None = None) -> str | None:
        """The first value of `key`."""
        return self._lookup().get(key, default)

    def __getitem__(self, key: str) -> str:
        return self._lookup()[key]

    def __contains__(self, key: object) -> bool:
        return key in self._lookup()

    def get_all(self, key: str) -> list[str]:
        return [value for k, value in self.headers if k == key]

    def keys(self) -> list[str]:
        """Header names in order, each once."""
        return list(self._lookup())

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")

    def to_dict(self) -> dict[str, str]:
        return dict(self._lookup())

    def __repr__(self) -> str:
        return f"Message({self.kind} {self.name!r}, {len(self.headers)} headers)"


def event_name(frame: bytes) -> bytes | None:
    """The event name of a raw frame without parsing it; None for a response or anything else."""
    if not frame.startswith(b"Event: "):
        return None
    end = frame.find(LINE_END)
    return frame[7:] if end < 0 else frame[7:end]


def _lenient_headers(pairs: list[list[str]], frame: bytes) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for pair in pairs:
        if len(pair) == 2:
            headers.append((pair[0], pair[1]))
            continue
        line = pair[0]
        if not line:
            continue
        if line.endswith(":") and " " not in line:  # an empty value sent without the trailing space
            headers.append((line[:-1], ""))
        else:
            raise MalformedFrame(f"line without 'Key: Value': {line[:60]!r}", frame)
    return headers


def parse_frame(frame: bytes) -> Message:
    """Parse one frame (without its terminating empty line). Raises MalformedFrame."""
    text = frame.decode("utf-8", "replace").lstrip("\r\n")
    pairs = [line.split(": ", 1) for line in text.split("\r\n")]
    # Two-item lists unpack like (key, value) tuples; converting them would cost a copy per header on the hot
    # path of the PBX link (measured: str.split beats any regex here). A short item is a line without ': '.
    well_formed = min(map(len, pairs)) == 2
    headers = cast(list[tuple[str, str]], pairs) if well_formed else _lenient_headers(pairs, frame)
    if not headers:
        raise MalformedFrame("empty frame", frame)
    first_key, first_value = headers[0]
    if first_key == "Event":
        return Message("event", first_value, headers)
    if first_key == "Response":
        return Message("response", first_value, headers)
    raise MalformedFrame(f"frame starts with {first_key!r}, not Event or Response", frame)


class FrameSplitter:
    """Incremental framing: feed bytes as they arrive, get whole frames back.

    Each chunk is split with `bytes.split` (C speed); only the unfinished tail is carried to the next chunk.
    """

    def __init__(self, expect_banner: bool = True) -> None:
        self._tail = b""
        self.expect_banner = expect_banner
        self.banner: str | None = None
        self.oversized = 0

    def feed(self, data: bytes) -> list[bytes]:
        if self._tail:
            data = self._tail + data
        if self.expect_banner and self.banner is None:
            end = data.find(LINE_END)
            if end < 0:
                self._tail = bytes(data)
                return []
            self.banner = bytes(data[:end]).decode("utf-8", "replace")
            data = data[end + 2:]
        parts = bytes(data).split(FRAME_END)
        tail = parts.pop()
        if len(tail) > MAX_FRAME_BYTES:
            self.oversized += 1
            tail = b""
        self._tail = tail
        return [part for part in parts if part]

    def feed_selected(self, data: bytes, selector: re.Pattern[bytes]) -> list[bytes]:
        """Like `feed`, but returns only the frames `selector` picks (see `frame_selector`); the others are
        skipped inside the regex engine, never touched by Python code. On a real PBX nine frames in ten are
        noise, so this is where the speed is."""
        if self.expect_banner and self.banner is None:
            return [f for f in self.feed(data) if selector.match(FRAME_END + f)]
        region = self._tail + data if self._tail else bytes(data)
        cut = region.rfind(FRAME_END)
        if cut < 0:
            self._tail = region
            if len(region) > MAX_FRAME_BYTES:
                self.oversized += 1
                self._tail = b""
            return []
        self._tail = region[cut + 4:]
        # The separator in front of the first frame lets one pattern (literal prefix: fast) find every start.
        region = FRAME_END + region[:cut + 4]
        frames = []
        find = region.find
        last = len(region)
        for match in selector.finditer(region):
            start = match.start() + 4
            if start < last:
                frames.append(region[start:find(FRAME_END, start)])
        return frames

    @property
    def pending(self) -> int:
        return len(self._tail)


def frame_selector(event_names: Iterable[bytes]) -> re.Pattern[bytes]:
    """A pattern matching the start of every response, of every event named in `event_names`, and of every
    frame that is neither an event nor a response (garbage: it must reach the parser to be logged)."""
    names = b"|".join(re.escape(name) for name in sorted(event_names, key=len, reverse=True))
    return re.compile(rb"\r\n\r\n(?:Event: (?:" + names + rb")\r\n|Response: |(?!Event: |\r\n))")


def split_stream(data: bytes, expect_banner: bool = True) -> tuple[str | None, list[bytes]]:
    """Frame a whole recorded stream at once (replay and benchmarks)."""
    splitter = FrameSplitter(expect_banner)
    frames = splitter.feed(data)
    tail = splitter._tail.strip()
    if tail:
        frames.append(tail)
    return splitter.banner, frames


def encode_action(name: str, headers: Iterable[tuple[str, str]]) -> bytes:
    """An action on the wire. Values may not contain CR or LF: they would inject headers."""
    lines = [f"Action: {name}"]
    for key, value in headers:
        if "\r" in value or "\n" in value or "\r" in key or "\n" in key:
            raise ValueError(f"AMI header {key!r} contains a line break")
        lines.append(f"{key}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def encode_message(first: tuple[str, str], headers: Iterable[tuple[str, str]]) -> bytes:
    """A response or event on the wire (the simulator's side)."""
    return ("\r\n".join(f"{k}: {v}" for k, v in (first, *headers)) + "\r\n\r\n").encode("utf-8")


def iter_messages(
    frames: Iterable[bytes], wanted: frozenset[bytes] | None = None
) -> Iterator[Message | MalformedFrame]:
    """Parse frames, skipping events not in `wanted` (None: all); malformed ones come back as the error."""
    for frame in frames:
        if wanted is not None:
            name = event_name(frame)
            if name is not None and name not in wanted:
                continue
        try:
            yield parse_frame(frame)
        except MalformedFrame as exc:
            yield exc

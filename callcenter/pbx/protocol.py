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
            index: dict[str, str] = {}
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


def parse_frame(frame: bytes) -> Message:
    """Parse one frame (without its terminating empty line). Raises MalformedFrame."""
    text = frame.decode("utf-8", "replace").lstrip("\r\n")
    lines = text.split("\r\n")
    headers: list[tuple[str, str]] = []
    for line in lines:
        key, sep, value = line.partition(": ")
        if not sep:
            if line.endswith(":") and " " not in line:  # an empty value sent without the trailing space
                key, value = line[:-1], ""
            elif not line:
                continue
            else:
                raise MalformedFrame(f"line without 'Key: Value': {line[:60]!r}", frame)
        headers.append((key, value))
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

    Amortised linear: the buffer is scanned from where the last scan stopped, never from its start.
    """

    def __init__(self, expect_banner: bool = True) -> None:
        self._buffer = bytearray()
        self._scan_from = 0
        self.expect_banner = expect_banner
        self.banner: str | None = None
        self.oversized = 0

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self._buffer
        buffer += data
        frames: list[bytes] = []
        start = 0
        if self.expect_banner and self.banner is None:
            end = buffer.find(LINE_END)
            if end < 0:
                return frames
            self.banner = buffer[:end].decode("utf-8", "replace")
            start = end + 2
        search = max(start, self._scan_from - 3)
        while True:
            end = buffer.find(FRAME_END, search)
            if end < 0:
                break
            if end > start:
                frames.append(bytes(buffer[start:end]))
            start = end + 4
            search = start
        if start:
            del buffer[:start]
        self._scan_from = len(buffer)
        if len(buffer) > MAX_FRAME_BYTES:
            self.oversized += 1
            buffer.clear()
            self._scan_from = 0
        return frames

    @property
    def pending(self) -> int:
        return len(self._buffer)


def split_stream(data: bytes, expect_banner: bool = True) -> tuple[str | None, list[bytes]]:
    """Frame a whole recorded stream at once (replay and benchmarks)."""
    splitter = FrameSplitter(expect_banner)
    frames = splitter.feed(data)
    tail = bytes(splitter._buffer).strip()
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

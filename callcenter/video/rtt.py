"""Real-time text: each participant's line as it is being typed (pure, no I/O).

Pages speak T.140 as RFC 8865 carries it over a WebRTC data channel (subprotocol "t140"): UTF-8 text that
appends characters, BACKSPACE (U+0008) erasing the last one, and LINE SEPARATOR (U+2028) ending the line.
The service keeps every participant's line and relays it to the others on one T.140 channel per source (RFC
8865 leaves multi-party to the application; the channel's label names the source), coalescing what was typed
between two sends, so fast typing costs at most one message per `INTERVAL` per receiver.

In-progress text is not chat: nothing here is stored or counted against the chat lines' rate limit. A
finished line is sent as a chat line (stored, rate-limited) and its T.140 line ended.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from callcenter.video.limits import MAX_CHAT_CHARS

PROTOCOL = "t140"
BACKSPACE = "\b"
LINE_SEPARATOR = "\u2028"
# T.140 also ends a line with CR LF; a page might send either.
LINE_ENDS = (LINE_SEPARATOR, "\r", "\n")
# The byte-order mark is T.140's keep-alive: nothing to show.
KEEP_ALIVE = "\ufeff"
# A line in progress is never longer than a chat line may be; one message is a few keystrokes, or a paste.
MAX_LINE = MAX_CHAT_CHARS
MAX_MESSAGE = 4 * MAX_CHAT_CHARS
# T.140 suggests buffering about 300 ms; half that still reads as live and is cheap.
INTERVAL = 0.15
# Messages a participant may send: a page sends at most ten a second; twice that, and a burst for a reconnect.
# Beyond it a flood is refused (it is not typing), so it cannot keep the service busy.
BURST, PER_SECOND = 40.0, 20.0


def increment(before: str, after: str) -> str:
    """The T.140 text that turns `before` into `after`: erase back to the common prefix, then type the rest."""
    common = 0
    for old, new in zip(before, after, strict=False):
        if old != new:
            break
        common += 1
    return BACKSPACE * (len(before) - common) + after[common:]


def _shown(char: str) -> bool:
    # Control characters and lone surrogates would only garble the other side's screen.
    return unicodedata.category(char) not in ("Cc", "Cs") and char != KEEP_ALIVE


@dataclass
class Line:
    """One participant's line in progress; `number` counts the lines they finished."""

    text: str = ""
    number: int = 0

    def apply(self, t140: str) -> None:
        chars = list(self.text)
        for char in t140:
            if char == BACKSPACE:
                if chars:
                    chars.pop()
            elif char in LINE_ENDS:
                self._end(chars)
                chars = []
            elif _shown(char) and len(chars) < MAX_LINE:
                chars.append(char)
        self.text = "".join(chars)

    def end(self) -> None:
        self._end(list(self.text))
        self.text = ""

    def _end(self, chars: list[str]) -> None:
        # An empty line ended (CR then LF, or the chat line and the page's separator) is not a new line.
        if chars:
            self.number += 1


@dataclass
class Shown:
    """What one receiver has been sent of one source's line."""

    text: str = ""
    number: int = 0

    def catch_up(self, line: Line) -> str:
        """The T.140 text that brings the receiver to `line`, and remember it as sent ("" if nothing new)."""
        # Another line since: end the receiver's and start afresh; the same one: the difference.
        t140 = LINE_SEPARATOR + line.text if line.number != self.number else increment(self.text, line.text)
        self.text, self.number = line.text, line.number
        return t140


@dataclass
class Throttle:
    """At most one send per `interval` seconds: how long to wait before the next."""

    interval: float = INTERVAL
    last: float = float("-inf")

    def delay(self, now: float) -> float:
        return max(0.0, self.last + self.interval - now)

    def sent(self, now: float) -> None:
        self.last = now

"""`callcenter replay FILE.ami`: feed a recorded AMI byte stream through the parser and the tracker.

Event-list results (QueueStatus) in the recording are folded in as a resync, exactly as the live link does
after it connects.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from callcenter.pbx.protocol import MalformedFrame, Message, parse_frame, split_stream
from callcenter.pbx.tracker import QueueTracker

STATUS_ITEMS = frozenset({"QueueParams", "QueueMember", "QueueEntry"})


@dataclass
class ReplayResult:
    tracker: QueueTracker
    banner: str | None
    frames: int = 0
    unparsed: list[str] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        document = self.tracker.snapshot()
        document["banner"] = self.banner
        document["frames"] = self.frames
        document["unparsed"] = len(self.unparsed)
        document["unparsed_reasons"] = self.unparsed
        return document


def replay(data: bytes, tracker: QueueTracker | None = None, now: float | None = None,
           keep_messages: bool = False) -> ReplayResult:
    tracker = tracker or QueueTracker()
    clock = time.time() if now is None else now
    banner, frames = split_stream(data)
    result = ReplayResult(tracker, banner, frames=len(frames))
    lists: dict[str, list[Message]] = {}
    for frame in frames:
        try:
            message = parse_frame(frame)
        except MalformedFrame as exc:
            result.unparsed.append(exc.reason)
            continue
        if keep_messages:
            result.messages.append(message)
        action_id = message.action_id
        if message.kind == "response":
            if action_id and (message.get("EventList") or "").lower() == "start":
                lists[action_id] = []
            continue
        if action_id in lists:
            assert action_id is not None
            if (message.get("EventList") or "").lower() == "complete":
                items = lists.pop(action_id)
                if message.name == "QueueStatusComplete":
                    tracker.resync(items, clock)
            else:
                lists[action_id].append(message)
            continue
        if message.name in STATUS_ITEMS:
            continue
        tracker.apply(message, clock)
    return result

"""Who may see which push on the queue stream (and which fields of the queue snapshot), by role and owner, as
the HTTP routes are filtered (pure).

- supervisors: everything.
- operators: the queue with callers' numbers (they call back and take the calls); a screen-pop only for the
  call they took; offers and assignments only their own.
- interpreters: the queue's shape (how many wait, who is free, the figures) without who the callers are; no
  screen-pops and no callbacks (GET /api/cases and /api/callbacks answer them 403); their own offers.
An unknown push type is shown to supervisors only, so that a new kind of push leaks nothing until its rule is
written here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Pushes that carry nothing personal about residents: the queue's figures, operators' states, link state, and
# the video service's view that every staff role may read over HTTP (GET /api/video/sessions).
SHAPE = frozenset({"counters", "member", "member_removed", "resync", "link_lost", "call_completed", "caller_left",
                   "video_interpreter", "video_session"})
# Pushes that name a resident: the queue's callers (with their numbers) and the calls operators take.
CALLERS = frozenset({"snapshot", "caller_joined", "call_connected"})
# Pushes for one member of staff (for_user), whatever their role.
OWN = frozenset({"video_offer", "video_offer_expired", "video_assigned"})
CALLER_IDENTITY = ("callerid", "callername")


@dataclass(frozen=True)
class Viewer:
    role: str
    username: str
    interface: str = ""


def _anonymous(entry: dict[str, Any]) -> dict[str, Any]:
    return {**entry, **{field: "" for field in CALLER_IDENTITY if field in entry}}


def anonymous_queue(queue: dict[str, Any]) -> dict[str, Any]:
    """The queue view without the callers' numbers and names (waiting callers and calls in progress)."""
    return {**queue, "waiting": [_anonymous(c) for c in queue.get("waiting", [])],
            "calls": [_anonymous(c) for c in queue.get("calls", [])]}


def queue_for(viewer: Viewer, queue: dict[str, Any]) -> dict[str, Any]:
    return queue if viewer.role in ("supervisor", "operator") else anonymous_queue(queue)


def visible(viewer: Viewer, change: dict[str, Any]) -> dict[str, Any] | None:
    """The push as this viewer may see it, or None."""
    kind = change.get("type")
    if "for_user" in change and change["for_user"] != viewer.username:
        return None
    if viewer.role == "supervisor":
        return change
    if kind in OWN:
        return change if "for_user" in change else None
    if kind in SHAPE:
        return change
    if kind == "screen_pop":
        return change if viewer.role == "operator" and change.get("interface") == viewer.interface else None
    if kind == "callback_connected":
        return change if viewer.role == "operator" else None
    if kind in CALLERS:
        if viewer.role == "operator":
            return change
        if kind == "snapshot":
            return {**change, "queue": anonymous_queue(change.get("queue", {}))}
        if kind == "caller_joined":
            return {**change, "caller": _anonymous(change.get("caller", {}))}
        return _anonymous(change)
    return None

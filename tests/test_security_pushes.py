"""Issue 16, point 4: every push type on the queue stream, walked for every role, against what that role may
read over HTTP; and the stream itself, an interpreter and an operator side by side."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from callcenter.web.visibility import CALLERS, OWN, SHAPE, Viewer, visible
from tests.conftest import REPO

SUPERVISOR = Viewer("supervisor", "sup", "")
OPERATOR = Viewer("operator", "op1", "Local/101@agents")
OTHER_OPERATOR = Viewer("operator", "op2", "Local/102@agents")
INTERPRETER = Viewer("interpreter", "int1", "")
NUMBER = "+79161234567"
# One example of each push the service sends on the queue stream, with personal data where it carries any.
PUSHES: dict[str, dict[str, Any]] = {
    "snapshot": {"type": "snapshot", "queue": {"waiting": [{"callerid": NUMBER, "callername": "Иванова"}],
                                               "calls": [{"callerid": NUMBER, "interface": "Local/101@agents"}]}},
    "caller_joined": {"type": "caller_joined", "caller": {"callerid": NUMBER, "callername": "Иванова"}},
    "caller_left": {"type": "caller_left", "uniqueid": "1.1", "reason": "answered"},
    "call_connected": {"type": "call_connected", "interface": "Local/101@agents", "callerid": NUMBER},
    "call_completed": {"type": "call_completed", "interface": "Local/101@agents", "talk_seconds": 60},
    "member": {"type": "member", "member": {"interface": "Local/101@agents"}},
    "member_removed": {"type": "member_removed", "interface": "Local/101@agents"},
    "counters": {"type": "counters", "counters": {"offered": 1}},
    "resync": {"type": "resync"},
    "link_lost": {"type": "link_lost", "reason": "timeout"},
    "screen_pop": {"type": "screen_pop", "interface": "Local/101@agents", "callerid": NUMBER,
                   "cases": [{"number": "100200300", "status": "in_review"}]},
    "callback_connected": {"type": "callback_connected", "callback": {"phone": "+7916***4567", "topic": "диагноз"},
                           "interface": "Local/101@agents"},
    "video_interpreter": {"type": "video_interpreter", "username": "int1", "status": "available"},
    "video_session": {"type": "video_session", "event": "created", "session": {"id": "v1"}},
    "video_offer": {"type": "video_offer", "session": "v1", "for_user": "int1"},
    "video_offer_expired": {"type": "video_offer_expired", "session": "v1", "for_user": "int1"},
    "video_assigned": {"type": "video_assigned", "session": "v1", "for_user": "op1"},
}
PRODUCERS = ["callcenter/pbx/tracker.py", "callcenter/pbx/link.py", "callcenter/callbacks/monitor.py",
             "callcenter/video/service.py", "callcenter/web/cases.py"]


def test_every_push_type_the_service_sends_has_an_example_here() -> None:
    sent = set()
    for path in PRODUCERS:
        sent |= set(re.findall(r'\{"type": "(\w+)"', Path(REPO / path).read_text(encoding="utf-8")))
    # JSON-schema words, and what the video service sends on a session's own signalling socket (to the
    # session's participants only), not on the queue stream.
    sent -= {"object", "string", "array", "chat", "chat_history", "state", "text", "error"}
    assert sent <= set(PUSHES), f"a new push type needs a rule in web/visibility.py: {sorted(sent - set(PUSHES))}"
    assert set(PUSHES) - {"snapshot"} <= SHAPE | CALLERS | OWN | {"screen_pop", "callback_connected"}


def carries_personal_data(change: dict[str, Any] | None) -> bool:
    text = str(change)
    return NUMBER in text or "Иванова" in text or "100200300" in text or "диагноз" in text


@pytest.mark.parametrize("kind", sorted(PUSHES))
def test_each_push_per_role(kind: str) -> None:
    change = PUSHES[kind]
    assert visible(SUPERVISOR, change) == change or change.get("for_user") not in (None, "sup")
    shown_to_interpreter = visible(INTERPRETER, change)
    assert not carries_personal_data(shown_to_interpreter), kind
    if kind in ("screen_pop", "callback_connected"):
        assert shown_to_interpreter is None
    if "for_user" in change:
        owner = change["for_user"]
        for viewer in (SUPERVISOR, OPERATOR, OTHER_OPERATOR, INTERPRETER):
            assert (visible(viewer, change) is not None) == (viewer.username == owner), (kind, viewer)
    if kind == "screen_pop":
        assert visible(OPERATOR, change) == change  # the operator who took the call
        assert visible(OTHER_OPERATOR, change) is None
    if kind in ("snapshot", "caller_joined", "call_connected"):
        assert visible(OPERATOR, change) == change  # operators call residents back: they see numbers
        assert shown_to_interpreter is not None  # the queue's shape stays


def test_an_unknown_push_is_for_supervisors_only() -> None:
    change = {"type": "something_new", "phone": NUMBER}
    assert visible(SUPERVISOR, change) == change
    assert visible(OPERATOR, change) is None
    assert visible(INTERPRETER, change) is None

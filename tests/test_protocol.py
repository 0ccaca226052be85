from __future__ import annotations

import pytest

from callcenter.pbx.protocol import (
    MAX_FRAME_BYTES,
    FrameSplitter,
    MalformedFrame,
    encode_action,
    event_name,
    frame_selector,
    parse_frame,
    split_stream,
)
from tests.conftest import TRANSCRIPTS


def test_incremental_framing_equals_whole_stream_framing_at_any_chunk_size() -> None:
    data = (TRANSCRIPTS / "queue_summary.ami").read_bytes()
    banner, whole = split_stream(data)
    assert banner == "Asterisk Call Manager/11.0.0"
    for chunk in (1, 7, 1024, 65536):
        splitter = FrameSplitter()
        frames = []
        for start in range(0, len(data), chunk):
            frames += splitter.feed(data[start:start + chunk])
        assert frames == whole, chunk
        assert splitter.pending == 0


def test_repeated_headers_kept_in_order_and_empty_values() -> None:
    message = parse_frame(b"Response: Success\r\nActionID: 7\r\nMessage: Command output follows\r\n"
                          b"Output: line one\r\nOutput: line two\r\nPausedReason: \r\nAccountCode:")
    assert message.kind == "response"
    assert message.name == "Success"
    assert message.get_all("Output") == ["line one", "line two"]
    assert message.get("Output") == "line one"
    assert message["PausedReason"] == ""
    assert message["AccountCode"] == ""
    assert message.action_id == "7"


def test_cyrillic_and_broken_utf8_are_decoded_with_replacement() -> None:
    frame = "Event: QueueCallerJoin\r\nCallerIDName: Иванов Иван\r\nQueue: hotline".encode() + b"\r\nBad: \xff\xfe"
    message = parse_frame(frame)
    assert message["CallerIDName"] == "Иванов Иван"
    assert message["Bad"] == "\ufffd\ufffd"


def test_event_name_without_parsing() -> None:
    assert event_name(b"Event: VarSet\r\nPrivilege: dialplan,all") == b"VarSet"
    assert event_name(b"Response: Success\r\nActionID: 1") is None


@pytest.mark.parametrize("frame", [b"garbage without colon", b"Key: value\r\nOther: x", b"\r\n"])
def test_malformed_frames_raise(frame: bytes) -> None:
    with pytest.raises(MalformedFrame):
        parse_frame(frame)


def test_oversized_garbage_is_dropped_and_framing_recovers() -> None:
    splitter = FrameSplitter(expect_banner=False)
    assert splitter.feed(b"x" * (MAX_FRAME_BYTES + 10)) == []
    assert splitter.oversized == 1
    assert splitter.feed(b"Event: Ping\r\nA: 1\r\n\r\n") == [b"Event: Ping\r\nA: 1"]


def test_actions_cannot_smuggle_headers() -> None:
    assert encode_action("Ping", [("ActionID", "1")]) == b"Action: Ping\r\nActionID: 1\r\n\r\n"
    with pytest.raises(ValueError, match="line break"):
        encode_action("QueuePause", [("Reason", "lunch\r\nAction: Originate")])


def test_selected_framing_picks_responses_wanted_events_and_garbage_only() -> None:
    data = (TRANSCRIPTS / "queue_call_answered.ami").read_bytes()
    selector = frame_selector([b"QueueCallerJoin", b"AgentConnect"])
    _, every = split_stream(data)
    expected = [f for f in every if f.startswith((b"Response: ", b"Event: QueueCallerJoin\r\n",
                                                  b"Event: AgentConnect\r\n"))]
    for chunk in (1, 100, 4096, len(data)):
        splitter = FrameSplitter()
        picked = []
        for start in range(0, len(data), chunk):
            picked += splitter.feed_selected(data[start:start + chunk], selector)
        assert picked == expected, chunk
    garbage = FrameSplitter(expect_banner=False).feed_selected(
        b"Event: VarSet\r\nA: 1\r\n\r\nnot ami\r\n\r\n\r\n\r\nResponse: Success\r\n\r\n", selector)
    assert garbage == [b"not ami", b"Response: Success"]

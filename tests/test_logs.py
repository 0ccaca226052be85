from __future__ import annotations

import io
import json
import logging

import pytest

from callcenter.logs import JsonFormatter, TextFormatter, configure_logging, mask_text, mask_value, request_id_var


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call from +74951234567 now", "call from +*********67 now"),
        ("call from 84951234567", "call from *********67"),
        ("caller 5551001 joined", "caller *****01 joined"),
        ("+7 (495) 123-45-67", "+* (***) ***-**-67"),
        ("8 495 123 45 67", "* *** *** ** 67"),
        ("8-495-123-45-67", "*-***-***-**-67"),
        ("Local/74951234567@callback-out-0000000a;1", "Local/*********67@callback-out-0000000a;1"),
    ],
)
def test_phone_numbers_are_masked(text: str, expected: str) -> None:
    assert mask_text(text) == expected


@pytest.mark.parametrize(
    "text",
    ["uniqueid 1763884800.123", "on 2026-11-23 at 10:00:00", "position 12 of 50", "port 5038",
     "Local/s@caller-sim-00000001;2"],
)
def test_ids_dates_and_small_numbers_are_kept(text: str) -> None:
    assert mask_text(text) == text


def test_sensitive_keys_are_masked_whatever_their_value() -> None:
    assert mask_value("CallerIDName", "Иванов Иван") == "***"
    assert mask_value("CallerIDNum", "101") == "*01"
    assert mask_value("Queue", "hotline") == "hotline"


def test_json_lines_with_masked_extras_and_request_id() -> None:
    record = logging.LogRecord("callcenter.test", logging.INFO, __file__, 1, "got %s", ("+74951234567",), None)
    record.phone = "+74951234567"
    record.position = 3
    token = request_id_var.set("req-1")
    try:
        line = JsonFormatter().format(record)
    finally:
        request_id_var.reset(token)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["msg"] == "got +*********67"
    assert entry["phone"] == "+*********67"
    assert entry["position"] == 3
    assert entry["request_id"] == "req-1"
    assert entry["level"] == "INFO"


def test_text_format_on_a_terminal_and_json_otherwise() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal, pipe = Tty(), io.StringIO()
    configure_logging("INFO", "auto", terminal)
    logging.getLogger("callcenter.test").info("hello", extra={"k": "v"})
    configure_logging("INFO", "auto", pipe)
    logging.getLogger("callcenter.test").info("hello")
    assert isinstance(logging.getLogger().handlers[0].formatter, JsonFormatter)
    assert "INFO    callcenter.test: hello k=v" in terminal.getvalue()
    assert json.loads(pipe.getvalue())["msg"] == "hello"
    configure_logging("WARNING", "text", io.StringIO())
    assert isinstance(logging.getLogger().handlers[0].formatter, TextFormatter)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("callback for 916.123.45.67 accepted", "callback for ***.***.**.67 accepted"),
        ("8.916.123.45.67", "*.***.***.**.67"),
        ("+7.916.123.45.67", "+*.***.***.**.67"),
        ("(916) 123-45-67", "(***) ***-**-67"),
        ("tel: 916 123-45-67", "tel: *** ***-**-67"),
        ("916-123-45-67", "***-***-**-67"),
        ("495 123 45 67", "*** *** ** 67"),
        ("local 123-45-67", "local ***-**-67"),
        ("caller +79161234567.", "caller +*********67."),
        ("phone=8(916)123.45.67;", "phone=*(***)***.**.67;"),
    ],
)
def test_numbers_written_with_dots_spaces_dashes_and_brackets_are_masked(text: str, expected: str) -> None:
    assert mask_text(text) == expected


@pytest.mark.parametrize(
    "text",
    ["at 1763884800", "sent 1763884800123 ms", "day 20261123 report", "stamp 20261123100000",
     "deadline 2065-01-01 epoch 2998000000"],
)
def test_unix_and_compact_timestamps_are_kept(text: str) -> None:
    assert mask_text(text) == text


def test_one_line_with_both_kinds_masks_only_the_number() -> None:
    line = ("2026-11-23T10:00:00.123+03:00 from 192.168.100.200:51234 via 10.0.0.5, ::ffff:10.1.2.3 "
            "req 123e4567-e89b-12d3-a456-426614174000 uniqueid 1763884800.123 at 1763884800 waited 00:12:34 "
            "took 12.345678s 1500 ms on 23.11.2026 hours 08:00-20:00 cb cb0123abcd1234567 "
            "channel PJSIP/trunk-0000000a attempt cb-cb0123abcd-2 version 1.2.840.113549 "
            "number 916.123.45.67 and 8 (916) 123-45-67")
    masked = mask_text(line)
    kept, _, numbers = masked.rpartition("number ")
    assert kept == line.rpartition("number ")[0]
    assert numbers == "***.***.**.67 and * (***) ***-**-67"

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

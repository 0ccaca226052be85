"""Logging: one line per event, JSON when not on a terminal, readable text on one; personal data masked.

Masking happens in the formatter, on the whole message and every extra field, so no code path can write a
caller's number to the log by forgetting to mask it.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# A bare run of 7-15 digits (caller ids, E.164 numbers), not part of a word, a decimal or a dotted id
# such as an Asterisk Uniqueid (1763884800.123), nor a channel's hex counter (caller-sim-00000001). A number
# inside a channel name (Local/74951234567@callback-out) is masked.
_PLAIN_NUMBER = re.compile(r"(?<![\w.-])\+?\d{7,15}(?![\w.]|\.\d)")
# Written Russian forms: +7 (495) 123-45-67, 8 495 123 45 67, 8-495-123-45-67.
_FORMATTED_NUMBER = re.compile(
    r"(?<![\w.])(?:\+\d{1,3}|8|7)[\s(-]{1,2}\d{3}[\s)-]{1,2}\d{3}[\s-]?\d{2}[\s-]?\d{2}(?![\w.])"
)
# AMI headers (and our own field names) whose values are personal data whatever they look like.
SENSITIVE_KEYS = frozenset(
    {
        "calleridnum", "calleridname", "connectedlinenum", "connectedlinename", "destcalleridnum",
        "destcalleridname", "destconnectedlinenum", "destconnectedlinename", "callerid", "phone",
        "callback_number", "name", "applicant", "date_of_birth", "pin", "secret", "password",
    }
)
_STANDARD_RECORD_KEYS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def mask_digits(number: str) -> str:
    """Hide every digit but the last two: '+74951234567' -> '+*********67'."""
    total = sum(ch.isdigit() for ch in number)
    seen = 0
    out = []
    for ch in number:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > total - 2 else "*")
        else:
            out.append(ch)
    return "".join(out)


def mask_text(text: str) -> str:
    """Mask anything that looks like a phone number inside free text."""
    text = _FORMATTED_NUMBER.sub(lambda m: mask_digits(m.group(0)), text)
    return _PLAIN_NUMBER.sub(lambda m: mask_digits(m.group(0)), text)


def mask_value(key: str, value: Any) -> Any:
    if isinstance(value, dict):
        return {k: mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(key, v) for v in value]
    if not isinstance(value, str):
        return value
    if key.lower() in SENSITIVE_KEYS and value:
        return mask_digits(value) if any(ch.isdigit() for ch in value) else "***"
    return mask_text(value)


def mask_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, mask_value(k, v)) for k, v in headers]


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: mask_value(key, value)
        for key, value in vars(record).items()
        if key not in _STANDARD_RECORD_KEYS and not key.startswith("_")
    }


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": mask_text(record.getMessage()),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        entry.update(_extras(record))
        if record.exc_info:
            entry["exc"] = mask_text(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        line = f"{stamp} {record.levelname:<7} {record.name}: {mask_text(record.getMessage())}"
        extras = _extras(record)
        request_id = request_id_var.get()
        if request_id:
            extras["request_id"] = request_id
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        if record.exc_info:
            line += "\n" + mask_text(self.formatException(record.exc_info))
        return line


def configure_logging(level: str = "INFO", fmt: str = "auto", stream: TextIO | None = None) -> None:
    stream = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # aiohttp's access log goes through our masking AccessLogger; keep the library's chatter at WARNING.
    logging.getLogger("asyncio").setLevel(logging.WARNING)

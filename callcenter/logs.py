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
# inside a channel name (Local/74951234567@callback-out) is masked, and so is one that ends a sentence.
_PLAIN_NUMBER = re.compile(r"(?<![\w.-])\+?\d{7,15}(?!\w|\.\d)")
# Runs of digits that are times, not numbers: Unix seconds (10 digits) and milliseconds (13) from 2001 to 2065,
# and compact dates YYYYMMDD[hh[mm[ss]]]. Russian numbers never look like these: 10 digits national start with
# 3-9, 11 digits with 7 or 8. A run written with a + is always a number.
_TIMESTAMP = re.compile(
    r"[12]\d{9}|[12]\d{12}|(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?:(?:[01]\d|2[0-3])(?:[0-5]\d){0,2})?"
)
# Written forms: +7 (916) 123-45-67, 8 916 123 45 67, 8-916-123-45-67, 916.123.45.67, (916) 123-45-67,
# +7.916.123.45.67, 8(916)123.45.67. Groups of 3-3-2-2 (or 3-3-4) digits with dots, spaces, dashes or
# brackets, after a +country code, or after an optional 8/7 with a Russian area code (3-9..): an IPv4
# address (octets up to 255) never has such a first group, a date or a time never has such groups, and a
# run of digits that goes on (a longer dotted id, an address's fifth part) is left alone.
_SEP = r"[ \u00a0.-]?"
_FORMATTED_NUMBER = re.compile(
    r"(?<![\w.+-])"
    r"(?:\+\d{1,3}" + _SEP + r"(?:\(\d{3}\)|\d{3})"
    r"|(?:[78]" + _SEP + r")?(?:\([3-9]\d\d\)|[3-9]\d\d))"
    + _SEP + r"\d{3}" + _SEP + r"\d{2}" + _SEP + r"\d{2}"
    r"(?!\w|[.-]?\d)"
)
# A local number written with dots or dashes: 123-45-67, 123.45.67.
_LOCAL_NUMBER = re.compile(r"(?<![\w.+-])\d{3}[.-]\d{2}[.-]\d{2}(?!\w|[.-]?\d)")
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
    text = _LOCAL_NUMBER.sub(lambda m: mask_digits(m.group(0)), text)
    return _PLAIN_NUMBER.sub(_mask_plain, text)


def _mask_plain(match: re.Match[str]) -> str:
    run = match.group(0)
    return run if _TIMESTAMP.fullmatch(run) else mask_digits(run)


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

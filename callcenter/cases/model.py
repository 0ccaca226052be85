"""A case, the status vocabulary, and how rows become cases (pure: no I/O)."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import tomllib
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from callcenter.callbacks.phone import PhoneError, normalise


@dataclass(frozen=True)
class StatusText:
    code: str
    ru: str
    en: str
    prompts: tuple[str, ...]


def load_vocabulary(path: str | Path) -> dict[str, StatusText]:
    document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    vocabulary = {}
    for code, entry in document.items():
        vocabulary[code] = StatusText(code, str(entry["ru"]), str(entry["en"]), tuple(entry.get("prompts", [])))
    return vocabulary


@dataclass
class Case:
    number: str
    kind: str
    applicant_name: str
    birth_date: str  # YYYY-MM-DD
    phones: list[str]
    status: str
    status_date: str  # YYYY-MM-DD
    office: str = ""
    next_step: str = ""
    decision_due: str = ""  # YYYY-MM-DD
    history: list[dict[str, str]] = field(default_factory=list)
    pin_salt: str = ""
    pin_hash: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Case:
        return cls(**json.loads(text))

    def for_staff(self) -> dict[str, Any]:
        data = asdict(self)
        del data["pin_salt"], data["pin_hash"]
        return data


def pin_digest(salt: str, pin: str) -> str:
    return hashlib.sha256(f"{salt}:{pin}".encode()).hexdigest()


def phone_key(raw: str) -> str:
    """The form phones are indexed by: E.164 digits when the number is valid, else its digits as given."""
    try:
        return normalise(raw, allowed_prefixes=("+",)).lstrip("+")
    except PhoneError:
        return "".join(ch for ch in raw if ch.isdigit())


class RowError(ValueError):
    pass


def _date(value: str, name: str, required: bool = True) -> str:
    value = value.strip()
    if not value and not required:
        return ""
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise RowError(f"{name}: '{value[:20]}' is not a date YYYY-MM-DD") from None


CASE_FIELDS = {"number", "kind", "applicant_name", "birth_date", "phones", "pin", "status", "status_date",
               "office", "next_step", "decision_due", "history"}


def case_from_row(row: dict[str, Any], number_pattern: re.Pattern[str], vocabulary: dict[str, StatusText]) -> Case:
    """One imported row (CSV or JSON Lines) -> a Case; RowError says what is wrong."""
    unknown = sorted(set(row) - CASE_FIELDS)
    if unknown:
        raise RowError(f"unknown column(s): {', '.join(unknown)}")
    text = {k: (v if isinstance(v, str) else "" if v is None else str(v)) for k, v in row.items() if k != "history"}
    number = text.get("number", "").strip()
    if not number_pattern.fullmatch(number):
        raise RowError(f"number: '{number[:20]}' does not match the case number format")
    status = text.get("status", "").strip()
    if status not in vocabulary:
        raise RowError(f"status: unknown code '{status[:30]}'")
    if not text.get("kind", "").strip():
        raise RowError("kind: required")
    if not text.get("applicant_name", "").strip():
        raise RowError("applicant_name: required")
    raw_phones = row.get("phones") or []
    phones_list = raw_phones if isinstance(raw_phones, list) else [p for p in str(raw_phones).split(";") if p.strip()]
    phones = []
    for raw in phones_list:
        try:
            phones.append(normalise(str(raw)))
        except PhoneError as exc:
            raise RowError(f"phones: '{str(raw)[:20]}': {exc}") from None
    pin = text.get("pin", "").strip()
    if pin and not re.fullmatch(r"[0-9]{4,8}", pin):
        raise RowError("pin: 4 to 8 digits")
    history = row.get("history") or []
    if isinstance(history, str):
        try:
            history = json.loads(history) if history.strip() else []
        except json.JSONDecodeError:
            raise RowError("history: not JSON") from None
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise RowError("history: a list of {code, date, note}")
    for entry in history:
        if entry.get("code") not in vocabulary:
            raise RowError(f"history: unknown status code '{str(entry.get('code'))[:30]}'")
        _date(str(entry.get("date", "")), "history date")
    salt = secrets.token_hex(8) if pin else ""
    return Case(number=number, kind=text["kind"].strip(), applicant_name=text["applicant_name"].strip(),
                birth_date=_date(text.get("birth_date", ""), "birth_date"), phones=phones, status=status,
                status_date=_date(text.get("status_date", ""), "status_date"), office=text.get("office", "").strip(),
                next_step=text.get("next_step", "").strip(),
                decision_due=_date(text.get("decision_due", ""), "decision_due", required=False),
                history=[{k: str(v) for k, v in h.items()} for h in history],
                pin_salt=salt, pin_hash=pin_digest(salt, pin) if pin else "")

"""Phone numbers: normalised to E.164 with Google's libphonenumber (the `phonenumbers` port)."""

from __future__ import annotations

from collections.abc import Sequence

import phonenumbers


class PhoneError(ValueError):
    """The number cannot be called back; the message says why, for the caller."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def normalise(raw: str, region: str = "RU", allowed_prefixes: Sequence[str] = ("+7",)) -> str:
    """'8 (495) 123-45-67', '+7 495 1234567', '74951234567' -> '+74951234567'; PhoneError when it won't do."""
    text = raw.strip()
    if not text or len(text) > 32:
        raise PhoneError("phone_invalid", "a phone number is required (at most 32 characters)")
    digits = "".join(ch for ch in text if ch.isdigit())
    # 7XXXXXXXXXX without the plus is common in Russia; libphonenumber would read it as a local number.
    if region == "RU" and not text.startswith("+") and len(digits) == 11 and digits[0] == "7":
        text = "+" + digits
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise PhoneError("phone_invalid", f"not a phone number: {exc}") from exc
    if not phonenumbers.is_valid_number(number):
        raise PhoneError("phone_invalid", "not a valid phone number (wrong length or unused range)")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not any(e164.startswith(prefix) for prefix in allowed_prefixes):
        raise PhoneError("phone_not_allowed", f"the hotline calls back only numbers starting with "
                                              f"{', '.join(allowed_prefixes)}")
    kind = phonenumbers.number_type(number)
    if kind in (phonenumbers.PhoneNumberType.PREMIUM_RATE, phonenumbers.PhoneNumberType.SHARED_COST,
                phonenumbers.PhoneNumberType.PAGER, phonenumbers.PhoneNumberType.UAN):
        raise PhoneError("phone_not_dialable", "the hotline does not call premium-rate or service numbers")
    return e164


def mask(e164: str) -> str:
    """'+74951234567' -> '+7 *** ***-45-67': enough for a resident to recognise their own number."""
    if len(e164) < 8:
        return "*" * len(e164)
    return f"{e164[:2]} *** ***-{e164[-4:-2]}-{e164[-2:]}"

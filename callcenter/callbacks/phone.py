"""Phone numbers: normalised to E.164 with Google's libphonenumber (the `phonenumbers` port)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import phonenumbers

if TYPE_CHECKING:
    from callcenter.config import Settings

# libphonenumber's number types by name, as the settings write them (callbacks.allowed_types).
NUMBER_TYPES: dict[str, int] = {name: value for name, value in vars(phonenumbers.PhoneNumberType).items()
                                if name.isupper() and isinstance(value, int)}
TYPE_NAMES: dict[int, str] = {value: name for name, value in NUMBER_TYPES.items()}


class PhoneError(ValueError):
    """The number cannot be called back; the message says why, for the caller.

    `code` is phone_invalid (not a number), phone_not_allowed (a number the hotline must not dial; `reason` says
    why: foreign, own_number, prefix or number_type, and then `number_type` names it, e.g. premium_rate) or
    phone_not_dialable (premium-rate and service ranges, from `normalise` alone)."""

    def __init__(self, code: str, message: str, reason: str = "", number_type: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.number_type = number_type


def parse(raw: str, region: str = "RU") -> phonenumbers.PhoneNumber:
    """A valid number as libphonenumber reads it; PhoneError(phone_invalid) otherwise."""
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
    return number


def to_e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise(raw: str, region: str = "RU", allowed_prefixes: Sequence[str] = ("+7",)) -> str:
    """'8 (495) 123-45-67', '+7 495 1234567', '74951234567' -> '+74951234567'; PhoneError when it won't do.

    Only the form of a number (and a prefix): what the hotline may dial is DialPolicy's to say."""
    number = parse(raw, region)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not any(e164.startswith(prefix) for prefix in allowed_prefixes):
        raise PhoneError("phone_not_allowed", f"the hotline calls back only numbers starting with "
                                              f"{', '.join(allowed_prefixes)}")
    kind = phonenumbers.number_type(number)
    if kind in (phonenumbers.PhoneNumberType.PREMIUM_RATE, phonenumbers.PhoneNumberType.SHARED_COST,
                phonenumbers.PhoneNumberType.PAGER, phonenumbers.PhoneNumberType.UAN):
        raise PhoneError("phone_not_dialable", "the hotline does not call premium-rate or service numbers")
    return e164


def e164_or_digits(raw: str, region: str = "RU") -> str:
    """One of the hotline's numbers in E.164 (a form libphonenumber cannot read: '+' and its digits)."""
    try:
        return to_e164(parse(raw, region))
    except PhoneError:
        return "+" + "".join(ch for ch in raw if ch.isdigit())


@dataclass(frozen=True)
class DialPolicy:
    """Which numbers the hotline may call back: the PBX dials whatever is accepted, at the department's cost.

    A number must be valid, belong to an allowed region (Kazakhstan shares +7 with Russia: +7 7xx is KZ), start
    with an allowed prefix, not be one of the hotline's own numbers, and be of an allowed type (mobile and fixed
    lines by default: no premium-rate, shared-cost, toll-free, personal, VoIP or UAN ranges)."""

    regions: frozenset[str] = frozenset({"RU"})
    types: frozenset[int] = frozenset({phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE,
                                       phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE})
    prefixes: tuple[str, ...] = ("+7",)
    own_numbers: frozenset[str] = frozenset()
    default_region: str = "RU"

    @classmethod
    def from_settings(cls, settings: Settings) -> DialPolicy:
        cb = settings.callbacks
        own: Iterable[str] = [settings.hotline.number, *cb.own_numbers]
        return cls(regions=frozenset(cb.allowed_regions),
                   types=frozenset(NUMBER_TYPES[name] for name in cb.allowed_types if name in NUMBER_TYPES),
                   prefixes=tuple(cb.allowed_prefixes),
                   own_numbers=frozenset(e164_or_digits(raw, cb.default_region) for raw in own if raw.strip()),
                   default_region=cb.default_region)

    def normalise(self, raw: str) -> str:
        """The number in E.164 if the hotline may dial it; PhoneError (phone_invalid, phone_not_allowed) if not."""
        number = parse(raw, self.default_region)
        normalised = to_e164(number)
        region = phonenumbers.region_code_for_number(number) or ""
        if region not in self.regions:
            raise PhoneError("phone_not_allowed", f"the hotline calls back only numbers in "
                                                  f"{', '.join(sorted(self.regions))}; this one is in "
                                                  f"{region or 'no single country'}", reason="foreign")
        if normalised in self.own_numbers:
            raise PhoneError("phone_not_allowed", "this is the hotline's own number", reason="own_number")
        if not any(normalised.startswith(prefix) for prefix in self.prefixes):
            raise PhoneError("phone_not_allowed", f"the hotline calls back only numbers starting with "
                                                  f"{', '.join(self.prefixes)}", reason="prefix")
        kind = phonenumbers.number_type(number)
        if kind not in self.types:
            name = TYPE_NAMES.get(kind, "UNKNOWN").lower()
            raise PhoneError("phone_not_allowed", f"the hotline calls back only mobile and fixed lines, not "
                                                  f"{name.replace('_', '-')} numbers", reason="number_type",
                             number_type=name)
        return normalised


def mask(e164: str) -> str:
    """'+74951234567' -> '+7 *** ***-45-67': enough for a resident to recognise their own number."""
    if len(e164) < 8:
        return "*" * len(e164)
    return f"{e164[:2]} *** ***-{e164[-4:-2]}-{e164[-2:]}"

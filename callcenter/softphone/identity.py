"""An operator's SIP identity (pure; no I/O).

The SIP password is derived, not stored: HMAC-SHA256 of the extension keyed by `softphone.secret` (from the
environment only). The service hands it to the operator's own logged-in page, and `callcenter asterisk-config`
writes the same value into Asterisk's include file; rotating the secret rotates every password at once, and a
copy of Redis or of the repository holds none."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from callcenter.config import SoftphoneSettings

EXTENSION = re.compile(r"[0-9]{2,8}")


class SoftphoneUnavailable(Exception):
    """The softphone is not configured (code softphone_off: the page shows no phone), or cannot work for this
    account (softphone_unavailable: the page says why)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class QuickConnect:
    name: str
    number: str


def sip_password(secret: str, extension: str) -> str:
    """24 URL-safe characters (144 bits): long enough, and no character a PJSIP config line would mangle."""
    digest = hmac.new(secret.encode(), f"hotline-sip:{extension}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def sip_domain(settings: SoftphoneSettings) -> str:
    return settings.sip_domain or (urlsplit(settings.websocket_url).hostname or "")


def quick_connects(settings: SoftphoneSettings) -> list[QuickConnect]:
    """`name=number` items of the setting (check-config has refused malformed ones)."""
    found = []
    for item in settings.quick_connects:
        name, _, number = item.partition("=")
        found.append(QuickConnect(name.strip(), number.strip()))
    return found


def check_ready(settings: SoftphoneSettings, extension: str) -> None:
    if not settings.websocket_url:
        raise SoftphoneUnavailable("softphone_off", "the softphone is not configured (softphone.websocket_url)")
    if not settings.secret:
        raise SoftphoneUnavailable("softphone_unavailable",
                                   "the softphone has no secret (CALLCENTER_SOFTPHONE_SECRET)")
    if not EXTENSION.fullmatch(extension):
        raise SoftphoneUnavailable("softphone_unavailable", "this account has no softphone extension; ask a supervisor")


def account(settings: SoftphoneSettings, extension: str, display_name: str) -> dict[str, object]:
    """What the operator's page needs to register and work: its URI and credential, where to connect, and the
    call-handling settings."""
    check_ready(settings, extension)
    return {
        "uri": f"sip:{extension}@{sip_domain(settings)}",
        "authorization_user": extension,
        "password": sip_password(settings.secret, extension),
        "display_name": display_name,
        "websocket_url": settings.websocket_url,
        "ice_servers": [{"urls": url} for url in settings.ice_servers],
        "wrapup_seconds": settings.wrapup_seconds,
        "ring_timeout_seconds": settings.ring_timeout_seconds,
        "dispositions": list(settings.dispositions),
        "quick_connects": [{"name": q.name, "number": q.number} for q in quick_connects(settings)],
    }

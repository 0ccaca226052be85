"""The PJSIP include file for the operators' softphones (pure; no I/O): one endpoint, auth and aor per
operator with an extension, built on config/pjsip.conf's templates (`operator-endpoint`, `-auth`, `-aor`), so
Asterisk's settings stay in one reviewed file and this one holds only who the operators are."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from callcenter.softphone.identity import EXTENSION, sip_password

HEADER = """; Written by `callcenter asterisk-config`: the operators' softphones, from the service's accounts.
; Do not edit: the next run replaces it. pjsip.conf includes it (#tryinclude pjsip_operators.conf).
; The passwords are derived from CALLCENTER_SOFTPHONE_SECRET: keep this file readable by Asterisk only.
"""


@dataclass(frozen=True)
class Operator:
    extension: str
    name: str


def _quoted(name: str) -> str:
    # A caller ID name is quoted in the file; quotes, backslashes and line breaks would end it early.
    return "".join(c for c in name if c not in '"\\\r\n;')[:60]


def render(operators: Iterable[Operator], secret: str) -> str:
    seen: set[str] = set()
    lines = [HEADER]
    for operator in sorted(operators, key=lambda o: o.extension):
        if not EXTENSION.fullmatch(operator.extension) or operator.extension in seen:
            continue
        seen.add(operator.extension)
        ext = operator.extension
        lines += [
            f"[{ext}](operator-endpoint)",
            f"auth = {ext}",
            f"aors = {ext}",
            f'callerid = "{_quoted(operator.name)}" <{ext}>',
            f"[{ext}](operator-auth)",
            f"username = {ext}",
            f"password = {sip_password(secret, ext)}",
            f"[{ext}](operator-aor)",
            "",
        ]
    return "\n".join(lines)

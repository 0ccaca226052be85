"""Turn the project's Asterisk files into a test PBX's: the same files, with this machine's ports and secrets.

Only values that differ between a production PBX and a loop-back test PBX are replaced (addresses, ports,
placeholder passwords); each replacement must find its line, so a change in the project's files that a test
would silently stop covering fails loudly instead.
"""

from __future__ import annotations

import re


class ConfEditError(AssertionError):
    pass


def replace_line(text: str, pattern: str, replacement: str, count: int = 1) -> str:
    """Replace whole lines matching `pattern` (a regex for one line); exactly `count` must match (0: any)."""
    regex = re.compile(rf"^{pattern}$", re.MULTILINE)
    found = len(regex.findall(text))
    if count and found != count:
        raise ConfEditError(f"expected {count} line(s) matching {pattern!r}, found {found}")
    return regex.sub(lambda _: replacement, text)


def insert_after(text: str, line: str, addition: str) -> str:
    """Insert `addition` (lines) right after the one line equal to `line`."""
    lines = text.split("\n")
    hits = [index for index, existing in enumerate(lines) if existing.strip() == line]
    if len(hits) != 1:
        raise ConfEditError(f"expected one line {line!r}, found {len(hits)}")
    lines[hits[0] + 1:hits[0] + 1] = addition.rstrip("\n").split("\n")
    return "\n".join(lines)

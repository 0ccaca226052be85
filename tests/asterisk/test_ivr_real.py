"""The IVR on a real Asterisk 22: what a caller hears, measured from the recording of their handset."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.asterisk.conftest import REPO, Events
from tests.asterisk.pbx import RealPbx
from tests.asterisk.people import Resident

CASES = """number,kind,applicant_name,birth_date,phones,pin,status,status_date,office,next_step,decision_due
100200300,Пособие,Иванова Анна Петровна,1954-03-15,+7 495 123-45-67,4321,in_review,2026-11-10,Отдел №3,,2026-12-01
"""


def import_cases(service: Any, tmp_path: Path) -> None:
    data = tmp_path / "cases.csv"
    data.write_text(CASES, encoding="utf-8")
    result = subprocess.run([*service_command(), "import-cases", str(data)], cwd=REPO, env=service.environment(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def service_command() -> list[str]:
    import sys

    return [sys.executable, "-m", "callcenter"]


def seconds_heard(path: str) -> float:
    """Seconds of the recording louder than silence (sox's silence effect drops the quiet parts)."""
    trimmed = Path(path).with_suffix(".voiced.wav")
    subprocess.run(["sox", path, str(trimmed), "silence", "-l", "1", "0.05", "1%", "-1", "0.3", "1%"], check=True)
    output = subprocess.run(["soxi", "-D", str(trimmed)], capture_output=True, text=True, check=True).stdout
    return float(output.strip() or 0)


@pytest.mark.usefixtures("transcript")
async def test_the_caller_hears_their_case_status(pbx: RealPbx, events: Events, service_factory: Any,
                                                  store: aioredis.Redis, tmp_path: Path) -> None:
    service = await service_factory()
    import_cases(service, tmp_path)
    resident = Resident(pbx, events, "+74951234567")
    await resident.call()
    await resident.ask_about_case("100200300", "15031954")
    await resident.is_played("case-press-1-operator")  # after the status
    await resident.hang_up()
    log = pbx.log_text()
    assert "Playing 'status/in-review.slin' (language 'ru')" in log or \
        "Playing 'status/in-review.wav' (language 'ru')" in log, "the status prompt was not played"
    assert "Playback failed" not in log
    # The answer's prompt names arrive as they are (the request itself is URL-encoded, as a form is).
    assert "status%2F" not in log and not any("%2F" in line for line in log.splitlines() if "Playback(" in line)
    audit = await store.xrange("audit:cases")
    assert [(fields["channel"], fields["result"]) for _, fields in audit] == [("ivr", "ok")]
    assert audit[0][1]["who"].endswith("67") and "1234567" not in audit[0][1]["who"]  # the caller, masked
    # One request per question: ExecIf used to expand a GET and a POST for every one (a 405 each time).
    access = [line for line in service.log_text("serve").splitlines() if "aiohttp.access" in line]
    asked = [line for line in access if "/api/ivr/" in line]
    assert [line for line in asked if "POST /api/ivr/case-status" in line] and len(
        [line for line in asked if "/api/ivr/case-status" in line]) == 1, asked
    assert len([line for line in asked if "/api/ivr/hours" in line]) == 1, asked
    assert not [line for line in access if " 405" in line], access
    # The caller heard the welcome, the start of the menu and of each question (a key cuts a prompt short) and the
    # status: several seconds of speech, where a silent IVR records none.
    heard = seconds_heard(resident.recording)
    assert heard > 6, heard


async def test_a_malformed_case_number_is_heard_as_not_verified(pbx: RealPbx, events: Events, service_factory: Any,
                                                                 store: aioredis.Redis) -> None:
    await service_factory()
    resident = Resident(pbx, events, "+74951234567")
    await resident.call()
    await resident.ask_about_case("12", "1234")
    await resident.is_played("case-not-verified")
    await resident.hang_up()
    log = pbx.log_text()
    assert "Syntax error" not in log and "invalid_case_number" in log  # the answer, read as key=value


async def test_a_withheld_number_is_counted_on_its_line(pbx: RealPbx, events: Events, service_factory: Any,
                                                        store: aioredis.Redis, tmp_path: Path) -> None:
    """Issue 16, point 8: the dialplan sends its channel; the service counts a withheld number's failures on the
    line the call came in on, so they are limited like a caller's."""
    service = await service_factory()
    import_cases(service, tmp_path)
    resident = Resident(pbx, events, "anonymous")
    await resident.call()
    await resident.ask_about_case("100200300", "01011900")
    await resident.is_played("case-not-verified")
    await resident.hang_up()
    audit = await store.xrange("audit:cases")
    assert [(fields["who"], fields["result"]) for _, fields in audit] == [("line:Local/anonymous@test-caller",
                                                                          "not_verified")]
    assert await store.keys("case:fail:line:*")  # the line's failure count, where a caller's number would be

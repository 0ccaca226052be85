"""The dashboard's softphone on a real Asterisk 22: the operator logs in, the page registers to PJSIP over a
WebSocket (webrtc = yes: DTLS-SRTP, ICE), a resident calls the hotline and waits in the queue, app_queue rings the
browser, the operator answers, audio flows both ways through Asterisk, hangs up and wraps up."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from callcenter.accounts.store import AccountStore
from callcenter.cases.model import Case
from callcenter.cases.store import CaseStore
from callcenter.config import Settings
from callcenter.pbx.protocol import Message
from callcenter.softphone.store import SoftphoneStore
from callcenter.web.dashboard import JSSIP
from tests.asterisk.conftest import Events
from tests.asterisk.pbx import REGISTERED_OPERATOR, RealPbx
from tests.asterisk.people import Resident
from tests.asterisk.test_ivr_real import seconds_heard
from tests.test_softphone_browser import ARGS, CHROMIUM, PEER_TOOLS, energy_over, write_tone

# What every test of the dashboard's phone on the real PBX needs: the browser and the phone's SIP library.
SOFTPHONE_PAGE = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
    pytest.mark.skipif(not JSSIP.is_file(), reason="JsSIP is not built: `npm ci && npm run build` (make test does it)"),
]
pytestmark = [
    *SOFTPHONE_PAGE,
    pytest.mark.browser_operators("103"),
    pytest.mark.skipif(shutil.which("sox") is None, reason="sox measures what the resident hears"),
]
BROWSER = "103"
PASSWORD = "real pbx browser password"


async def sit_down_at_the_browser(browser: Any, pbx: RealPbx, service: Any) -> Any:
    """The operator's dashboard logged in, its softphone registered and qualified, in the queue and free."""
    from playwright.async_api import expect

    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    await context.add_init_script(PEER_TOOLS)
    if os.environ.get("HOTLINE_JSSIP_DEBUG"):
        await context.add_init_script('localStorage.setItem("debug", "JsSIP:RTCSession JsSIP:Transport");')
    page = await context.new_page()
    await page.goto(service.url + "/")
    await page.fill("#username", "op103")
    await page.fill("#password", PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page.locator("#phone-card")).to_have_attribute("data-registered", "true", timeout=15_000)
    await pbx.command(f"pjsip qualify {BROWSER}")
    await page.click("#queue-in")
    await expect(page.locator(f'#members tr[data-interface="Local/{BROWSER}@agents"]')).to_contain_text(
        "свободен", timeout=15_000)
    return page


async def answered_with_the_keyboard(page: Any, resident: Resident, events: Events) -> Message:
    """The page rings for a resident already in the queue and Alt+A answers: Asterisk's AgentConnect for them."""
    from playwright.async_api import expect

    card = page.locator("#phone-card")
    await expect(card).to_have_attribute("data-phase", "ringing", timeout=20_000)
    await page.keyboard.press("Alt+KeyA")
    await expect(card).to_have_attribute("data-phase", "talking", timeout=10_000)
    return await events.wait(
        lambda m: m.name == "AgentConnect" and m.get("Uniqueid") == resident.line_id, 15, "AgentConnect")


async def softphone_service(service_factory: Any, store: aioredis.Redis, pbx: RealPbx, **overrides: str) -> Any:
    """The service set up for the browser's softphone, and operator op103 whose phone the browser is."""
    service = await service_factory(**{**softphone_settings(pbx), **overrides})
    await AccountStore(store).add("op103", "Оператор 103", "operator", PASSWORD, f"Local/{BROWSER}@agents", BROWSER)
    return service


def fake_microphone(tmp_path: Path) -> str:
    """Chromium's flag for a microphone that speaks (speech-like tone bursts)."""
    return f"--use-file-for-fake-audio-capture={write_tone(tmp_path / 'tone.wav')}"


def softphone_settings(pbx: RealPbx) -> dict[str, str]:
    scheme = "wss" if pbx.websocket_tls else "ws"
    return {"CALLCENTER_SOFTPHONE_WEBSOCKET_URL": f"{scheme}://{pbx.bind_address}:{pbx.websocket_port}/ws",
            "CALLCENTER_SOFTPHONE_SIP_DOMAIN": "127.0.0.1", "CALLCENTER_SOFTPHONE_SECRET": pbx.softphone_secret,
            "CALLCENTER_SOFTPHONE_WRAPUP_SECONDS": "30"}


async def test_a_queue_call_answered_in_the_browser(pbx: RealPbx, events: Events, service_factory: Any,
                                                    store: aioredis.Redis, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright, expect

    service = await softphone_service(service_factory, store, pbx)
    await CaseStore(store, Settings().cases).upsert_all([
        Case("100200300", "Ежемесячное пособие", "Иванова А. П.", "1954-03-15", ["+79160007001"], "in_review",
             "2026-11-10")])

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                   args=[*ARGS, fake_microphone(tmp_path)])
        try:
            page = await sit_down_at_the_browser(browser, pbx, service)
            card = page.locator("#phone-card")
            # Asterisk has the browser's contact over the WebSocket, and app_queue sees the endpoint free.
            contacts = await pbx.command("pjsip show contacts")
            assert any(f"{BROWSER}/sip:" in line and "transport=ws" in line for line in contacts.splitlines()), \
                contacts
            shown = await pbx.command("queue show hotline")
            assert f"PJSIP/{BROWSER}" in shown and "Not in use" in shown, shown

            resident = Resident(pbx, events, "+79160007001")
            await resident.joins_the_queue(handset="test-handset-tone")

            # app_queue rings the browser, with the dialplan's headers: who calls, which queue call, the cases.
            await expect(card).to_have_attribute("data-phase", "ringing", timeout=20_000)
            await expect(page.locator("#sp-caller-number")).to_have_text("+79160007001")
            await expect(page.locator("#sp-caller-kind")).to_have_text("Звонок из очереди")
            await expect(page.locator("#sp-cases")).to_contain_text("100200300")
            await page.keyboard.press("Alt+KeyA")
            await expect(card).to_have_attribute("data-phase", "talking", timeout=10_000)
            connected = await events.wait(
                lambda m: m.name == "AgentConnect" and m.get("Uniqueid") == resident.line_id, 15, "AgentConnect")
            assert connected.get("Interface") == f"Local/{BROWSER}@agents"

            # Asterisk's tone reaches the page; the page's microphone reaches the resident through Asterisk.
            assert await energy_over(page, 2.0) > 0, "the operator hears nothing from Asterisk"
            await page.keyboard.press("Alt+KeyX")
            await expect(card).to_have_attribute("data-phase", "wrapup", timeout=10_000)
            await events.wait(lambda m: m.name == "AgentComplete" and m.get("Uniqueid") == resident.line_id, 15,
                              "AgentComplete")
            await events.wait(lambda m: m.name == "Hangup" and m.get("Uniqueid") == resident.handset_id, 15,
                              "the resident's line ended with the operator's hang-up")
            # What the resident heard from the moment the operator was connected (before it: the IVR's prompts).
            recording = await events.wait(
                lambda m: m.name == "MixMonitorStart" and m.get("Uniqueid") == resident.handset_id, 5, "recording")
            offset = float(connected.get("Timestamp") or 0) - float(recording.get("Timestamp") or 0) + 0.3
            assert offset > 0.3, (connected, recording)
            heard = tmp_path / "heard-from-operator.wav"
            await asyncio.to_thread(subprocess.run, [
                "sox", str(pbx.recordings / f"{resident.name}-heard.wav"), str(heard), "trim", f"{offset:.3f}"],
                check=True)
            assert await asyncio.to_thread(seconds_heard, str(heard)) > 1.0, "the resident heard no operator"

            # Wrap-up: saved with the queue caller's Uniqueid; the queue view counts the answered call.
            await page.select_option("#sp-disposition", "Консультация")
            await page.fill("#sp-note", "Проверка на настоящей АТС")
            await page.click('#sp-wrapup button[type="submit"]')
            await expect(card).to_have_attribute("data-wrapups", "1")
            (wrapup,) = await SoftphoneStore(store).wrapups(0, 10)
            assert (wrapup["queue_uniqueid"], wrapup["disposition"], wrapup["answered"]) == \
                (resident.line_id, "Консультация", True)
            await expect(page.locator('[data-figure="answered"]')).to_have_text("1", timeout=10_000)
        finally:
            await browser.close()


@pytest.mark.sip_websocket_tls
async def test_the_softphone_over_wss_with_a_certificate(pbx: RealPbx, events: Events, service_factory: Any,
                                                         store: aioredis.Redis, tmp_path: Path) -> None:
    """As production runs it: Asterisk's own TLS web server carries the SIP WebSocket (wss://), with a
    certificate the browser trusts (here by its key, --ignore-certificate-errors-spki-list); any other
    certificate would be refused. The page registers, a resident's call rings, is answered and heard."""
    from playwright.async_api import async_playwright, expect

    assert pbx.websocket_tls is not None
    service = await softphone_service(service_factory, store, pbx)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            *ARGS, fake_microphone(tmp_path),
            f"--ignore-certificate-errors-spki-list={pbx.websocket_tls.spki_sha256}"])
        try:
            page = await sit_down_at_the_browser(browser, pbx, service)
            # The only listener on the WebSocket's port is Asterisk's TLS server (plain HTTP is elsewhere), so the
            # registration came over TLS.
            status = (await pbx.command("http show status")).splitlines()
            bound = f"Enabled and Bound to 127.0.0.1:{pbx.websocket_port}"
            assert [line.split(" Server")[0] for line in status if line.endswith(bound)] == ["HTTPS"], status
            resident = Resident(pbx, events, "+79160007011")
            await resident.call(handset="test-handset-tone")
            await resident.reaches("Background", context="hotline-ivr")
            await resident.press("1")
            card = page.locator("#phone-card")
            await expect(card).to_have_attribute("data-phase", "ringing", timeout=20_000)
            await page.keyboard.press("Alt+KeyA")
            await expect(card).to_have_attribute("data-phase", "talking", timeout=10_000)
            assert await energy_over(page, 1.5) > 0, "the operator hears nothing over the WSS-signalled call"
            await page.keyboard.press("Alt+KeyX")
            await expect(card).to_have_attribute("data-phase", "wrapup", timeout=10_000)
        finally:
            await browser.close()


async def test_a_blind_transfer_and_a_rung_out_call(pbx: RealPbx, events: Events, service_factory: Any,
                                                    store: aioredis.Redis) -> None:
    """Transfer to a quick connect (Asterisk takes the REFER; operator 101's phone answers the resident), then a
    call left ringing: app_queue's timeout ends it, autopause pauses the operator, the page says so."""
    from playwright.async_api import async_playwright, expect

    service = await softphone_service(service_factory, store, pbx)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = await sit_down_at_the_browser(browser, pbx, service)
            card = page.locator("#phone-card")
            first = Resident(pbx, events, "+79160007002")
            await first.call()
            await first.reaches("Background", context="hotline-ivr")
            await first.press("1")
            await expect(card).to_have_attribute("data-phase", "ringing", timeout=30_000)
            await page.keyboard.press("Alt+KeyA")
            await expect(card).to_have_attribute("data-phase", "talking", timeout=10_000)
            await page.keyboard.press("Alt+KeyT")
            await page.keyboard.type(REGISTERED_OPERATOR)
            await page.keyboard.press("Enter")
            answered = await events.wait(lambda m: m.name == "UserEvent" and m.get("UserEvent") ==
                                         "TestOperatorAnswered", 20, "operator 101's phone answering the transfer")
            assert answered.get("Phone") == f"op{REGISTERED_OPERATOR}"
            await expect(page.locator("#sp-message")).to_contain_text(f"Звонок переведён на {REGISTERED_OPERATOR}")
            await expect(card).to_have_attribute("data-phase", "wrapup", timeout=10_000)
            transferred = await events.wait(
                lambda m: m.name == "BlindTransfer" and m.get("Result") == "Success", 10, "Asterisk's BlindTransfer")
            assert transferred.get("Extension") == REGISTERED_OPERATOR
            await page.click('#sp-wrapup button[type="submit"]')
            await expect(card).to_have_attribute("data-wrapups", "1")
            await first.hang_up()

            # The next caller is left ringing: app_queue gives up after its timeout (15 s) and pauses the member.
            second = Resident(pbx, events, "+79160007003")
            await second.call()
            await second.reaches("Background", context="hotline-ivr")
            await second.press("1")
            await expect(card).to_have_attribute("data-phase", "ringing", timeout=40_000)
            await expect(page.locator("#sp-message")).to_contain_text("Пропущен звонок", timeout=25_000)
            await expect(page.locator("#sp-message")).to_contain_text("на паузе «не отвечает»")
            paused = await events.wait(lambda m: m.name == "QueueMemberPause" and m.get("Paused") == "1"
                                       and m.get("Interface") == f"Local/{BROWSER}@agents", 10, "the member paused")
            assert paused is not None
            await expect(page.locator("#my-state")).to_contain_text("пауза", timeout=10_000)
            await second.hang_up()
        finally:
            await browser.close()


async def test_asterisk_config_writes_the_endpoints_and_asterisk_reloads_them(pbx: RealPbx, store: aioredis.Redis,
                                                                              redis_url: str) -> None:
    """`callcenter asterisk-config --reload` against a running Asterisk: a new operator's endpoint appears."""
    await AccountStore(store).add("op105", "Оператор 105", "operator", PASSWORD, "Local/105@agents", "105")
    assert "105" not in await pbx.command("pjsip show endpoints")
    env = {key: value for key, value in os.environ.items() if not key.startswith("CALLCENTER_")}
    env.update({"REDIS_URL": redis_url, "CALLCENTER_SOFTPHONE_SECRET": pbx.softphone_secret,
                "CALLCENTER_AMI_HOST": "127.0.0.1", "CALLCENTER_AMI_PORT": str(pbx.ami_port),
                # The service's own AMI user may not reload modules (no `system` write): the installer's may.
                "CALLCENTER_AMI_USERNAME": "tester", "CALLCENTER_AMI_SECRET": pbx.tester_secret})
    done = await asyncio.to_thread(subprocess.run, [
        sys.executable, "-m", "callcenter", "asterisk-config", "--output", str(pbx.etc / "pjsip_operators.conf"),
        "--reload"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "reloaded res_pjsip" in done.stdout
    shown = await pbx.command("pjsip show endpoint 105")
    assert "Оператор 105" in shown and "105" in await pbx.command("pjsip show aors"), shown

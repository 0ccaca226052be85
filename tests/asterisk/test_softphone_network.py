"""A call survives a short network change, on a real Asterisk 22: the operator's Chromium runs in its own network
namespace (tests/netns.py), a resident's queue call is answered in the page and audio flows; then the browser's
link goes down, its address goes, and it comes back a few seconds later with a new address. The SIP WebSocket
reconnects and re-registers, the page restarts ICE (a re-INVITE with new ICE credentials on the same dialog),
Asterisk answers it, and audio flows again both ways on the same call."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.asterisk.conftest import Events
from tests.asterisk.pbx import RealPbx, free_port
from tests.asterisk.people import Resident
from tests.asterisk.test_ivr_real import seconds_heard
from tests.asterisk.test_softphone_real import (
    BROWSER,
    SOFTPHONE_PAGE,
    answered_with_the_keyboard,
    fake_microphone,
    sit_down_at_the_browser,
    softphone_service,
)
from tests.netns import BrowserNetwork, browser_args
from tests.test_softphone_browser import CHROMIUM

pytestmark = [
    *SOFTPHONE_PAGE,
    pytest.mark.skipif(shutil.which("sox") is None, reason="sox measures what the resident hears"),
]
OUTAGE_SECONDS = 3.0
# From the link coming back to audio arriving again: ICE notices (~2-5 s), the page probes its WebSocket (2 s),
# drops it, JsSIP reconnects (1-2 s) and registers, the re-INVITE is answered at once.
AUDIO_BACK_WITHIN = 15.0


@pytest.fixture
async def pbx(tmp_path: Path, prompts_dir: Path, browser_network: BrowserNetwork) -> AsyncIterator[RealPbx]:
    """The harness's Asterisk with a browser operator (103), its SIP WebSocket and the service on the veth's host
    address, where the browser's namespace reaches them."""
    test_pbx = RealPbx(tmp_path / "asterisk", prompts_dir, http_port=free_port(), websocket_port=free_port(),
                       browser_operators=(BROWSER,), bind_address=browser_network.host_address)
    await test_pbx.start()
    try:
        yield test_pbx
    finally:
        await test_pbx.stop()


def sip_messages(pbx: RealPbx) -> list[tuple[str, str]]:
    """(the line naming where a message came from or went to, the message) for each SIP message Asterisk's
    `pjsip set logger on` wrote to its log."""
    found = []
    for match in re.finditer(r"<--- (Received|Transmitting) SIP (request|response) \(\d+ bytes\) (from|to) "
                             r"(\S+) --->\n(.*?)(?=\n\[|\Z)", pbx.log_text(), re.S):
        found.append((f"{match.group(1)} {match.group(4)}", match.group(5)))
    return found


def header(message: str, name: str) -> str:
    found = re.search(rf"^{name}:\s*(.+?)\s*$", message, re.M | re.I)
    return found.group(1) if found else ""


async def test_a_call_survives_a_network_change(pbx: RealPbx, events: Events, service_factory: Any,
                                                store: aioredis.Redis, tmp_path: Path,
                                                browser_network: BrowserNetwork) -> None:
    from playwright.async_api import async_playwright, expect

    network = browser_network
    service = await softphone_service(service_factory, store, pbx)
    await pbx.command("pjsip set logger on")
    # The page is served over plain HTTP from a non-loopback address: the microphone (a secure context) is allowed
    # for exactly these origins, as a TLS certificate would in production.
    trusted = f"{service.url},ws://{pbx.bind_address}:{pbx.websocket_port}"

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(network.wrapper(tmp_path, CHROMIUM)), headless=True,
            args=[*browser_args(network.host_address, trusted), fake_microphone(tmp_path)])
        console: list[str] = []
        try:
            page = await sit_down_at_the_browser(browser, pbx, service)
            page.on("console", lambda message: console.append(f"{time.time():.3f} {message.text}"))
            card = page.locator("#phone-card")
            contacts = await pbx.command("pjsip show contacts")
            assert any(f"{BROWSER}/sip:" in line and network.inner_address in line
                       for line in contacts.splitlines()), contacts

            resident = Resident(pbx, events, "+79160007001")
            await resident.joins_the_queue(handset="test-handset-tone")
            connected = await answered_with_the_keyboard(page, resident, events)
            assert await page.evaluate("energyOver(2.0)") > 0, "the operator hears nothing before the change"
            invite = next(message for where, message in sip_messages(pbx)
                          if where.startswith("Transmitting") and message.startswith("INVITE sip:"))
            call_id = header(invite, "Call-ID")
            assert call_id, invite
            registrations = int(await card.get_attribute("data-registrations") or 0)

            # The network change: link down, address gone, OUTAGE_SECONDS later up again with a new address.
            changed_at = time.time()
            await network.renumber(OUTAGE_SECONDS)
            up_at = time.time()
            page_up_at = await page.evaluate("Date.now()")
            back = await page.evaluate("([since, limit]) => audioBackAfter(since, limit)",
                                       [page_up_at, AUDIO_BACK_WITHIN * 1000])
            assert back is not None, (f"no audio reached the page within {AUDIO_BACK_WITHIN} s of the link coming "
                                      f"back; ICE: {await page.evaluate('window.__ice')}\n" + "\n".join(console))
            back_at = back / 1000
            print(f"\nnetwork change: outage start -> audio back {back_at - changed_at:.2f} s, link up -> audio "
                  f"back {back_at - up_at:.2f} s (outage {OUTAGE_SECONDS} s)")

            # The same call, still on: the page talks, the resident's line is up, the queue call not ended; and
            # there is sound in it again, not just packets.
            await expect(card).to_have_attribute("data-phase", "talking")
            assert not [m for m in events.seen if m.name == "Hangup" and m.get("Uniqueid") in
                        (resident.handset_id, resident.line_id)], "the resident's call ended"
            assert not [m for m in events.seen if m.name == "AgentComplete"], "the queue call ended"
            assert await page.evaluate("energyOver(2.0)") > 0, "the operator hears nothing after the change"
            await expect(page.locator("#sp-message")).to_have_text("Звук разговора восстановлен.", timeout=10_000)
            said = await page.evaluate("window.__said")
            assert any(text.startswith("Сеть изменилась: восстанавливаем звук разговора") for text in said), said
            assert int(await card.get_attribute("data-ice-restarts") or 0) >= 1

            # The WebSocket hung with the old address: the page gave up on it, connected again from the new
            # address and registered; then restarted ICE there with a re-INVITE in the same dialog (new
            # credentials), which Asterisk answered with new credentials of its own.
            assert int(await card.get_attribute("data-registrations") or 0) > registrations
            contacts = await pbx.command("pjsip show contacts")
            assert any(f"{BROWSER}/sip:" in line and network.inner_address in line
                       for line in contacts.splitlines()), contacts
            messages = sip_messages(pbx)
            reinvites = [(index, where, message) for index, (where, message) in enumerate(messages)
                         if where.startswith("Received") and message.startswith("INVITE sip:")
                         and header(message, "Call-ID") == call_id]
            assert reinvites, "Asterisk saw no re-INVITE of the call"
            index, where, reinvite = reinvites[-1]
            assert f"WS:{network.inner_address}:" in where, where
            cseq = header(reinvite, "CSeq")
            (answer,) = [message for where, message in messages[index:] if where.startswith("Transmitting")
                         and header(message, "Call-ID") == call_id and header(message, "CSeq") == cseq]
            assert answer.startswith("SIP/2.0 200 OK"), answer
            ufrag = lambda message: re.findall(r"^a=ice-ufrag:(\S+)", message, re.M)  # noqa: E731
            first_answer = next(message for where, message in messages if where.startswith("Received")
                                and message.startswith("SIP/2.0 200 OK") and header(message, "Call-ID") == call_id)
            assert ufrag(reinvite) and ufrag(reinvite) != ufrag(first_answer), "the browser did not restart ICE"
            assert ufrag(answer) and ufrag(answer) != ufrag(invite), "Asterisk kept its old ICE credentials"

            # The resident hangs up: Asterisk's BYE reaches the page over its new connection (the dialog follows
            # the browser), and the call ends as any other, into wrap-up.
            recording = await events.wait(
                lambda m: m.name == "MixMonitorStart" and m.get("Uniqueid") == resident.handset_id, 5, "recording")
            await resident.hang_up()
            await expect(card).to_have_attribute("data-phase", "wrapup", timeout=10_000)
            complete = await events.wait(lambda m: m.name == "AgentComplete" and m.get("Interface") ==
                                         f"Local/{BROWSER}@agents", 15, "AgentComplete")
            # Asterisk 22 leaves the caller's half out of AgentComplete when the caller's channel is already gone
            # (seen once under load: 23 headers, no Linkedid); the operator's half is linked to the same call.
            linked = complete.get("Linkedid") or complete.get("DestLinkedid")
            assert (linked, complete.get("Reason")) == (resident.handset_id, "caller"), complete.headers
            # What the resident heard from the moment audio was back: the operator's microphone again.
            offset = back_at - float(recording.get("Timestamp") or 0)
            assert offset > float(connected.get("Timestamp") or 0) - float(recording.get("Timestamp") or 0)
            heard = tmp_path / "heard-after-the-change.wav"
            await asyncio.to_thread(subprocess.run, [
                "sox", str(pbx.recordings / f"{resident.name}-heard.wav"), str(heard), "trim", f"{offset:.3f}"],
                check=True)
            assert await asyncio.to_thread(seconds_heard, str(heard)) > 1.0, \
                "the resident heard no operator after the change"

            # The same change with the phone idle (in wrap-up): the page notices by the browser's "online" alone,
            # gives up its hung WebSocket and registers again, and Asterisk has the new address as the contact.
            registrations = int(await card.get_attribute("data-registrations") or 0)
            await network.renumber(2.0)
            await expect(card).to_have_attribute("data-registrations", str(registrations + 1), timeout=10_000)
            contacts = await pbx.command("pjsip show contacts")
            assert any(f"{BROWSER}/sip:" in line and network.inner_address in line
                       for line in contacts.splitlines()), contacts
        finally:
            await browser.close()

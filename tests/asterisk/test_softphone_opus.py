"""The softphone speaking Opus to a real Asterisk 22: with an Opus translator installed (Sangoma's codec_opus, or
codec_opus_open_source built against libopus) and the operators' endpoints allowing opus first, a resident's
queue call rings the browser, the browser answers, and the browser's leg is Opus on both ends (Asterisk's
channel and the page's RTP), translated to the resident's G.711 and back; audio flows both ways; hang-up."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.asterisk.conftest import Events
from tests.asterisk.pbx import OPUS_TRANSLATORS, RealPbx, opus_translator
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
from tests.test_softphone_browser import ARGS, CHROMIUM, energy_over

pytestmark = [
    *SOFTPHONE_PAGE,
    pytest.mark.skipif(shutil.which("sox") is None, reason="sox measures what the resident hears"),
    pytest.mark.skipif(opus_translator() is None, reason=(
        f"no Opus translator in Asterisk's modules folder ({' or '.join(f'{n}.so' for n in OPUS_TRANSLATORS)}): "
        "Asterisk would pass Opus through but not translate it to the residents' G.711")),
    pytest.mark.browser_operators(BROWSER),
    pytest.mark.operator_codecs("opus,ulaw,alaw"),
]

# The page's audio RTP as getStats() reports it: each direction's codec and byte count, on the page's clock.
RTP_STATS = """async () => {
  const pc = [...window.__peers].reverse().find((p) => p.connectionState !== "closed" && p.getReceivers().length);
  const stats = pc ? await pc.getStats() : new Map();
  const found = {};
  for (const r of stats.values()) {
    if ((r.type === "inbound-rtp" || r.type === "outbound-rtp") && r.kind === "audio") {
      const codec = stats.get(r.codecId);
      found[r.type] = { mimeType: codec ? codec.mimeType : "", clockRate: codec ? codec.clockRate : 0,
                        bytes: r.type === "inbound-rtp" ? r.bytesReceived : r.bytesSent, at: r.timestamp };
    }
  }
  return found;
}"""


async def rtp_stats(page: Any) -> dict[str, dict[str, Any]]:
    return dict(await page.evaluate(RTP_STATS))


async def sent_kbps(page: Any, seconds: float = 3.0) -> float:
    """The page's outbound audio payload bitrate over the next few seconds (bytesSent, no RTP/SRTP headers)."""
    before = (await rtp_stats(page))["outbound-rtp"]
    await asyncio.sleep(seconds)
    after = (await rtp_stats(page))["outbound-rtp"]
    return (after["bytes"] - before["bytes"]) * 8 / (after["at"] - before["at"])


async def browser_channel(pbx: RealPbx) -> str:
    concise = await pbx.command("core show channels concise")
    names = [line.split("!")[0] for line in concise.splitlines() if line.startswith(f"PJSIP/{BROWSER}-")]
    assert len(names) == 1, concise
    return names[0]


async def test_a_queue_call_answered_in_opus(pbx: RealPbx, events: Events, service_factory: Any,
                                             store: aioredis.Redis, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright, expect

    translator = opus_translator()
    # Without a translator this says "No Translation Path" for every codec.
    shown = await pbx.command("core show translation paths opus")
    assert re.search(r"To ulaw:8000\s*: \(opus@48000\)->\(slin", shown), f"{translator} is not translating: {shown}"
    endpoint = await pbx.command(f"pjsip show endpoint {BROWSER}")
    assert re.search(r"allow\s*:\s*\(opus\|ulaw\|alaw\)", endpoint), endpoint

    service = await softphone_service(service_factory, store, pbx)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                   args=[*ARGS, fake_microphone(tmp_path)])
        try:
            page = await sit_down_at_the_browser(browser, pbx, service)
            card = page.locator("#phone-card")
            resident = Resident(pbx, events, "+79160007021")
            await resident.joins_the_queue(handset="test-handset-tone")
            connected = await answered_with_the_keyboard(page, resident, events)

            # Asterisk's side: the browser's channel is Opus natively, translated to and from signed linear.
            channel = await browser_channel(pbx)
            details = await pbx.command(f"core show channel {channel}")
            native = re.search(r"NativeFormats:\s*(.*)", details)
            assert native and "opus" in native.group(1) and "ulaw" not in native.group(1), details
            # Asterisk 22 says e.g. "ReadTranscode: Yes (opus@48000)->(slin@48000)".
            assert re.search(r"ReadTranscode:\s*Yes \(opus@\d+\)->\(slin", details), details
            assert re.search(r"WriteTranscode:\s*Yes \(slin@\d+\)->\(opus", details), details
            statistics = await pbx.command("pjsip show channelstats")
            assert any(channel.split("/")[1][:13] in line and "opus" in line for line in statistics.splitlines()), \
                statistics

            # The page's side: both directions of its RTP carry Opus (48 kHz).
            assert await energy_over(page, 2.0) > 0, "the operator hears nothing from Asterisk over Opus"
            stats = await rtp_stats(page)
            assert {direction: (s["mimeType"], s["clockRate"]) for direction, s in stats.items()} == {
                "inbound-rtp": ("audio/opus", 48_000), "outbound-rtp": ("audio/opus", 48_000)}, stats
            kbps = await sent_kbps(page)
            assert 6 < kbps < 60, f"the page sends {kbps:.1f} kbit/s of Opus"  # G.711 would be 64

            await page.keyboard.press("Alt+KeyX")
            await expect(card).to_have_attribute("data-phase", "wrapup", timeout=10_000)
            await events.wait(lambda m: m.name == "Hangup" and m.get("Uniqueid") == resident.handset_id, 15,
                              "the resident's line ended with the operator's hang-up")
            # The resident heard the page's microphone, decoded from Opus and encoded to G.711 by Asterisk.
            recording = await events.wait(
                lambda m: m.name == "MixMonitorStart" and m.get("Uniqueid") == resident.handset_id, 5, "recording")
            offset = float(connected.get("Timestamp") or 0) - float(recording.get("Timestamp") or 0) + 0.3
            heard = tmp_path / "heard-from-operator.wav"
            await asyncio.to_thread(subprocess.run, [
                "sox", str(pbx.recordings / f"{resident.name}-heard.wav"), str(heard), "trim", f"{offset:.3f}"],
                check=True)
            assert await asyncio.to_thread(seconds_heard, str(heard)) > 1.0, "the resident heard no operator"
        finally:
            await browser.close()
    assert not [line for line in pbx.problems() if "translate" in line.lower() or "opus" in line.lower()], \
        pbx.problems()

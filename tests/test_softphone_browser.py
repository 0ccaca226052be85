"""The dashboard's softphone in a real browser, through a real SIP server: Debian's Kamailio (WebSocket module,
registrar and proxy) between the operator's dashboard in headless Chromium (fake microphone) and a second page
playing the caller with JsSIP too. No Asterisk: tests/asterisk/ covers the real PBX."""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import struct
import time
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer

from callcenter.cases.model import Case
from callcenter.config import Settings
from callcenter.pbx.simulator import PbxSimulator, SimConfig
from callcenter.server import build_service
from callcenter.softphone.identity import sip_password
from callcenter.web.auth import ACCOUNTS
from callcenter.web.callbacks import SCHEDULER
from callcenter.web.cases import CASES
from callcenter.web.dashboard import JSSIP
from callcenter.web.hotline import PBX_LINK
from callcenter.web.softphone import STORE
from tests.conftest import REPO
from tests.kamailio.server import Kamailio, missing
from tests.netns import BrowserNetwork, browser_args
from tests.test_dashboard_browser import NoJobs, actions, log_in

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
    pytest.mark.skipif(bool(missing()), reason=missing() or "-"),
    pytest.mark.skipif(not JSSIP.is_file(), reason="JsSIP is not built: `npm ci && npm run build` (make test does it)"),
]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
        "--autoplay-policy=no-user-gesture-required"]
SECRET = "softphone-browser-test-secret"
PASSWORD = "browser test password"
SCREENSHOT = REPO / "docs" / "softphone-call.png"

# Every RTCPeerConnection the page makes and what it receives, on the page's clock, so the test can read them
# without a hook in the page's code: ICE states with their times, what the phone told the operator, the received
# audio's packets and energy (getStats has no event to await: these poll it).
PEER_TOOLS = """
(() => {
  const Original = window.RTCPeerConnection;
  window.__peers = [];
  window.__ice = [];
  window.__said = [];
  for (const name of ["online", "offline"]) window.addEventListener(name, () => window.__ice.push([Date.now(), name]));
  // Everything the phone tells the operator (#sp-message), in order.
  document.addEventListener("DOMContentLoaded", () => {
    const message = document.getElementById("sp-message");
    if (message) new MutationObserver(() => window.__said.push(message.textContent))
      .observe(message, { childList: true, characterData: true, subtree: true });
  });
  window.RTCPeerConnection = class extends Original {
    constructor(...args) {
      super(...args);
      window.__peers.push(this);
      this.addEventListener("iceconnectionstatechange",
        () => window.__ice.push([Date.now(), this.iceConnectionState]));
    }
  };
  const inbound = async () => {
    const pc = [...window.__peers].reverse().find((p) => p.connectionState !== "closed" && p.getReceivers().length);
    for (const r of pc ? (await pc.getStats()).values() : [])
      if (r.type === "inbound-rtp" && r.kind === "audio")
        return { packets: r.packetsReceived || 0, energy: r.totalAudioEnergy || 0,
                 duration: r.totalSamplesDuration || 0 };
    return { packets: 0, energy: 0, duration: 0 };
  };
  const tick = () => new Promise((resolve) => setTimeout(resolve, 50));
  window.inbound = inbound;
  // The energy received over the next `seconds` of received audio.
  window.energyOver = async (seconds) => {
    const before = await inbound();
    for (;;) {
      await tick();
      const now = await inbound();
      if (now.duration >= before.duration + seconds) return now.energy - before.energy;
    }
  };
  // When audio packets arrive again: the first moment packetsReceived grows after `since` (the page's clock).
  // null when none arrives within `limit` ms.
  window.audioBackAfter = async (since, limit) => {
    let last = (await inbound()).packets;
    while (Date.now() < since + limit) {
      await tick();
      const now = (await inbound()).packets;
      if (now > last && Date.now() > since) return Date.now();
      last = now;
    }
    return null;
  };
})();
"""
# Desktop notifications, recorded (a headless page is never hidden, nor can it show one): the test hides the
# tab by setting window.__hidden.
NOTIFICATIONS = """
(() => {
  window.__notes = [];
  window.__hidden = false;
  Object.defineProperty(document, "hidden", { get: () => window.__hidden });
  window.Notification = class {
    static permission = "granted";
    static requestPermission() { return Promise.resolve("granted"); }
    constructor(title, options) { window.__notes.push(`${title}: ${options?.body ?? ""}`); }
    addEventListener() {}
    close() {}
  };
})();
"""
# The caller's page: two JsSIP phones on Kamailio, the resident (200) and the interpreter desk (300) that takes
# the transferred call.
CALLER = """
async (cfg) => {
  const { default: JsSIP } = await import("/static/vendor/jssip.min.js");
  const phone = (ext, name) => new Promise((resolve, reject) => {
    const ua = new JsSIP.UA({ sockets: [new JsSIP.WebSocketInterface(cfg.ws)], uri: `sip:${ext}@${cfg.domain}`,
                              password: cfg.passwords[ext], display_name: name, session_timers: false });
    ua.on("registered", () => resolve(ua));
    ua.on("registrationFailed", (e) => reject(new Error(e.cause)));
    ua.start();
  });
  const media = { mediaConstraints: { audio: true, video: false }, pcConfig: { iceServers: [] } };
  window.t = { dtmf: [], holds: 0, unholds: 0, desk: [], ended: null, referred: false };
  window.caller = await phone("200", "Иван Петров");
  window.desk = await phone("300", "Сурдопереводчик");
  desk.on("newRTCSession", (e) => {
    if (e.originator !== "remote") return;
    t.desk.push(e.request.from.uri.user);
    window.deskCall = e.session;
    e.session.answer(media);
  });
  const hear = (pc) => pc.addEventListener("track", (ev) => {
    const audio = new Audio();  // a receiver with no sink is not decoded: no audio level to measure
    audio.srcObject = ev.streams[0];
    audio.play();
  });
  window.call = () => {
    const s = caller.call(`sip:101@${cfg.domain}`, { ...media,
      eventHandlers: { peerconnection: (e) => hear(e.peerconnection) },
      extraHeaders: ["X-Hotline-Caller: +74951234567", "X-Hotline-Uniqueid: 1764580000.42"] });
    window.s = s;
    t.ended = null;
    s.on("newDTMF", (e) => { if (e.originator === "remote") t.dtmf.push(e.dtmf.tone); });
    s.on("hold", (e) => { if (e.originator === "remote") t.holds += 1; });
    s.on("unhold", (e) => { if (e.originator === "remote") t.unholds += 1; });
    s.on("refer", (e) => { t.referred = true; e.accept(() => {}, media); });
    s.on("ended", (e) => { t.ended = e.originator; });
    s.on("failed", (e) => { t.ended = `failed:${e.cause}`; });
  };
}
"""


@dataclass
class Live:
    url: str
    kamailio: Kamailio
    server: TestServer
    tone: Path
    sim: PbxSimulator


def write_tone(path: Path, seconds: float = 3.0, rate: int = 48_000) -> Path:
    """Speech-like bursts for both fake microphones: 250 ms tones of changing pitch with pauses. Chromium's own
    fake device only beeps now and then, and a steady tone is what the browser's noise suppression removes."""
    def sample(i: int) -> int:
        burst, within = divmod(i, rate // 4)
        if burst % 3 == 2:
            return 0
        hz = (300, 520, 410, 650, 360)[burst % 5]
        return int(9000 * math.sin(2 * math.pi * hz * within / rate))

    frames = b"".join(struct.pack("<h", sample(i)) for i in range(int(seconds * rate)))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return path


@pytest.fixture
async def live(settings: Settings, redis: aioredis.Redis, tmp_path: Path) -> AsyncIterator[Live]:
    async with running(settings, tmp_path) as started:
        yield started


@contextlib.asynccontextmanager
async def running(settings: Settings, tmp_path: Path, host: str = "127.0.0.1") -> AsyncIterator[Live]:
    """Kamailio, the PBX simulator and the service, with Kamailio and the service on `host`."""
    kamailio = Kamailio(tmp_path / "kamailio", SECRET, ["101", "200", "300"], host=host)
    await kamailio.start()
    configured = settings.replace("softphone", websocket_url=kamailio.websocket_url, sip_domain=kamailio.domain,
                                  secret=SECRET, wrapup_seconds=60, ring_timeout_seconds=2,
                                  quick_connects=["Старший смены=100", "Сурдопереводчик=300"])
    # The PBX simulator stands in for app_queue (the queue view, QueueAdd and QueuePause); the calls themselves go
    # through Kamailio.
    sim = PbxSimulator(SimConfig(agents=0, secret="s", generate_traffic=False))
    await sim.start()
    app = build_service(configured.replace("ami", host="127.0.0.1", port=sim.port, secret="s"))
    app[SCHEDULER] = NoJobs()

    # The service's own Content-Security-Policy (web/security.py) names the configured SIP WebSocket: the
    # softphone must work under it (no inline code or style, no eval), reaching only those two origins.
    server = TestServer(app, host=host)
    await server.start_server()
    await app[ACCOUNTS].add("op1", "Оператор Один", "operator", PASSWORD, "Local/101@agents", "101")
    await app[CASES].upsert_all([Case("100200300", "Ежемесячное пособие", "Иванова А. П.", "1954-03-15",
                                      ["+74951234567"], "in_review", "2026-11-10")])
    link = app[PBX_LINK]
    await link.client.wait_until(lambda: link.resyncs >= 1, 5)
    try:
        yield Live(f"http://{host}:{server.port}/", kamailio, server, write_tone(tmp_path / "tone.wav"), sim)
    finally:
        await server.close()
        await sim.stop()
        await kamailio.stop()


async def caller_page(browser: Any, live: Live) -> Any:
    """A page of the service's origin holding the resident's (200) and the interpreter desk's (300) JsSIP phones,
    registered to Kamailio; `call()` rings operator 101."""
    resident = await (await browser.new_context()).new_page()
    await resident.add_init_script(PEER_TOOLS)
    await resident.goto(live.url + "healthz")
    await resident.evaluate(CALLER, {
        "ws": live.kamailio.websocket_url, "domain": live.kamailio.domain,
        "passwords": {ext: sip_password(SECRET, ext) for ext in ("200", "300")}})
    return resident


async def energy_over(page: Any, seconds: float) -> float:
    return float(await page.evaluate("(seconds) => energyOver(seconds)", seconds))


async def test_a_call_through_a_sip_server(live: Live) -> None:
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                   args=[*ARGS, f"--use-file-for-fake-audio-capture={live.tone}"])
        try:
            operator_context = await browser.new_context(viewport={"width": 1280, "height": 800})
            await operator_context.add_init_script(PEER_TOOLS)
            await operator_context.add_init_script(NOTIFICATIONS)
            page = await operator_context.new_page()
            console: list[str] = []
            page.on("console", lambda message: console.append(message.text))
            await log_in(page, live.url, "op1", PASSWORD)
            card = page.locator("#phone-card")
            await expect(card).to_have_attribute("data-registered", "true", timeout=10_000)
            await expect(page.locator("#sp-status")).to_have_text("готов")
            await page.click("#queue-in")
            await expect(page.locator('#members tr[data-interface="Local/101@agents"]')).to_be_visible()

            # A second tab of the same operator is told, and does not register.
            second = await operator_context.new_page()
            await second.goto(live.url)
            await expect(second.locator("#sp-message")).to_contain_text("уже открыт в другой вкладке")
            await expect(second.locator("#phone-card")).to_have_attribute("data-phase", "second_tab")
            assert await second.locator("#phone-card").get_attribute("data-registered") == "false"
            await second.close()

            await page.click("#sp-settings summary")
            await page.click("#sp-check")
            await expect(page.locator('#sp-preflight [data-check="check_ice"]')).to_have_attribute("data-ok", "true")
            await expect(page.locator('#sp-preflight [data-check="check_mic"]')).to_have_attribute("data-ok", "true")
            await expect(page.locator('#sp-preflight [data-check="check_ws"]')).to_have_attribute("data-ok", "true")
            # The check also lists the microphones (Chromium's fake one here) to choose from, after "default".
            assert await page.locator("#sp-mic option").count() >= 2
            await page.click("#sp-settings summary")

            resident = await caller_page(browser, live)

            # Ringing: the caller's name and number, the screen-pop, the tone, the tab's title.
            await resident.evaluate("call()")
            await expect(card).to_have_attribute("data-phase", "ringing", timeout=5_000)
            await expect(page.locator("#sp-caller-name")).to_have_text("Иван Петров")
            await expect(page.locator("#sp-caller-number")).to_have_text("+74951234567")
            await expect(page.locator("#sp-caller-kind")).to_have_text("Звонок из очереди")
            await expect(page.locator("#sp-cases")).to_contain_text("100200300")
            await expect(page.locator("#screen-pop")).to_contain_text("100200300")
            await expect(card).to_have_attribute("data-ring-tone", "running")
            await page.wait_for_function("() => document.title.startsWith('☎')", polling=100, timeout=3_000)
            artifacts = REPO / "tests" / "artifacts"
            artifacts.mkdir(exist_ok=True)
            await page.locator("#phone-card").screenshot(path=str(artifacts / "softphone-ringing.png"))

            # Answer by keyboard; audio flows both ways.
            await page.keyboard.press("Alt+KeyA")
            await expect(card).to_have_attribute("data-phase", "talking")
            await expect(page.locator("#sp-timer")).to_have_text(re.compile(r"00:0[1-9]"), timeout=5_000)
            assert await energy_over(page, 1.5) > 0, "the operator hears nothing"
            heard = await energy_over(resident, 1.5)
            assert heard > 0, "the caller hears nothing"
            assert not (await page.title()).startswith("☎")

            await page.set_viewport_size({"width": 1280, "height": 800})
            await page.screenshot(path=str(artifacts / "softphone-call.png"))
            # The README's picture is replaced only when asked: a test run leaves tracked files alone.
            if os.environ.get("HOTLINE_UPDATE_DOCS"):
                await page.screenshot(path=str(SCREENSHOT))
            await page.set_viewport_size({"width": 390, "height": 844})
            await page.screenshot(path=str(artifacts / "softphone-390.png"), full_page=True)
            overflow = await page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"the phone scrolls sideways by {overflow}px on a 390 px screen"
            await page.set_viewport_size({"width": 1280, "height": 800})

            # Mute: the caller's receiver gets silence; unmute: sound again.
            await page.keyboard.press("Alt+KeyM")
            await expect(page.locator("#sp-mute")).to_have_attribute("aria-pressed", "true")
            await energy_over(resident, 0.5)  # what was on its way before the mute
            muted = await energy_over(resident, 1.5)
            assert muted < heard / 100, f"muted, yet the caller hears ({muted} against {heard} before)"
            await page.keyboard.press("Alt+KeyM")
            await expect(page.locator("#sp-mute")).to_have_attribute("aria-pressed", "false")
            assert await energy_over(resident, 1.0) > 0, "unmuted, yet the caller hears nothing"

            # Hold and resume: re-INVITEs the caller sees.
            await page.keyboard.press("Alt+KeyH")
            await expect(page.locator("#sp-hold")).to_have_attribute("aria-pressed", "true")
            await expect(page.locator("#sp-status")).to_have_text("на удержании")
            await resident.wait_for_function("() => t.holds === 1", polling=100, timeout=5_000)
            await page.keyboard.press("Alt+KeyH")
            await expect(page.locator("#sp-hold")).to_have_attribute("aria-pressed", "false")
            await resident.wait_for_function("() => t.unholds === 1", polling=100, timeout=5_000)

            # DTMF from the pad.
            await page.click("#sp-keypad-box summary")
            await page.click('#sp-keypad [data-dtmf="5"]')
            await page.keyboard.press("#")  # typed, the pad open
            await resident.wait_for_function("() => t.dtmf.join('') === '5#'", polling=100, timeout=5_000)
            await expect(page.locator("#sp-dtmf-sent")).to_have_text("5#")

            # Blind transfer by keyboard to a number: the caller is sent on to the desk, the operator's leg ends.
            await page.keyboard.press("Alt+KeyT")
            await page.keyboard.type("300")
            await page.keyboard.press("Enter")
            await resident.wait_for_function("() => t.referred && t.desk.length === 1", polling=100, timeout=10_000)
            assert await resident.evaluate("t.desk") == ["200"]
            await resident.wait_for_function("() => t.ended !== null", polling=100, timeout=5_000)
            await expect(page.locator("#sp-message")).to_contain_text("Звонок переведён на 300")

            # Wrap-up: countdown, disposition and note, saved with the call.
            await expect(card).to_have_attribute("data-phase", "wrapup")
            await expect(page.locator("#sp-countdown")).to_contain_text("Осталось")
            await expect(page.locator("#my-state")).to_contain_text("Поствызывная обработка")
            assert actions(live.sim, "QueuePause")[-1]["Reason"] == "Поствызывная обработка"
            await page.select_option("#sp-disposition", "Статус дела")
            await page.fill("#sp-note", "Переведён к сурдопереводчику")
            await page.locator("#phone-card").screenshot(path=str(artifacts / "softphone-wrapup.png"))
            await page.click('#sp-wrapup button[type="submit"]')
            await expect(card).to_have_attribute("data-wrapups", "1")
            await expect(card).to_have_attribute("data-phase", "ready")
            await expect(page.locator("#my-state")).not_to_contain_text("Поствызывная обработка")
            assert actions(live.sim, "QueuePause")[-1]["Paused"] == "false"
            (wrapup,) = await live.server.app[STORE].wrapups(0, 10)
            assert (wrapup["username"], wrapup["disposition"], wrapup["note"], wrapup["caller"],
                    wrapup["queue_uniqueid"], wrapup["answered"]) == \
                ("op1", "Статус дела", "Переведён к сурдопереводчику", "+74951234567", "1764580000.42", True)
            await resident.evaluate("deskCall.terminate()")

            # The supervisor sees the wrap-up on their dashboard.
            await live.server.app[ACCOUNTS].add("boss", "Старший смены", "supervisor", PASSWORD)
            supervisor = await (await browser.new_context()).new_page()
            await supervisor.goto(live.url)
            await supervisor.fill("#username", "boss")
            await supervisor.fill("#password", PASSWORD)
            await supervisor.keyboard.press("Enter")
            row = supervisor.locator(f'#wrapups tr[data-wrapup="{wrapup["id"]}"]')
            await expect(row).to_contain_text("Переведён к сурдопереводчику")
            await expect(row).to_contain_text("Статус дела")
            await expect(row).to_contain_text("op1")
            assert await supervisor.locator("#phone-card").is_hidden(), "a supervisor without an extension has no phone"
            await supervisor.context.close()

            # Auto-answer, the operator's setting: the next call (a colleague's, while the operator is on a break)
            # is answered without a key; its wrap-up leaves the break as it was.
            await page.click("#pause")
            await expect(page.locator("#my-state")).to_contain_text("Перерыв")
            pauses = len(actions(live.sim, "QueuePause"))
            await page.click("#sp-settings summary")
            await page.check("#sp-auto-answer")
            await page.click("#sp-settings summary")
            await resident.evaluate("call()")
            await expect(card).to_have_attribute("data-phase", "talking", timeout=5_000)
            await resident.evaluate("s.terminate()")
            await expect(card).to_have_attribute("data-phase", "wrapup")
            await page.click('#sp-wrapup button[type="submit"]')
            await expect(card).to_have_attribute("data-wrapups", "2")
            assert len(actions(live.sim, "QueuePause")) == pauses, "the wrap-up touched the operator's break"
            await expect(page.locator("#my-state")).to_contain_text("Перерыв")
            await page.click("#resume")
            await expect(page.locator("#my-state")).not_to_contain_text("Перерыв")
            await page.click("#sp-settings summary")
            await page.uncheck("#sp-auto-answer")
            await page.click("#sp-settings summary")

            # The WebSocket drops (the SIP server restarts): the page says so, reconnects and registers again.
            registrations = int(await card.get_attribute("data-registrations") or 0)
            await live.kamailio.stop()
            await expect(page.locator("#sp-message")).to_contain_text("Связь с АТС потеряна", timeout=10_000)
            await live.kamailio.start()
            await expect(card).to_have_attribute("data-registrations", str(registrations + 1), timeout=20_000)
            await expect(page.locator("#sp-message")).to_contain_text("Связь с АТС восстановлена")
            await resident.evaluate("Promise.all([caller, desk].map((ua) => new Promise((resolve) => {"
                                    " if (ua.isRegistered()) resolve(); ua.once('registered', resolve); })))")

            # A caller who gives up while it rings: told, nobody paused.
            pauses = len(actions(live.sim, "QueuePause"))
            await resident.evaluate("call()")
            await expect(card).to_have_attribute("data-phase", "ringing", timeout=5_000)
            await resident.evaluate("s.terminate()")
            await expect(page.locator("#sp-message")).to_contain_text("Звонящий положил трубку")
            await expect(card).to_have_attribute("data-phase", "ready")
            assert len(actions(live.sim, "QueuePause")) == pauses
            # A call rung out unanswered (the PBX gives up after ring_timeout_seconds, here 2; the caller's page
            # plays that part with its own timer) is a missed call: the operator is paused and told, with desktop
            # notifications while the tab is hidden.
            await page.evaluate("window.__hidden = true")
            await resident.evaluate("call()")
            await expect(card).to_have_attribute("data-phase", "ringing", timeout=5_000)
            await resident.evaluate("setTimeout(() => s.terminate(), 1500)")
            await expect(page.locator("#sp-message")).to_contain_text("Пропущен звонок: Иван Петров", timeout=5_000)
            assert await page.evaluate("window.__notes") == ["Входящий звонок: Иван Петров +74951234567",
                                                             "Пропущен звонок: Иван Петров +74951234567"]
            await expect(page.locator("#sp-message")).to_contain_text("на паузе «не отвечает»")
            await expect(card).to_have_attribute("data-phase", "ready")
            await expect(page.locator("#my-state")).to_contain_text("Не отвечает")
            assert not [line for line in console if "Content Security Policy" in line], console
        finally:
            await browser.close()


async def test_a_call_survives_a_network_change(settings: Settings, redis: aioredis.Redis, tmp_path: Path,
                                                browser_network: BrowserNetwork) -> None:
    """The operator's Chromium on a network of its own (tests/netns.py); the caller's on this host's. Mid-call the
    operator's link goes down, loses its address and comes back with a new one: the page drops its hung
    WebSocket, registers again and restarts ICE with a re-INVITE through Kamailio, which the caller's JsSIP
    answers; audio flows both ways again on the same call, and the caller's hang-up still reaches the page."""
    from playwright.async_api import async_playwright, expect

    network = browser_network
    async with running(settings, tmp_path, host=network.host_address) as live, async_playwright() as playwright:
        trusted = f"{live.url.rstrip('/')},{live.kamailio.websocket_url.removesuffix('/ws')}"
        args = [*browser_args(network.host_address, trusted), f"--use-file-for-fake-audio-capture={live.tone}"]
        operator_browser = await playwright.chromium.launch(
            executable_path=str(network.wrapper(tmp_path, CHROMIUM)), headless=True, args=args)
        caller_browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            context = await operator_browser.new_context()
            await context.add_init_script(PEER_TOOLS)
            page = await context.new_page()
            await log_in(page, live.url, "op1", PASSWORD)
            card = page.locator("#phone-card")
            await expect(card).to_have_attribute("data-registered", "true", timeout=10_000)

            resident = await caller_page(caller_browser, live)
            await resident.evaluate("call()")
            await expect(card).to_have_attribute("data-phase", "ringing", timeout=5_000)
            await page.keyboard.press("Alt+KeyA")
            await expect(card).to_have_attribute("data-phase", "talking")
            assert await energy_over(page, 1.5) > 0, "the operator hears nothing"
            assert await energy_over(resident, 1.5) > 0, "the caller hears nothing"
            registrations = int(await card.get_attribute("data-registrations") or 0)

            changed_at = time.monotonic()
            await network.renumber(3.0)
            up_at = time.monotonic()
            back = await page.evaluate("([since, limit]) => audioBackAfter(since, limit)",
                                       [await page.evaluate("Date.now()"), 15_000])
            assert back is not None, f"no audio came back to the operator: ICE {await page.evaluate('window.__ice')}"
            back_at = time.monotonic()
            print(f"\nnetwork change through Kamailio: outage start -> audio back {back_at - changed_at:.2f} s, "
                  f"link up -> audio back {back_at - up_at:.2f} s")
            await expect(card).to_have_attribute("data-phase", "talking")
            assert await resident.evaluate("t.ended") is None
            assert await energy_over(page, 1.5) > 0, "the operator hears nothing after the change"
            assert await energy_over(resident, 1.5) > 0, "the caller hears nothing after the change"
            await expect(page.locator("#sp-message")).to_have_text("Звук разговора восстановлен.", timeout=10_000)
            assert int(await card.get_attribute("data-registrations") or 0) > registrations
            assert int(await card.get_attribute("data-ice-restarts") or 0) >= 1

            await resident.evaluate("s.terminate()")
            await expect(card).to_have_attribute("data-phase", "wrapup", timeout=10_000)
            await page.click('#sp-wrapup button[type="submit"]')
            await expect(card).to_have_attribute("data-phase", "ready")

            # The same change with the phone idle: nothing but the browser's "online" tells the page; it finds its
            # WebSocket hung, connects again and registers from the new address, and the next call rings it.
            registrations = int(await card.get_attribute("data-registrations") or 0)
            await network.renumber(2.0)
            await expect(card).to_have_attribute("data-registrations", str(registrations + 1), timeout=10_000)
            await resident.evaluate("call()")
            await expect(card).to_have_attribute("data-phase", "ringing", timeout=5_000)
            await page.keyboard.press("Alt+KeyX")
            await resident.wait_for_function("() => t.ended !== null", polling=100, timeout=5_000)
        finally:
            await caller_browser.close()
            await operator_browser.close()

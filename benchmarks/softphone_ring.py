"""What the softphone adds before the operator hears a ring: from the SIP server ringing the operator to the
dashboard ringing (tone started, caller shown).

    python benchmarks/softphone_ring.py [--calls 50] [--pbx kamailio|asterisk]

kamailio: Kamailio (Debian's, WebSocket module; tests/kamailio/kamailio.cfg) is the SIP server and a second page
with JsSIP the caller; the start is JsSIP handing the INVITE to the caller's WebSocket.
asterisk: a real Asterisk 22 (tests/asterisk/pbx.py, ASTERISK_PREFIX) rings the operator as app_queue does,
through `Local/<ext>@agents` (the dialplan's pre-dial handler adds the X-Hotline-* headers); the start is AMI's
DialBegin towards PJSIP/<ext> (its Timestamp, Asterisk's clock: the same machine).
Either way the service runs in this process on an embedded Valkey and headless Chromium plays the operator's
dashboard, which stamps the moment its phone card turns to "ringing" (after the ring tone started), with
`performance.timeOrigin + performance.now()`. Each call is then ended and the next waits until the page is
ready again. Target: p99 < 300 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp.test_utils import TestServer

from benchmarks.harness import percentile
from callcenter.config import Settings
from callcenter.softphone.identity import sip_password
from callcenter.storage import EmbeddedValkey
from callcenter.web.app import create_app
from callcenter.web.auth import ACCOUNTS
from tests.kamailio.server import Kamailio, missing
from tests.test_softphone_browser import ARGS, CHROMIUM

SECRET = "benchmark-softphone-secret"
PASSWORD = "benchmark password"
# The dashboard stamps the moment its phone card turns to "ringing".
STAMP_RINGS = """
(() => {
  window.__rings = [];
  new MutationObserver(() => {
    const card = document.getElementById("phone-card");
    if (card?.dataset.phase === "ringing" && window.__lastPhase !== "ringing")
      window.__rings.push(performance.timeOrigin + performance.now());
    window.__lastPhase = card?.dataset.phase;
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-phase"] });
})();
"""
CALLER = """
async (cfg) => {
  const { default: JsSIP } = await import("/static/vendor/jssip.min.js");
  window.sent = [];
  window.caller = await new Promise((resolve, reject) => {
    const ua = new JsSIP.UA({ sockets: [new JsSIP.WebSocketInterface(cfg.ws)], uri: `sip:200@${cfg.domain}`,
                              password: cfg.password, display_name: "Иван Петров", session_timers: false });
    ua.on("registered", () => resolve(ua));
    ua.on("registrationFailed", (e) => reject(new Error(e.cause)));
    ua.start();
  });
  window.call = () => {
    window.s = caller.call(`sip:101@${cfg.domain}`, {
      mediaConstraints: { audio: true, video: false }, pcConfig: { iceServers: [] },
      extraHeaders: ["X-Hotline-Caller: +74951234567"],
      eventHandlers: { sending: () => window.sent.push(performance.timeOrigin + performance.now()) } });
  };
}
"""


async def operator_page(browser: Any, url: str) -> Any:
    from playwright.async_api import expect

    page = await (await browser.new_context()).new_page()
    await page.add_init_script(STAMP_RINGS)
    await page.goto(url)
    await page.fill("#username", "op1")
    await page.fill("#password", PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page.locator("#phone-card")).to_have_attribute("data-registered", "true", timeout=15_000)
    return page


async def run_asterisk(calls: int) -> list[float]:
    """Asterisk rings PJSIP/103 through the agents context; DialBegin's Timestamp to the page's ring."""
    from playwright.async_api import async_playwright, expect

    from callcenter.pbx.protocol import Message
    from tests.asterisk.pbx import RealPbx, free_port

    with tempfile.TemporaryDirectory(prefix="softphone-bench-") as folder:
        root = Path(folder)
        (root / "sounds").mkdir()
        store = EmbeddedValkey(str(root / "valkey"))
        redis_url = store.start()
        pbx = RealPbx(root / "asterisk", root / "sounds", http_port=free_port(), websocket_port=free_port(),
                      browser_operators=("103",))
        await pbx.start()
        dial_begins: list[float] = []

        def on_event(message: Message) -> None:
            if message.name == "DialBegin" and (message.get("DestChannel") or "").startswith("PJSIP/103-"):
                dial_begins.append(float(message.get("Timestamp") or 0) * 1000)

        assert pbx.ami is not None
        pbx.ami.on_event(on_event)
        settings = Settings().replace("redis", url=redis_url).replace(
            "softphone", websocket_url=f"ws://127.0.0.1:{pbx.websocket_port}/ws", sip_domain="127.0.0.1",
            secret=pbx.softphone_secret)
        server = TestServer(create_app(settings, redis_url=redis_url), host="127.0.0.1")
        await server.start_server()
        await server.app[ACCOUNTS].add("op1", "Оператор", "operator", PASSWORD, "Local/103@agents", "103")
        try:
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
                page = await operator_page(browser, f"http://127.0.0.1:{server.port}/")
                delays = []
                for number in range(calls):
                    response = await pbx.action("Originate", [
                        ("Channel", "Local/103@agents"), ("Application", "Wait"), ("Data", "30"),
                        ("CallerID", '"Иван Петров" <+74951234567>'), ("Async", "true")])
                    assert response.get("Response") == "Success", response
                    await page.wait_for_function(f"() => window.__rings.length > {number}", polling="raf")
                    await page.keyboard.press("Alt+KeyX")  # reject: Dial ends, the Local channel with it
                    await expect(page.locator("#phone-card")).to_have_attribute("data-phase", "ready")
                    rang = await page.evaluate(f"window.__rings[{number}]")
                    delays.append(rang - dial_begins[number])
                await browser.close()
        finally:
            await server.close()
            await pbx.stop()
            store.stop()
    return delays


async def run(calls: int) -> list[float]:
    from playwright.async_api import async_playwright, expect

    with tempfile.TemporaryDirectory(prefix="softphone-bench-") as folder:
        root = Path(folder)
        store = EmbeddedValkey(str(root / "valkey"))
        redis_url = store.start()
        kamailio = Kamailio(root / "kamailio", SECRET, ["101", "200"])
        await kamailio.start()
        settings = Settings().replace("redis", url=redis_url).replace(
            "softphone", websocket_url=kamailio.websocket_url, sip_domain=kamailio.domain, secret=SECRET)
        server = TestServer(create_app(settings, redis_url=redis_url), host="127.0.0.1")
        await server.start_server()
        await server.app[ACCOUNTS].add("op1", "Оператор", "operator", PASSWORD, "Local/101@agents", "101")
        url = f"http://127.0.0.1:{server.port}/"
        try:
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
                operator = await operator_page(browser, url)
                card = operator.locator("#phone-card")
                caller = await (await browser.new_context()).new_page()
                await caller.goto(url + "healthz")
                await caller.evaluate(CALLER, {"ws": kamailio.websocket_url, "domain": kamailio.domain,
                                               "password": sip_password(SECRET, "200")})
                delays = []
                for number in range(calls):
                    await caller.evaluate("call()")
                    await operator.wait_for_function(f"() => window.__rings.length > {number}", polling="raf")
                    await caller.evaluate("s.terminate()")
                    await expect(card).to_have_attribute("data-phase", "ready")
                    sent = await caller.evaluate(f"window.sent[{number}]")
                    rang = await operator.evaluate(f"window.__rings[{number}]")
                    delays.append(rang - sent)
                await browser.close()
        finally:
            await server.close()
            await kamailio.stop()
            store.stop()
    return delays


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--pbx", choices=["kamailio", "asterisk"], default="kamailio")
    args = parser.parse_args()
    if args.pbx == "asterisk":
        from tests.asterisk.pbx import missing_reason

        reason = missing_reason() or ("" if Path(CHROMIUM).exists() else "chromium is not installed")
    else:
        reason = missing() or ("" if Path(CHROMIUM).exists() else "chromium is not installed")
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    delays = asyncio.run(run_asterisk(args.calls) if args.pbx == "asterisk" else run(args.calls))
    p50, p99 = percentile(delays, 0.5), percentile(delays, 0.99)
    start = "Asterisk's DialBegin" if args.pbx == "asterisk" else "INVITE sent through Kamailio"
    print(f"{start} -> dashboard ringing, {len(delays)} calls: "
          f"median {statistics.median(delays):.1f} ms, p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(delays):.1f} ms "
          f"(target p99 < 300 ms: {'met' if p99 < 300 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

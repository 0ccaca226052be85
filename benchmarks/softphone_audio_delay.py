"""The audio delay Asterisk adds to the softphone's calls, against a direct WebRTC call between the same browsers.

    python benchmarks/softphone_audio_delay.py [--seconds 12]

Two pages in headless Chromium, each a JsSIP phone: the talker's microphone is a WebAudio source that plays a
50 ms burst every 500 ms; the listener detects each burst's onset in what it receives (a ScriptProcessor of 256
samples on the remote stream). Both stamp with `performance.timeOrigin + performance.now()` (one machine, one
clock), so a burst's delay is detection minus emission; the figure is the median over the bursts after the first
two seconds. Both calls are G.711 u-law (the talker's offer is limited to PCMU), so the codec is the same:
- direct: Kamailio (tests/kamailio/) carries the SIP only; the media flows from browser to browser;
- through Asterisk: a real Asterisk 22 (tests/asterisk/pbx.py, ASTERISK_PREFIX) with both as webrtc = yes
  operators (103 calls 104 through the [operators] context): DTLS-SRTP terminates in Asterisk on each leg.
The difference is what Asterisk adds. Absolute figures include the browsers' own capture and jitter buffers.
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

from aiohttp import web
from aiohttp.test_utils import TestServer

from callcenter.softphone.identity import sip_password
from callcenter.web.dashboard import JSSIP, STATIC
from tests.kamailio.server import Kamailio, missing
from tests.test_softphone_browser import ARGS, CHROMIUM

BURST_EVERY = 0.5
# The talker's microphone: bursts on a known schedule. Offers are limited to PCMU before JsSIP creates them.
TALKER = """
(() => {
  window.emitted = [];
  const clock = () => performance.timeOrigin + performance.now();
  navigator.mediaDevices.getUserMedia = async () => {
    const ctx = new AudioContext();
    const osc = ctx.createOscillator();
    osc.frequency.value = 700;
    const gain = ctx.createGain();
    gain.gain.value = 0;
    const out = ctx.createMediaStreamDestination();
    osc.connect(gain).connect(out);
    osc.start();
    const schedule = () => {
      const at = ctx.currentTime + 0.1;
      gain.gain.setValueAtTime(0.6, at);
      gain.gain.setValueAtTime(0, at + 0.05);
      window.emitted.push(clock() + (at - ctx.currentTime) * 1000);
    };
    setInterval(schedule, BURST_EVERY_MS);
    return out.stream;
  };
  const createOffer = RTCPeerConnection.prototype.createOffer;
  RTCPeerConnection.prototype.createOffer = function (...args) {
    const pcmu = RTCRtpReceiver.getCapabilities("audio").codecs.filter((c) => c.mimeType === "audio/PCMU");
    for (const t of this.getTransceivers()) if (t.receiver.track.kind === "audio") t.setCodecPreferences(pcmu);
    return createOffer.apply(this, args);
  };
})();
""".replace("BURST_EVERY_MS", str(int(BURST_EVERY * 1000)))
# The listener: answers, and stamps each burst's onset in the received audio.
LISTENER = """
(() => {
  window.detected = [];
  const clock = () => performance.timeOrigin + performance.now();
  window.listen = (stream) => {
    const sink = new Audio();  // Chrome gives WebAudio a remote stream's samples only while it plays somewhere
    sink.muted = true;
    sink.srcObject = stream;
    sink.play();
    const ctx = new AudioContext();
    const processor = ctx.createScriptProcessor(256, 1, 1);
    let loud = false;
    processor.onaudioprocess = (e) => {
      const samples = e.inputBuffer.getChannelData(0);
      let peak = 0;
      for (const v of samples) peak = Math.max(peak, Math.abs(v));
      if (peak > 0.1 && !loud) window.detected.push(clock() - (samples.length / ctx.sampleRate) * 1000);
      loud = peak > 0.05;
    };
    ctx.createMediaStreamSource(stream).connect(processor).connect(ctx.destination);
  };
})();
"""
# The listener's receiver: the codec, and the jitter buffer's mean delay (the browser's own share of the delay).
RECEIVER_STATS = """
async () => {
  const stats = await window.answered.connection.getStats();
  const codecs = new Map([...stats.values()].filter((r) => r.type === "codec").map((r) => [r.id, r.mimeType]));
  for (const r of stats.values())
    if (r.type === "inbound-rtp" && r.kind === "audio")
      return { codec: codecs.get(r.codecId),
               jitter_buffer_ms: Math.round(1000 * r.jitterBufferDelay / Math.max(1, r.jitterBufferEmittedCount)) };
  return null;
}
"""
PHONE = """
async (cfg) => {
  const { default: JsSIP } = await import("/static/vendor/jssip.min.js");
  window.ua = await new Promise((resolve, reject) => {
    const ua = new JsSIP.UA({ sockets: [new JsSIP.WebSocketInterface(cfg.ws)], uri: `sip:${cfg.ext}@${cfg.domain}`,
                              password: cfg.password, session_timers: false });
    ua.on("registered", () => resolve(ua));
    ua.on("registrationFailed", (e) => reject(new Error(e.cause)));
    ua.start();
  });
  const media = { mediaConstraints: { audio: true, video: false }, pcConfig: { iceServers: [] } };
  ua.on("newRTCSession", (e) => {
    if (e.originator !== "remote") return;
    e.session.on("peerconnection", (p) => p.peerconnection.addEventListener("track", (t) => listen(t.streams[0])));
    window.answered = e.session;
    e.session.answer(media);
  });
  window.call = (target) => new Promise((resolve, reject) => {
    const s = ua.call(`sip:${target}@${cfg.domain}`, { ...media,
      eventHandlers: { confirmed: () => resolve(), failed: (e) => reject(new Error(e.cause)) } });
    window.s = s;
  });
}
"""


async def page_server() -> TestServer:
    """Only the JsSIP module and a blank page: the pages need a same-origin module, nothing of the service."""
    app = web.Application()

    async def blank(request: web.Request) -> web.Response:
        return web.Response(text="<!doctype html><title>phone</title>", content_type="text/html")

    app.router.add_get("/", blank)
    app.router.add_static("/static", STATIC)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


Result = tuple[list[float], dict[str, Any]]


async def measure(ws: str, domain: str, passwords: dict[str, str], seconds: float) -> Result:
    from playwright.async_api import async_playwright

    server = await page_server()
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            talker = await (await browser.new_context()).new_page()
            await talker.add_init_script(TALKER)
            listener = await (await browser.new_context()).new_page()
            await listener.add_init_script(LISTENER)
            for page, ext in ((talker, "103"), (listener, "104")):
                await page.goto(f"http://127.0.0.1:{server.port}/")
                await page.evaluate(PHONE, {"ws": ws, "domain": domain, "ext": ext, "password": passwords[ext]})
            await talker.evaluate("call('104')")
            await listener.wait_for_timeout(seconds * 1000)  # the measurement's own duration, not a wait for an event
            stats = await listener.evaluate(RECEIVER_STATS)
            emitted: list[float] = await talker.evaluate("window.emitted")
            detected: list[float] = await listener.evaluate("window.detected")
            await browser.close()
    finally:
        await server.close()
    start = emitted[0] + 2000 if emitted else 0
    delays = []
    for onset in detected:
        before = [e for e in emitted if e <= onset and e >= start]
        if before and onset - before[-1] < BURST_EVERY * 1000:
            delays.append(onset - before[-1])
    return delays, stats


async def direct(seconds: float) -> Result:
    with tempfile.TemporaryDirectory(prefix="audio-delay-") as folder:
        secret = "audio-delay-benchmark"
        kamailio = Kamailio(Path(folder), secret, ["103", "104"])
        await kamailio.start()
        try:
            return await measure(kamailio.websocket_url, kamailio.domain,
                                 {ext: sip_password(secret, ext) for ext in ("103", "104")}, seconds)
        finally:
            await kamailio.stop()


async def through_asterisk(seconds: float) -> Result:
    from tests.asterisk.pbx import RealPbx, free_port

    with tempfile.TemporaryDirectory(prefix="audio-delay-") as folder:
        root = Path(folder)
        (root / "sounds").mkdir()
        pbx = RealPbx(root / "asterisk", root / "sounds", http_port=free_port(), websocket_port=free_port(),
                      browser_operators=("103", "104"))
        await pbx.start()
        try:
            return await measure(f"ws://127.0.0.1:{pbx.websocket_port}/ws", "127.0.0.1",
                                 {ext: sip_password(pbx.softphone_secret, ext) for ext in ("103", "104")}, seconds)
        finally:
            await pbx.stop()


def net(result: Result) -> float:
    """The median delay without the listener's jitter buffer, which Chrome sizes anew on every call."""
    delays, stats = result
    return statistics.median(delays) - float(stats["jitter_buffer_ms"])


def describe(name: str, result: Result) -> str:
    delays, stats = result
    if not delays:
        return f"{name}: no burst detected"
    return (f"{name}: median {statistics.median(delays):.1f} ms over {len(delays)} bursts "
            f"(min {min(delays):.1f}, max {max(delays):.1f}); {stats['codec']}, jitter buffer "
            f"{stats['jitter_buffer_ms']} ms; without it {net(result):.1f} ms")


def main(argv: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=12.0)
    args = parser.parse_args(argv)
    from tests.asterisk.pbx import missing_reason

    reason = missing() or missing_reason() or ("" if Path(CHROMIUM).exists() else "chromium is not installed")
    if reason or not JSSIP.is_file():
        print(f"cannot run: {reason or 'JsSIP is not built (npm ci && npm run build)'}", file=sys.stderr)
        return 2
    plain = asyncio.run(direct(args.seconds))
    relayed = asyncio.run(through_asterisk(args.seconds))
    print(describe("direct (Kamailio, media browser to browser)", plain))
    print(describe("through Asterisk (both legs DTLS-SRTP, G.711)", relayed))
    if plain[0] and relayed[0]:
        print(f"Asterisk adds {net(relayed) - net(plain):.1f} ms (jitter buffers left out; "
              f"{statistics.median(relayed[0]) - statistics.median(plain[0]):.1f} ms with them)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

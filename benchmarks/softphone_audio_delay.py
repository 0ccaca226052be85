"""The audio delay Asterisk adds to the softphone's calls, against a direct WebRTC call between the same browsers.

    python benchmarks/softphone_audio_delay.py [--pairs 5] [--seconds 6] [--jitter-target 120]

Two pages in headless Chromium, each a JsSIP phone: the talker's microphone is a WebAudio source that plays a
50 ms burst of 700 Hz every 400 ms. Both calls are G.711 u-law (the talker's offer is limited to PCMU):
- direct: Kamailio (tests/kamailio/) carries the SIP only; the media flows from browser to browser (the peer);
- through Asterisk: a real Asterisk 22 (tests/asterisk/pbx.py, ASTERISK_PREFIX) with both as webrtc = yes
  operators (103 calls 104 through the [operators] context): DTLS-SRTP terminates in Asterisk on each leg.

Each burst is timed twice, on one clock (`performance.timeOrigin` + `now()`, one machine):
- end to end, what the listener hears: an AudioWorklet finds the first sample over 0.1 (to 1/48000 s, where a
  256-sample ScriptProcessor block was 5.3 ms and ran late on a busy main thread); each AudioContext's time is
  put on the shared clock with getOutputTimestamp(). This includes both browsers' capture and playout, and the
  listener's jitter buffer;
- frame level, the path between the browsers: a worker on the encoded frames (encoded insertable streams) stamps
  the burst's first loud G.711 frame after the talker's encoder and as it arrives at the listener's receiver,
  before the jitter buffer (the worker's clock is 0.1 ms coarse). The difference of the two paths here is
  Asterisk's relay: SRTP in, the bridge, SRTP out.

Chrome sizes its adaptive jitter buffer anew on every call (20-155 ms seen here), which made the first version of
this benchmark swing by tens of ms between runs. The listener's receiver now gets `jitterBufferTarget`
(--jitter-target, ms; negative leaves Chrome alone) on both paths: in Chrome it is a floor for NetEq's target, so
it pins the buffer only when set above what NetEq picks by itself (0 pins nothing); getStats over the measured
window (jitterBufferDelay / jitterBufferEmittedCount, and jitterBufferTargetDelay) shows what it held. Even
pinned, a burst's delay jumps by 10 ms steps within a call (NetEq plays out 10 ms at a time) and per-call medians
spread over ~15 ms: the end-to-end figure bounds Asterisk's share, the frame-level one measures it. Calls
alternate (direct, Asterisk, direct, ...) with both servers up throughout, so a change of load on this shared
machine hits both; the results are per-call medians after a 2 s warm-up, the median of the paired differences
and their spread. Asterisk's own view of each leg (`pjsip show channelstats`: RTCP round trip, jitter, loss) and
its bridge technology print beside its calls.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import web
from aiohttp.test_utils import TestServer

from callcenter.softphone.identity import sip_password
from callcenter.web.dashboard import JSSIP, STATIC
from tests.kamailio.server import Kamailio, missing
from tests.test_softphone_browser import ARGS, CHROMIUM

if TYPE_CHECKING:
    from playwright.async_api import Browser

    from tests.asterisk.pbx import RealPbx

BURST_EVERY = 0.4  # s; the longest delay that can be matched to its burst, and 15 bursts in 6 s
WARM_UP = 2.0  # s: ICE, DTLS and the jitter buffer's first adaptation are not part of the figure
# AudioWorklet's render quantum is 128 samples, but the onset is the sample itself: the resolution is 1/48 kHz.
SAMPLE_RATE = 48000
# The talker's microphone: bursts on a known schedule. Offers are limited to PCMU before JsSIP creates them.
TALKER = """
(() => {
  window.emitted = [];
  navigator.mediaDevices.getUserMedia = async () => {
    const ctx = new AudioContext({ sampleRate: SAMPLE_RATE });
    const osc = ctx.createOscillator();
    osc.frequency.value = 700;
    const gain = ctx.createGain();
    gain.gain.value = 0;
    const out = ctx.createMediaStreamDestination();
    osc.connect(gain).connect(out);
    osc.start();
    const schedule = () => {
      const at = ctx.currentTime + 0.1;
      gain.gain.setValueAtTime(0.6, at);  // sample-exact in the context's time
      gain.gain.setValueAtTime(0, at + 0.05);
      // The context's time on the shared clock: the pair comes from the audio thread, not from when this runs.
      const ts = ctx.getOutputTimestamp();
      if (ts.performanceTime > 0)  // 0 until the context has rendered
        window.emitted.push(performance.timeOrigin + ts.performanceTime + (at - ts.contextTime) * 1000);
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
""".replace("BURST_EVERY_MS", str(int(BURST_EVERY * 1000))).replace("SAMPLE_RATE", str(SAMPLE_RATE))
# The listener: pins its receiver's jitter buffer, answers, and stamps each burst's onset in the received audio.
LISTENER = """
(() => {
  window.detected = [];
  window.listening = false;
  // Runs on the audio thread: the onset is the first sample over 0.1 after 10 ms under 0.05 (a 700 Hz tone
  // crosses zero every 0.7 ms, never for 10 ms inside a burst).
  const WORKLET = `
    class Onset extends AudioWorkletProcessor {
      constructor() { super(); this.loud = false; this.quiet = 0; }
      process(inputs) {
        const samples = inputs[0][0];
        if (!samples) return true;
        for (let i = 0; i < samples.length; i++) {
          const v = Math.abs(samples[i]);
          if (!this.loud && v > 0.1) { this.loud = true; this.port.postMessage(currentTime + i / sampleRate); }
          if (v > 0.05) this.quiet = 0; else if (++this.quiet > sampleRate / 100) this.loud = false;
        }
        return true;
      }
    }
    registerProcessor("onset", Onset);`;
  // jitterBufferTarget (Chrome >= 114, ms) or the older playoutDelayHint (s): null leaves Chrome's own choice.
  window.pin = (receiver) => {
    if (window.jitterTarget === null) return "none (browser default)";
    if ("jitterBufferTarget" in receiver) {
      receiver.jitterBufferTarget = window.jitterTarget;
      return "jitterBufferTarget";
    }
    if ("playoutDelayHint" in receiver) {
      receiver.playoutDelayHint = window.jitterTarget / 1000;
      return "playoutDelayHint";
    }
    return "unsupported";
  };
  window.listen = async (stream) => {
    const sink = new Audio();  // Chrome gives WebAudio a remote stream's samples only while it plays somewhere
    sink.muted = true;
    sink.srcObject = stream;
    sink.play();
    const ctx = new AudioContext({ sampleRate: SAMPLE_RATE });
    await ctx.audioWorklet.addModule(URL.createObjectURL(new Blob([WORKLET], { type: "text/javascript" })));
    const onset = new AudioWorkletNode(ctx, "onset");
    onset.port.onmessage = (e) => {
      const ts = ctx.getOutputTimestamp();
      window.detected.push(performance.timeOrigin + ts.performanceTime + (e.data - ts.contextTime) * 1000);
    };
    ctx.createMediaStreamSource(stream).connect(onset).connect(ctx.destination);
    window.listening = true;
  };
})();
""".replace("SAMPLE_RATE", str(SAMPLE_RATE))
# The listener's receiver: its codec, the jitter buffer's counters (cumulative; the window is the difference of
# two readings) and what the receiver says its target is.
RECEIVER_STATS = """
async () => {
  const pc = window.answered.connection;
  const stats = await pc.getStats();
  const codecs = new Map([...stats.values()].filter((r) => r.type === "codec").map((r) => [r.id, r.mimeType]));
  const receiver = pc.getReceivers().find((r) => r.track.kind === "audio");
  for (const r of stats.values())
    if (r.type === "inbound-rtp" && r.kind === "audio")
      return { codec: codecs.get(r.codecId), delay: r.jitterBufferDelay, target: r.jitterBufferTargetDelay ?? null,
               minimum: r.jitterBufferMinimumDelay ?? null, emitted: r.jitterBufferEmittedCount,
               pinned_with: window.pinnedWith, receiver_target: receiver ? receiver.jitterBufferTarget ?? null : null,
               clock: performance.timeOrigin + performance.now() };
  return null;
}
"""
# The talker's view of its leg: RTCP round trip (to the listener, or to Asterisk on the relayed path).
TALKER_RTT = """
async () => {
  for (const r of (await window.s.connection.getStats()).values())
    if (r.type === "remote-inbound-rtp" && r.kind === "audio" && r.roundTripTime !== undefined)
      return r.roundTripTime * 1000;
  return null;
}
"""
# Both pages: the same burst onsets at the packet level, in a worker the encoded frames pass through (encoded
# insertable streams: after the talker's encoder, before its packetizer; on the listener's receiver as the packets
# arrive, before the jitter buffer). Send to arrival is the path between the browsers, with Asterisk's relay on the
# one path, and none of the playout side's 10 ms steps. G.711 frames are 20 ms on both legs (no transcoding, no
# repacketizing), so the burst's first loud frame is the same 20 ms of audio at both ends. Chrome 156's
# RTCRtpScriptTransform fired its event here but passed no frame, hence the older createEncodedStreams().
STAMPER = """
(() => {
  const WORKER = `
    const ulaw = (b) => { b = ~b & 0xff; const e = (b >> 4) & 7; return (((b & 0x0f) << 3) + 0x84 << e) - 0x84; };
    onmessage = ({ data: { readable, writable, stamp } }) => {
      let loud = false;
      readable.pipeThrough(new TransformStream({ transform(frame, out) {
        if (stamp) {
          let peak = 0;
          for (const b of new Uint8Array(frame.data)) peak = Math.max(peak, ulaw(b));
          // The same thresholds as the AudioWorklet: 0.1 and 0.05 of full scale (32768).
          if (peak > 3277 && !loud) { loud = true; postMessage(performance.timeOrigin + performance.now()); }
          else if (peak < 1638) loud = false;
        }
        out.enqueue(frame);
      } })).pipeTo(writable);
    };`;
  window.frames = [];
  const worker = new Worker(URL.createObjectURL(new Blob([WORKER], { type: "text/javascript" })));
  worker.onmessage = (e) => window.frames.push(e.data);
  // With encodedInsertableStreams every sender and receiver must hand its frames on, or they stop: all pass
  // through the worker; only the talker's sender and the listener's receiver are stamped.
  const through = (side, stamp) => {
    const { readable, writable } = side.createEncodedStreams();
    worker.postMessage({ readable, writable, stamp }, [readable, writable]);
  };
  const Native = RTCPeerConnection;
  window.RTCPeerConnection = function (config, ...rest) {
    const pc = new Native({ ...config, encodedInsertableStreams: true }, ...rest);
    pc.addEventListener("track", (e) => through(e.receiver, window.stampSide === "receiver"));
    return pc;
  };
  window.RTCPeerConnection.prototype = Native.prototype;
  const addTrack = Native.prototype.addTrack;
  Native.prototype.addTrack = function (...args) {
    const sender = addTrack.apply(this, args);
    through(sender, window.stampSide === "sender");
    return sender;
  };
})();
"""
PHONE = """
async (cfg) => {
  const { default: JsSIP } = await import("/static/vendor/jssip.min.js");
  window.jitterTarget = cfg.jitterTarget;
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
    e.session.on("peerconnection", (p) => p.peerconnection.addEventListener("track", (t) => {
      window.pinnedWith = pin(t.receiver);
      listen(t.streams[0]);
    }));
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
# Unregisters before the page goes, so the next call's page is the only contact (Kamailio would fork to both).
GOODBYE = """
() => new Promise((resolve) => {
  if (window.s && !window.s.isEnded()) window.s.terminate();
  window.ua.on("unregistered", () => resolve());
  window.ua.stop();
  setTimeout(resolve, 1000);
})
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


@dataclass
class Endpoint:
    """Where both phones register for one path."""

    path: str
    ws: str
    domain: str
    passwords: dict[str, str]
    pbx: RealPbx | None = None


@dataclass
class Call:
    path: str
    delays: list[float]
    codec: str
    pinned_with: str
    receiver_target: float | None
    jitter_buffer_ms: float  # mean over the measured window
    target_ms: float | None  # NetEq's target over the window, when Chrome reports it
    minimum_ms: float | None
    talker_rtt_ms: float | None
    transport: list[float]  # the bursts' first frames, the talker's encoder to the listener's receiver
    asterisk: list[str] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.delays)

    @property
    def transport_median(self) -> float:
        return statistics.median(self.transport) if self.transport else float("nan")


def window_mean(before: dict[str, Any], after: dict[str, Any], key: str) -> float | None:
    """A cumulative getStats counter's mean per emitted sample between two readings, in ms."""
    if after.get(key) is None or before.get(key) is None:
        return None
    count = after["emitted"] - before["emitted"]
    return 1000 * (after[key] - before[key]) / count if count > 0 else None


def match(emitted: list[float], detected: list[float], start: float, end: float) -> list[float]:
    """Each burst emitted in the window against the first onset after it, if within one burst period."""
    delays = []
    for at in emitted:
        if not start <= at <= end - BURST_EVERY * 1000:
            continue
        onsets = [onset for onset in detected if at <= onset < at + BURST_EVERY * 1000]
        if onsets:
            delays.append(onsets[0] - at)
    return delays


async def asterisk_view(pbx: RealPbx) -> list[str]:
    """Asterisk's per-leg RTCP figures and its bridge's technology (simple_bridge relays decoded frames,
    native_rtp forwards packets), for the output beside the Asterisk calls."""
    lines = []
    stats = await pbx.command("pjsip show channelstats")
    for line in stats.splitlines():
        # BridgeId ChannelId UpTime Codec, then received and sent: Count Lost Pct Jitter (s), then RTT (s).
        fields = line.split()
        if len(fields) == 13 and re.fullmatch(r"10[34]-[0-9a-f]{8}", fields[1]):
            rx, rx_lost, _, rx_jitter, tx, tx_lost, _, tx_jitter, rtt = fields[4:]
            lines.append(f"Asterisk's leg {fields[1]} ({fields[3]}): RTCP RTT {1000 * float(rtt):.1f} ms, "
                         f"jitter in {1000 * float(rx_jitter):.1f} / out {1000 * float(tx_jitter):.1f} ms, "
                         f"packets in {rx} (lost {rx_lost}) / out {tx} (lost {tx_lost})")
        elif re.search(r"\b10[34]-[0-9a-f]{8}", line):
            lines.append("channelstats: " + " ".join(fields))
    bridges = await pbx.command("bridge show all")
    for line in bridges.splitlines():
        if re.match(r"\s*[0-9a-f]{8}-", line):
            lines.append("Asterisk's bridge: " + " ".join(line.split()))
    return lines


async def one_call(browser: Browser, origin: str, endpoint: Endpoint, seconds: float,
                   jitter_target: float | None) -> Call:
    contexts = [await browser.new_context(), await browser.new_context()]
    try:
        talker, listener = [await context.new_page() for context in contexts]
        for page, script, side in ((talker, TALKER, "sender"), (listener, LISTENER, "receiver")):
            await page.add_init_script(script)
            await page.add_init_script(f"window.stampSide = '{side}';" + STAMPER)
        for page, ext in ((talker, "103"), (listener, "104")):
            await page.goto(origin)
            await page.evaluate(PHONE, {"ws": endpoint.ws, "domain": endpoint.domain, "ext": ext,
                                        "password": endpoint.passwords[ext], "jitterTarget": jitter_target})
        await talker.evaluate("call('104')")
        await listener.wait_for_function("window.listening")
        await listener.wait_for_timeout(WARM_UP * 1000)  # a fixed warm-up by design, not a wait for an event
        before = await listener.evaluate(RECEIVER_STATS)
        await listener.wait_for_timeout(seconds * 1000)  # the measurement's own duration
        after = await listener.evaluate(RECEIVER_STATS)
        rtt = await talker.evaluate(TALKER_RTT)
        view = await asterisk_view(endpoint.pbx) if endpoint.pbx is not None else []
        emitted: list[float] = await talker.evaluate("window.emitted")
        detected: list[float] = await listener.evaluate("window.detected")
        sent: list[float] = await talker.evaluate("window.frames")
        arrived: list[float] = await listener.evaluate("window.frames")
        for page in (talker, listener):
            await page.evaluate(GOODBYE)
    finally:
        for context in contexts:
            await context.close()
    jitter = window_mean(before, after, "delay")
    return Call(endpoint.path, match(emitted, detected, before["clock"], after["clock"]), str(after["codec"]),
                str(after["pinned_with"]), after["receiver_target"], jitter if jitter is not None else float("nan"),
                window_mean(before, after, "target"), window_mean(before, after, "minimum"), rtt,
                match(sent, arrived, before["clock"], after["clock"]), view)


def describe(index: int, call: Call) -> str:
    if not call.delays:
        return f"{index:2d} {call.path:8s} no burst detected"
    target = f", NetEq target {call.target_ms:.0f}" if call.target_ms is not None else ""
    rtt = f"; talker's RTCP RTT {call.talker_rtt_ms:.1f} ms" if call.talker_rtt_ms is not None else ""
    frames = (f"; frames sent to arrived: median {call.transport_median:.2f} ms (min {min(call.transport):.2f}, "
              f"max {max(call.transport):.2f})" if call.transport else "; frames not stamped")
    return (f"{index:2d} {call.path:8s} median {call.median:6.1f} ms over {len(call.delays):2d} bursts "
            f"(min {min(call.delays):.1f}, max {max(call.delays):.1f}); {call.codec}; jitter buffer "
            f"{call.jitter_buffer_ms:.1f} ms in the window{target} ({call.pinned_with}"
            f" = {call.receiver_target}){rtt}{frames}")


def spread(values: list[float]) -> str:
    if len(values) < 4:
        return f"min {min(values):+.2f}, max {max(values):+.2f}"
    q1, _, q3 = statistics.quantiles(values, n=4)
    return f"min {min(values):+.2f}, max {max(values):+.2f}, IQR {q1:+.2f} to {q3:+.2f}"


def summary(calls: list[Call]) -> list[str]:
    direct = [c for c in calls if c.path == "direct"]
    relayed = [c for c in calls if c.path == "asterisk"]
    pairs = [(d, r) for d, r in zip(direct, relayed, strict=False) if d.delays and r.delays]
    if not pairs:
        return ["no complete pair: nothing to compare"]
    diffs = [r.median - d.median for d, r in pairs]
    framed = [(d, r) for d, r in pairs if d.transport and r.transport]
    relay = [r.transport_median - d.transport_median for d, r in framed]
    net = [(r.median - r.jitter_buffer_ms) - (d.median - d.jitter_buffer_ms) for d, r in pairs]
    buffers = [c.jitter_buffer_ms for c in calls if c.delays]
    return [
        f"per-call medians, direct:   {' '.join(f'{d.median:.1f}' for d, _ in pairs)} ms "
        f"-> median {statistics.median(d.median for d, _ in pairs):.1f} ms (the peer)",
        f"per-call medians, Asterisk: {' '.join(f'{r.median:.1f}' for _, r in pairs)} ms "
        f"-> median {statistics.median(r.median for _, r in pairs):.1f} ms",
        f"paired differences (Asterisk - direct): {' '.join(f'{x:+.1f}' for x in diffs)} ms",
        f"Asterisk adds {statistics.median(diffs):+.1f} ms (median of {len(diffs)} pairs; {spread(diffs)})",
        f"the same with each call's jitter buffer taken out: {statistics.median(net):+.1f} ms ({spread(net)})",
        *([f"frames sent to arrived, direct: {' '.join(f'{d.transport_median:.2f}' for d, _ in framed)} ms; "
           f"Asterisk: {' '.join(f'{r.transport_median:.2f}' for _, r in framed)} ms",
           f"Asterisk's relay, frame level: {statistics.median(relay):+.2f} ms (median of {len(relay)} pairs; "
           f"{spread(relay)}); worker clock resolution 0.1 ms"] if relay else ["frames not stamped"]),
        f"jitter buffer in the windows: {min(buffers):.1f}-{max(buffers):.1f} ms over {len(buffers)} calls",
        f"onset resolution 1/{SAMPLE_RATE} s = {1000 / SAMPLE_RATE:.3f} ms (AudioWorklet, per sample); "
        "G.711 packets carry 20 ms",
    ]


async def run(pairs: int, seconds: float, jitter_target: float | None) -> list[Call]:
    from playwright.async_api import async_playwright

    from tests.asterisk.pbx import RealPbx, free_port

    calls: list[Call] = []
    with tempfile.TemporaryDirectory(prefix="audio-delay-") as folder:
        root = Path(folder)
        (root / "sounds").mkdir()
        secret = "audio-delay-benchmark"
        kamailio = Kamailio(root / "kamailio", secret, ["103", "104"])
        pbx = RealPbx(root / "asterisk", root / "sounds", http_port=free_port(), websocket_port=free_port(),
                      browser_operators=("103", "104"))
        server = await page_server()
        await kamailio.start()
        await pbx.start()
        try:
            endpoints = [
                Endpoint("direct", kamailio.websocket_url, kamailio.domain,
                         {ext: sip_password(secret, ext) for ext in ("103", "104")}),
                Endpoint("asterisk", f"ws://127.0.0.1:{pbx.websocket_port}/ws", "127.0.0.1",
                         {ext: sip_password(pbx.softphone_secret, ext) for ext in ("103", "104")}, pbx),
            ]
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
                # Interleaved, so that a change of load on the machine hits both paths alike.
                for _ in range(pairs):
                    for endpoint in endpoints:
                        call = await one_call(browser, f"http://127.0.0.1:{server.port}/", endpoint, seconds,
                                              jitter_target)
                        calls.append(call)
                        print(describe(len(calls), call), flush=True)
                        for line in call.asterisk:
                            print(f"   {line}", flush=True)
                await browser.close()
        finally:
            await server.close()
            await pbx.stop()
            await kamailio.stop()
    return calls


def main(argv: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=5, help="calls per path, interleaved (default 5)")
    parser.add_argument("--seconds", type=float, default=6.0, help="measured seconds per call, after the warm-up")
    parser.add_argument("--jitter-target", type=float, default=120.0,
                        help="the listener's jitterBufferTarget in ms; negative leaves Chrome's adaptive choice")
    args = parser.parse_args(argv)
    from tests.asterisk.pbx import missing_reason

    reason = missing() or missing_reason() or ("" if Path(CHROMIUM).exists() else "chromium is not installed")
    if reason or not JSSIP.is_file():
        print(f"cannot run: {reason or 'JsSIP is not built (npm ci && npm run build)'}", file=sys.stderr)
        return 2
    target = args.jitter_target if args.jitter_target >= 0 else None
    started = time.monotonic()
    calls = asyncio.run(run(args.pairs, args.seconds, target))
    print(f"direct: Kamailio, media browser to browser; asterisk: both legs DTLS-SRTP into Asterisk, G.711; "
          f"jitterBufferTarget {target} ms; {time.monotonic() - started:.0f} s in all")
    for line in summary(calls):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

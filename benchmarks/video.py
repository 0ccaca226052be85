"""Video through the service: CPU per session-minute, frames per second delivered, latency added per hop.

    python benchmarks/video.py [--sessions 1,2,4,8] [--seconds 15] [--modes forward,reencode]

For each count of concurrent three-party sign-language sessions (resident, interpreter, operator; every
participant publishes 640x480 VP8 at 30 fps and receives two pictures), the real service runs in its own
process (`--serve`), and this process plays every participant with aiortc peers. The peers cost little:
publishers replay video encoded once beforehand, and only one subscriber per session decodes (to read the
frame numbers drawn into the picture and so the latency); the others count frames without decoding.
The latency added per hop is the through-the-service latency minus that of a direct peer-to-peer link
measured the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from benchmarks.harness import cpu_seconds, percentile, rss_mib
from callcenter.video import forwarding
from callcenter.video.ice import use_host_addresses
from callcenter.video.probe import ReplayVideoTrack, encode_sequence, prefer_forwarded_codec, read_stamp

SHADES = {"resident": 40, "interpreter": 120, "operator": 200}
PASSWORD = "benchmark password"
REPLAY_FRAMES = 300



class Receiver:
    """One received picture: decoded and timed (a sample), or only counted."""

    def __init__(self, transceiver: Any, decode: bool, senders: dict[int, ReplayVideoTrack]) -> None:
        self.frames = 0
        self.latencies: list[float] = []
        self.decode = decode
        self.senders = senders
        self.task: asyncio.Task[None] | None = None
        if not decode:
            self.publisher = forwarding.Publisher("video", transceiver.receiver, "video/VP8")
            self.publisher.subscribe(self._count)
        self.transceiver = transceiver

    def _count(self, frame: Any) -> None:
        self.frames += 1

    def start(self) -> None:
        if self.decode:
            self.task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        track = self.transceiver.receiver.track
        while True:
            try:
                frame = await track.recv()
            except Exception:
                return
            now = time.monotonic()
            self.frames += 1
            number, shade = read_stamp(frame)
            sender = self.senders.get(_nearest(shade))
            if sender is None:
                continue
            sent = _sent_at(sender, number, now)
            if sent is not None:
                self.latencies.append(now - sent)


def _nearest(shade: int) -> int:
    return min(SHADES.values(), key=lambda s: abs(s - shade))


def _sent_at(track: ReplayVideoTrack, number: int, now: float) -> float | None:
    """The latest send of replay frame `number` before now."""
    k = track.number - 1
    while k >= 0 and k % len(track.frames) != number:
        k -= 1
    sent = track.sent_at.get(k)
    return sent if sent is not None and sent <= now else None


class Participant:
    def __init__(self, role: str, frames: list[bytes], decode: bool) -> None:
        self.role = role
        self.peer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.camera = ReplayVideoTrack(frames)
        main = self.peer.addTransceiver(self.camera, direction="sendrecv")
        audio = self.peer.addTransceiver("audio", direction="recvonly")
        side = self.peer.addTransceiver("video", direction="recvonly")
        for transceiver in (main, audio, side):
            prefer_forwarded_codec(transceiver)
        self.senders: dict[int, ReplayVideoTrack] = {}
        self.receivers = [Receiver(main, decode, self.senders), Receiver(side, False, self.senders)]

    async def join(self, http: aiohttp.ClientSession, hello: dict[str, Any]) -> aiohttp.ClientWebSocketResponse:
        ws = await http.ws_connect("/api/video/ws")
        await ws.send_json({"type": "hello", **hello})
        await self.peer.setLocalDescription(await self.peer.createOffer())
        await ws.send_json({"type": "offer", "sdp": self.peer.localDescription.sdp})
        async for message in ws:
            data = json.loads(message.data)
            if data["type"] == "answer":
                await self.peer.setRemoteDescription(RTCSessionDescription(data["sdp"], "answer"))
                break
            if data["type"] == "error":
                raise RuntimeError(data)
        for receiver in self.receivers:
            receiver.start()
        return ws


async def staff_session(base: str, username: str) -> aiohttp.ClientSession:
    http = aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True))
    response = await http.post("/api/login", json={"username": username, "password": PASSWORD})
    body = await response.json()
    http.headers["X-CSRF-Token"] = body["csrf_token"]
    return http


async def run_sessions(base: str, count: int, seconds: float, replays: dict[str, list[bytes]],
                       server_pid: int) -> dict[str, Any]:
    resident_http = aiohttp.ClientSession(base_url=base)
    sockets: list[aiohttp.ClientWebSocketResponse] = []
    participants: list[Participant] = []
    staff: list[aiohttp.ClientSession] = []
    for index in range(count):
        started = await (await resident_http.post("/api/video/sessions", json={"mode": "sign", "consent": True})).json()
        session_id = started["session"]["id"]
        interpreter_http = await staff_session(base, f"int{index}")
        operator_http = await staff_session(base, f"op{index}")
        staff += [interpreter_http, operator_http]
        await interpreter_http.post("/api/video/interpreter/status", json={"status": "available"})
        for _ in range(100):
            listing = await (await interpreter_http.get("/api/video/sessions")).json()
            if any(o["session"] == session_id and o["for_user"] == f"int{index}" for o in listing["offers"]):
                break
            await asyncio.sleep(0.05)
        assert (await interpreter_http.post(f"/api/video/sessions/{session_id}/accept")).status == 200
        assert (await operator_http.post(f"/api/video/sessions/{session_id}/join")).status == 200
        people = {role: Participant(role, replays[role], decode=(role == "resident")) for role in SHADES}
        for person in people.values():
            person.senders.update({SHADES[r]: p.camera for r, p in people.items()})
        sockets.append(await people["resident"].join(resident_http, {"token": started["token"]}))
        sockets.append(await people["interpreter"].join(interpreter_http, {"session": session_id}))
        sockets.append(await people["operator"].join(operator_http, {"session": session_id}))
        participants += people.values()
    await asyncio.sleep(3.0)  # warm-up: connections up, first keyframes through
    receivers = [r for p in participants for r in p.receivers]
    frames_before = [r.frames for r in receivers]
    for receiver in receivers:
        receiver.latencies.clear()
    cpu_before, wall_before = cpu_seconds(server_pid), time.monotonic()
    own_before = time.process_time()
    await asyncio.sleep(seconds)
    wall = time.monotonic() - wall_before
    server_cpu = cpu_seconds(server_pid) - cpu_before
    own_cpu = time.process_time() - own_before
    fps = [(r.frames - before) / wall for r, before in zip(receivers, frames_before, strict=True)]
    latencies = [x for r in receivers for x in r.latencies]
    result = {
        "sessions": count, "server_cores": server_cpu / wall,
        "cpu_s_per_session_minute": server_cpu / wall * 60 / count,
        "fps_mean": statistics.mean(fps), "fps_min": min(fps), "latency_p50_ms": percentile(latencies, 0.5) * 1000,
        "latency_p95_ms": percentile(latencies, 0.95) * 1000, "server_rss_mib": rss_mib(server_pid),
        "peers_cores": own_cpu / wall,
    }
    for person in participants:
        for receiver in person.receivers:
            if receiver.task:
                receiver.task.cancel()
        await person.peer.close()
    for ws in sockets:
        await ws.close()
    for http in [resident_http, *staff]:
        await http.close()
    return result


async def direct_latency(replay: list[bytes], seconds: float) -> float:
    """The same measurement without the service: publisher to subscriber directly."""
    publisher = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    subscriber = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    camera = ReplayVideoTrack(replay)
    prefer_forwarded_codec(publisher.addTransceiver(camera, direction="sendonly"))
    receiving = subscriber.addTransceiver("video", direction="recvonly")
    prefer_forwarded_codec(receiving)
    await subscriber.setLocalDescription(await subscriber.createOffer())
    await publisher.setRemoteDescription(subscriber.localDescription)
    await publisher.setLocalDescription(await publisher.createAnswer())
    await subscriber.setRemoteDescription(publisher.localDescription)
    receiver = Receiver(receiving, True, {SHADES["resident"]: camera})
    receiver.start()
    await asyncio.sleep(2.0)
    receiver.latencies.clear()
    await asyncio.sleep(seconds)
    value = percentile(receiver.latencies, 0.5)
    assert receiver.task is not None
    receiver.task.cancel()
    await publisher.close()
    await subscriber.close()
    return value


def serve(port: int, forward: bool) -> None:
    """The service alone, as `callcenter serve` runs it, minus the PBX link (video needs none)."""
    from aiohttp import web

    from callcenter.config import load_settings
    from callcenter.logs import configure_logging
    from callcenter.web.app import create_app

    settings = load_settings().replace("hours", open="00:00", close="24:00", days=["mon", "tue", "wed", "thu",
                                                                                     "fri", "sat", "sun"])
    settings = settings.replace("video", recordings="", forwarding=forward, host_addresses=["127.0.0.1"])
    settings = settings.replace("http", port=port)
    configure_logging(settings.logging.level, settings.logging.format)
    web.run_app(create_app(settings, redis_url=settings.redis.url), host="127.0.0.1", port=port,
                print=None, handle_signals=True)


def wait_healthy(base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the service did not start")


async def create_accounts(redis_url: str, count: int) -> None:
    from callcenter.accounts.store import AccountStore
    from callcenter.storage import connect

    client = connect(redis_url)
    accounts = AccountStore(client)
    for index in range(count):
        for name, role in ((f"int{index}", "interpreter"), (f"op{index}", "operator")):
            if await accounts.get(name) is None:
                await accounts.add(name, name, role, PASSWORD, f"Local/{name}@agents", str(index))
    await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", default="1,2,4,8")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--modes", default="forward,reencode")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--reencode", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, forward=not args.reencode)
        return
    use_host_addresses(["127.0.0.1"])
    from callcenter.storage import EmbeddedValkey

    store = None
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        store = EmbeddedValkey(durable=False)
        store.start()
        redis_url = store.url
    counts = [int(x) for x in args.sessions.split(",")]
    print(f"machine: {os.cpu_count()} cores; encoding the replayed video once...", flush=True)
    replays = {role: encode_sequence(REPLAY_FRAMES, shade) for role, shade in SHADES.items()}
    asyncio.run(create_accounts(redis_url, max(counts)))
    direct = asyncio.run(direct_latency(replays["resident"], 5.0))
    print(f"direct peer-to-peer latency (same measurement, no service): p50 {direct * 1000:.0f} ms")
    print(f"{'mode':9} {'sessions':>8} {'cores':>6} {'cpu s/session-min':>18} {'fps mean':>9} {'fps min':>8} "
          f"{'lat p50':>8} {'lat p95':>8} {'added/hop':>9} {'rss MiB':>8} {'peers cores':>11}")
    # Every benchmark resident starts from 127.0.0.1: lift the per-address limits meant for the public.
    env = {**os.environ, "REDIS_URL": redis_url, "CALLCENTER_LOGGING_LEVEL": "WARNING",
           "CALLCENTER_VIDEO_LIVE_SESSIONS_PER_ADDRESS": "100000",
           "CALLCENTER_VIDEO_SESSIONS_PER_ADDRESS_HOUR": "100000"}
    try:
        for mode in args.modes.split(","):
            for count in counts:
                port = 18600 + count + (50 if mode == "reencode" else 0)
                command = [sys.executable, __file__, "--serve", str(port)]
                command += ["--reencode"] if mode == "reencode" else []
                with tempfile.TemporaryFile() as log:
                    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)
                    base = f"http://127.0.0.1:{port}"
                    try:
                        wait_healthy(base)
                        result = asyncio.run(run_sessions(base, count, args.seconds, replays, server.pid))
                    finally:
                        server.terminate()
                        server.wait(10)
                added = result["latency_p50_ms"] - direct * 1000
                print(f"{mode:9} {count:>8} {result['server_cores']:>6.2f} {result['cpu_s_per_session_minute']:>18.1f} "
                      f"{result['fps_mean']:>9.1f} {result['fps_min']:>8.1f} {result['latency_p50_ms']:>6.0f}ms "
                      f"{result['latency_p95_ms']:>6.0f}ms {added:>7.0f}ms {result['server_rss_mib']:>8.0f} "
                      f"{result['peers_cores']:>11.2f}", flush=True)
    finally:
        if store is not None:
            store.stop()


if __name__ == "__main__":
    main()

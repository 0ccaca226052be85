"""A video session of the simulated day, played by aiortc peers: a resident asks for an interpreter, an
interpreter accepts, the operator app_queue chose joins, they talk for a few simulated minutes, the resident
hangs up. The peers send video encoded once beforehand, so that they cost little."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from functools import lru_cache
from typing import Any

import aiohttp
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from callcenter.video.probe import ReplayVideoTrack, encode_sequence, prefer_forwarded_codec

SESSION_MINUTES = 8.0


@lru_cache(maxsize=1)
def replay() -> list[bytes]:
    return encode_sequence(30, 90, keyframe_every=30, bitrate=300_000)


def _peer() -> RTCPeerConnection:
    peer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    for transceiver in (peer.addTransceiver(ReplayVideoTrack(replay()), direction="sendrecv"),
                        peer.addTransceiver("audio", direction="recvonly"),
                        peer.addTransceiver("video", direction="recvonly")):
        prefer_forwarded_codec(transceiver)
    # What a peer receives must be read: aiortc queues decoded frames without bound, and unread sessions
    # grew the simulation's driver to 2.7 GB at scale 100.
    readers: set[asyncio.Task[None]] = set()

    @peer.on("track")
    def consume(track: MediaStreamTrack) -> None:
        reader = asyncio.ensure_future(_discard(track))
        readers.add(reader)
        reader.add_done_callback(readers.discard)

    return peer


async def _discard(track: MediaStreamTrack) -> None:
    try:
        while True:
            await track.recv()
    except MediaStreamError:
        return  # the track ended with its connection


async def _join(http: aiohttp.ClientSession, hello: dict[str, Any]) -> tuple[RTCPeerConnection, Any]:
    ws = await http.ws_connect("/api/video/ws")
    await ws.send_json({"type": "hello", **hello})
    peer = _peer()
    await peer.setLocalDescription(await peer.createOffer())
    await ws.send_json({"type": "offer", "sdp": peer.localDescription.sdp})
    async for message in ws:
        data = json.loads(message.data)
        if data["type"] == "answer":
            await peer.setRemoteDescription(RTCSessionDescription(data["sdp"], "answer"))
            break
        if data["type"] == "error" and data["error"] != "bad_message":
            raise RuntimeError(data["error"])
    # Keep reading, as a browser does: the service's heartbeat closes a socket whose pings go unanswered, and
    # aiohttp answers them only while someone reads (an unread resident socket ended sessions mid-wait).
    reader = asyncio.ensure_future(_read_until_closed(ws))
    _readers.add(reader)
    reader.add_done_callback(_readers.discard)
    return peer, ws


_readers: set[asyncio.Future[None]] = set()


async def _read_until_closed(ws: aiohttp.ClientWebSocketResponse) -> None:
    async for _ in ws:
        pass


async def _staff(base: str, username: str, password: str, statuses: Counter[int]) -> aiohttp.ClientSession:
    http = aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.post("/api/login", json={"username": username, "password": password}) as response:
        statuses[response.status] += 1
        http.headers["X-CSRF-Token"] = (await response.json())["csrf_token"]
    return http


async def _wait_for(check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.2)
    return None


async def play_session(base: str, acceleration: float, password: str, statuses: Counter[int]) -> str:
    sessions: list[aiohttp.ClientSession] = []
    peers: list[RTCPeerConnection] = []
    sockets: list[Any] = []
    try:
        resident = aiohttp.ClientSession(base_url=base)
        sessions.append(resident)
        async with resident.post("/api/video/sessions", json={"mode": "sign", "consent": True}) as response:
            statuses[response.status] += 1
            if response.status != 201:
                return f"not started ({response.status})"
            started = await response.json()
        session_id = started["session"]["id"]
        peer, ws = await _join(resident, {"token": started["token"]})
        peers.append(peer)
        sockets.append(ws)
        interpreters = [await _staff(base, f"int{i}", password, statuses) for i in (1, 2)]
        supervisor = await _staff(base, "sup", password, statuses)
        sessions += [*interpreters, supervisor]
        for http in interpreters:
            async with http.post("/api/video/interpreter/status", json={"status": "available"}) as response:
                statuses[response.status] += 1

        async def offered() -> tuple[aiohttp.ClientSession, str] | None:
            async with supervisor.get("/api/video/sessions") as response:
                listing = await response.json()
            for offer in listing["offers"]:
                if offer["session"] == session_id:
                    return interpreters[int(offer["for_user"][3:]) - 1], offer["for_user"]
            return None

        offer = await _wait_for(offered, 30)
        if offer is None:
            return "no interpreter"
        interpreter, _ = offer
        async with interpreter.post(f"/api/video/sessions/{session_id}/accept") as response:
            statuses[response.status] += 1
            if response.status != 200:
                return "interpreter could not accept"
        peer, ws = await _join(interpreter, {"session": session_id})
        peers.append(peer)
        sockets.append(ws)

        async def assigned() -> str | None:
            async with supervisor.get("/api/video/sessions") as response:
                listing = await response.json()
            session = next((s for s in listing["sessions"] if s["id"] == session_id), None)
            return session.get("assigned_operator") if session else None

        # The operator comes from the hotline queue; in a long queue that can take a while.
        username = await _wait_for(assigned, min(120.0, max(10.0, 3600 / acceleration))) or "op1"
        operator = await _staff(base, username, password, statuses)
        sessions.append(operator)
        async with operator.post(f"/api/video/sessions/{session_id}/join") as response:
            statuses[response.status] += 1
            joined = response.status == 200
        if joined:
            peer, ws = await _join(operator, {"session": session_id})
            peers.append(peer)
            sockets.append(ws)
        await asyncio.sleep(SESSION_MINUTES * 60 / acceleration)
        await sockets[0].send_json({"type": "end"})
        await interpreter.post("/api/video/interpreter/status", json={"status": "paused", "reason": "break"})
        return "served with operator" if joined else "served by interpreter only"
    finally:
        for ws in sockets:
            await ws.close()
        for peer in peers:
            await peer.close()
        for http in sessions:
            await http.close()

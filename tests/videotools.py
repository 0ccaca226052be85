"""Real aiortc peers over the loopback for the video tests."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import av
from aiohttp.test_utils import TestClient, TestServer
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)

from callcenter.video.probe import (
    StampedVideoTrack,
    ToneAudioTrack,
    dominant_pitch,
    prefer_forwarded_codec,
    read_stamp,
)
from callcenter.web.auth import ACCOUNTS

SHADES = {"resident": 40, "interpreter": 120, "operator": 200}
PITCHES = {"resident": 1320.0, "interpreter": 440.0, "operator": 880.0}

NO_ICE_SERVERS = RTCConfiguration(iceServers=[])


def new_peer() -> RTCPeerConnection:
    # An explicit empty list: aiortc's default STUN server is a public host name.
    return RTCPeerConnection(configuration=NO_ICE_SERVERS)



class FrameWatcher:
    """Reads a received track and keeps what it decoded, so tests can wait for a condition."""

    def __init__(self, track: MediaStreamTrack) -> None:
        self.track = track
        self.frames: list[tuple[float, av.VideoFrame | av.AudioFrame]] = []
        self._changed = asyncio.Event()
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            try:
                frame = await self.track.recv()
            except Exception:
                return
            self.frames.append((time.monotonic(), frame))
            self._changed.set()

    async def wait_for(self, condition: Callable[[list[tuple[float, av.VideoFrame | av.AudioFrame]]], bool],
                       timeout: float = 10.0) -> None:
        async def waiting() -> None:
            while not condition(self.frames):
                self._changed.clear()
                await self._changed.wait()
        await asyncio.wait_for(waiting(), timeout)

    def shades(self, since: int = 0) -> list[int]:
        return [read_stamp(frame)[1] for _, frame in self.frames[since:] if isinstance(frame, av.VideoFrame)]

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


def shade_near(shade: int, wanted: int, tolerance: int = 12) -> bool:
    return abs(shade - wanted) <= tolerance


class Notifications:
    """What the service pushed to the dashboards, awaitable."""

    def __init__(self) -> None:
        self.changes: list[dict[str, Any]] = []
        self._changed = asyncio.Event()

    def __call__(self, change: dict[str, Any]) -> None:
        self.changes.append(change)
        self._changed.set()

    async def wait_for(self, kind: str, **fields: Any) -> dict[str, Any]:
        async def waiting() -> dict[str, Any]:
            while True:
                for change in self.changes:
                    if change["type"] == kind and all(change.get(k) == v for k, v in fields.items()):
                        return change
                self._changed.clear()
                await self._changed.wait()
        return await asyncio.wait_for(waiting(), 10)


class Peer:
    """One participant's browser: signalling socket, camera, microphone, chat, what it receives."""

    def __init__(self, role: str, http: aiohttp.ClientSession | TestClient) -> None:
        self.role = role
        self.http = http
        self.peer: RTCPeerConnection = new_peer()
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.inbox: list[dict[str, Any]] = []
        self.chat_received: list[str] = []
        # Real-time text received, by the source's role (the label of the service's T.140 channel).
        self.text_received: dict[str, str] = {}
        self.text_channel: Any = None
        self.watchers: dict[str, FrameWatcher] = {}
        self._inbox_changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def connect(self, hello: dict[str, Any]) -> None:
        self.ws = await self.http.ws_connect("/api/video/ws")
        self._reader = asyncio.ensure_future(self._read())
        await self.ws.send_json({"type": "hello", **hello})
        await self.expect("state")

    async def _read(self) -> None:
        assert self.ws is not None
        async for message in self.ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                self.inbox.append(json.loads(message.data))
                self._inbox_changed.set()

    async def expect(self, kind: str, since: int = 0, **fields: Any) -> dict[str, Any]:
        async def waiting() -> dict[str, Any]:
            while True:
                for message in self.inbox[since:]:
                    if message["type"] == kind and all(message.get(k) == v for k, v in fields.items()):
                        return message
                self._inbox_changed.clear()
                await self._inbox_changed.wait()
        return await asyncio.wait_for(waiting(), 10)

    async def start_media(self, real_time_text: bool = False) -> None:
        """The layout every page offers: camera, microphone, the small picture, the chat channel (and the T.140
        channel for real-time text, when asked)."""
        prefer_forwarded_codec(self.peer.addTransceiver(StampedVideoTrack(SHADES[self.role]), direction="sendrecv"))
        prefer_forwarded_codec(self.peer.addTransceiver(ToneAudioTrack(PITCHES[self.role]), direction="sendrecv"))
        prefer_forwarded_codec(self.peer.addTransceiver("video", direction="recvonly"))
        self.chat = self.peer.createDataChannel("chat")
        self.chat_open = asyncio.Event()
        self.chat.on("open", self.chat_open.set)
        self.chat.on("message", lambda raw: self.chat_received.append(json.loads(raw)["text"]))
        if real_time_text:
            self.text_channel = self.peer.createDataChannel("t140", protocol="t140")
            self.peer.on("datachannel", self._text_from)
        await self.peer.setLocalDescription(await self.peer.createOffer())
        assert self.ws is not None
        since = len(self.inbox)
        await self.ws.send_json({"type": "offer", "sdp": self.peer.localDescription.sdp})
        answer = await self.expect("answer", since)
        await self.peer.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        main, audio, side = (t.receiver.track for t in self.peer.getTransceivers())
        self.watchers = {"main": FrameWatcher(main), "audio": FrameWatcher(audio), "side": FrameWatcher(side)}
        await asyncio.wait_for(self.chat_open.wait(), 10)

    def _text_from(self, channel: Any) -> None:
        if channel.protocol != "t140":
            return

        def typed(t140: str) -> None:
            self.text_received[channel.label] = apply_t140(self.text_received.get(channel.label, ""), t140)
            self._inbox_changed.set()
        channel.on("message", typed)

    async def sees_typed(self, role: str, text: str) -> None:
        """`role`'s line in progress reads `text` (real-time text, before any Enter)."""
        async def waiting() -> None:
            while self.text_received.get(role) != text:
                self._inbox_changed.clear()
                await self._inbox_changed.wait()
        await asyncio.wait_for(waiting(), 10)

    async def sees(self, slot: str, role: str, frames: int = 5) -> None:
        """Decoded pictures in `slot` come from `role`: `frames` of them after this call."""
        watcher = self.watchers[slot]
        start = len(watcher.frames)

        def enough(got: list[tuple[float, Any]]) -> bool:
            recent = [read_stamp(f)[1] for _, f in got[start:] if isinstance(f, av.VideoFrame)]
            return sum(shade_near(s, SHADES[role]) for s in recent) >= frames
        await watcher.wait_for(enough)

    async def hears(self, role: str) -> None:
        watcher = self.watchers["audio"]
        start = len(watcher.frames)

        def heard(got: list[tuple[float, Any]]) -> bool:
            pitches = [dominant_pitch(f) for _, f in got[start:] if isinstance(f, av.AudioFrame)]
            return sum(abs(p - PITCHES[role]) < PITCHES[role] * 0.1 for p in pitches) >= 10
        await watcher.wait_for(heard)

    async def close(self) -> None:
        for watcher in self.watchers.values():
            await watcher.stop()
        await self.peer.close()
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


def apply_t140(line: str, t140: str) -> str:
    """A receiver's view of a line after T.140 text: BACKSPACE erases, LINE SEPARATOR starts a new line."""
    for char in t140:
        line = line[:-1] if char == "\b" else "" if char == "\u2028" else line + char
    return line


async def staff(client: TestClient | TestServer, role: str,
                username: str) -> tuple[aiohttp.ClientSession, dict[str, str]]:
    session = aiohttp.ClientSession(base_url=str(client.make_url("/")), cookie_jar=aiohttp.CookieJar(unsafe=True))
    accounts = client.app[ACCOUNTS]
    await accounts.add(username, username.title(), role, "correct horse battery", f"Local/{username}@agents", "1")
    response = await session.post("/api/login", json={"username": username, "password": "correct horse battery"})
    assert response.status == 200
    return session, {"X-CSRF-Token": (await response.json())["csrf_token"]}



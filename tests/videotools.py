"""Real aiortc peers over the loopback for the video tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import av
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCRtpTransceiver

from callcenter.video.probe import read_stamp

NO_ICE_SERVERS = RTCConfiguration(iceServers=[])


def new_peer() -> RTCPeerConnection:
    # An explicit empty list: aiortc's default STUN server is a public host name.
    return RTCPeerConnection(configuration=NO_ICE_SERVERS)


def prefer(transceiver: RTCRtpTransceiver, mime_type: str) -> None:
    """What the browser page does: offer only the codec the service forwards."""
    capabilities = RTCRtpSender.getCapabilities(transceiver.kind)
    transceiver.setCodecPreferences([c for c in capabilities.codecs
                                     if c.mimeType.lower() in (mime_type.lower(), f"{transceiver.kind}/rtx")])


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

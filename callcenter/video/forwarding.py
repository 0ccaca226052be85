"""Forward encoded media between aiortc peer connections without decoding it.

aiortc has no public API for this (its maintainer: WebRTC is "not a pipe", aiortc #449), and its `MediaRelay`
decodes and re-encodes every stream: about 0.30 cores per 640x480 VP8 stream at 30 fps on these machines, so
two or three sign-language sessions would fill the server. Handing the receiver's depacketised frames to the
sender's packetiser costs a fraction of that. This module owns every use of aiortc internals, so that pinning
another aiortc version means re-running `tests/test_video_forwarding.py` and reading this file only:

- `RTCRtpReceiver.__decoder_queue`: replaced, before the receiver starts, by a queue that hands each complete
  encoded frame (a `JitterFrame`) to us on the event loop's thread; frames reach the decoder thread only when
  somebody wants decoded pictures (recording audio, the re-encoding fallback).
- `RTCRtpSender`: given a track whose `recv()` returns `av.Packet`s, it packetises instead of encoding (the
  path `MediaPlayer(decode=False)` uses). Its `_send_keyframe` (called on a subscriber's PLI/FIR) is redirected
  to the publisher, because a forwarded stream has no encoder of ours to force a keyframe from.
- `RTCRtpReceiver._send_rtcp_pli`: how a keyframe is asked of the publisher.
- `RTCRtpTransceiver._codecs`: the codecs negotiated for a leg; forwarding needs the same codec on both legs.
"""

from __future__ import annotations

import asyncio
import logging
import queue
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
from aiortc import MediaStreamTrack, RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError

log = logging.getLogger(__name__)

VIDEO_CODEC = "video/VP8"
AUDIO_CODEC = "audio/opus"
# A subscriber further behind than this has lost the thread: drop its backlog and resume at a keyframe rather
# than let the delay grow (MediaRelay's buffered mode grows without bound under load).
MAX_BACKLOG = {"video": 30, "audio": 50}
MAX_DECODE_BACKLOG = {"video": 5, "audio": 25}
# Between two publishers a slot's timestamps move on by one frame, so the receiving browser sees one stream.
SWITCH_STEP = {"video": 3000, "audio": 960}
# A keyframe request is repeated at most this often (seconds) while a subscriber waits for one.
KEYFRAME_REQUEST_INTERVAL = 0.5


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    data: bytes
    timestamp: int
    clock_rate: int
    keyframe: bool


def is_keyframe(codec_name: str, data: bytes) -> bool:
    """Whether an encoded frame can be decoded on its own (a late joiner must start at one)."""
    if not data:
        return False
    name = codec_name.lower()
    if name == "video/vp8":
        return data[0] & 0x01 == 0  # RFC 6386 9.1: the frame tag's first bit is 0 for a key frame
    if name == "video/h264":
        # Annex B stream from aiortc's depayloader: an IDR slice (type 5) makes it decodable.
        return any(data[i + 3] & 0x1F == 5 for i in range(len(data) - 3) if data[i:i + 3] == b"\x00\x00\x01")
    return True  # audio frames stand alone


class _FrameTap(queue.Queue):  # type: ignore[type-arg]
    """Stands in for the receiver's decoder queue: sees every complete frame on the event loop's thread.

    Frames reach aiortc's decoder thread only when decoded pictures are wanted, and never more than
    MAX_DECODE_BACKLOG behind: aiortc's own queue is unbounded, so a decoder that cannot keep up would let
    the delay grow without limit. Behind that, the backlog is dropped and decoding resumes at a keyframe.
    """

    def __init__(self, publisher: Publisher) -> None:
        super().__init__()
        self.publisher = publisher
        self.decode = False
        self.dropped = 0
        self._resume_at_keyframe = False

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:  # the receiver is stopping: end the decoder thread
            super().put(item, block, timeout)
            return
        codec, frame = item
        keyframe = self.publisher._deliver(codec.mimeType, codec.clockRate, frame.data, frame.timestamp)
        if not self.decode:
            return
        if self.qsize() >= MAX_DECODE_BACKLOG.get(self.publisher.kind, 30):
            with self.mutex:
                self.dropped += len(self.queue)
                self.queue.clear()
            self._resume_at_keyframe = self.publisher.kind == "video"
        if self._resume_at_keyframe:
            if not keyframe:
                self.dropped += 1
                self.publisher.request_keyframe()
                return
            self._resume_at_keyframe = False
        super().put(item, block, timeout)


class Publisher:
    """One track a participant sends, fanned out encoded to the slots that show or play it."""

    def __init__(self, kind: str, receiver: RTCRtpReceiver, codec: str) -> None:
        self.kind = kind
        self.receiver = receiver
        self.codec = codec
        self.frames = 0
        self.keyframes = 0
        self._subscribers: list[Callable[[EncodedFrame], None]] = []
        self._tap = _FrameTap(self)
        self._last_keyframe_request = 0.0
        self._ended = False
        self._pending: set[asyncio.Future[None]] = set()
        # Name-mangled: the receiver starts its decoder thread on this queue in receive(), after negotiation.
        receiver._RTCRtpReceiver__decoder_queue = self._tap  # type: ignore[attr-defined]

    def subscribe(self, callback: Callable[[EncodedFrame], None]) -> None:
        self._subscribers.append(callback)

    def unsubscribe(self, callback: Callable[[EncodedFrame], None]) -> None:
        if callback in self._subscribers:
            self._subscribers.remove(callback)

    def decoded(self) -> MediaStreamTrack:
        """The decoded track (for recording and re-encoding); turning it on costs the decoding."""
        self._tap.decode = True
        return self.receiver.track

    def request_keyframe(self) -> None:
        """Send the publisher a PLI, at most every KEYFRAME_REQUEST_INTERVAL."""
        if self.kind != "video" or self._ended:
            return
        now = asyncio.get_running_loop().time()
        if now - self._last_keyframe_request < KEYFRAME_REQUEST_INTERVAL:
            return
        self._last_keyframe_request = now
        for source in self.receiver.getSynchronizationSources():
            task = asyncio.ensure_future(self.receiver._send_rtcp_pli(source.source))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    def end(self) -> None:
        self._ended = True
        self._subscribers.clear()

    def _deliver(self, codec: str, clock_rate: int, data: bytes, timestamp: int) -> bool:
        """Hands an encoded frame to every subscriber; says whether it was a keyframe."""
        keyframe = is_keyframe(codec, data)
        self.frames += 1
        self.keyframes += keyframe
        frame = EncodedFrame(data, timestamp, clock_rate, keyframe)
        for callback in tuple(self._subscribers):
            try:
                callback(frame)
            except Exception:  # one broken subscriber must not starve the others
                log.exception("video: a subscriber of a %s publisher failed", self.kind)
        return keyframe


class ForwardedTrack(MediaStreamTrack):
    """A sender's track that plays whichever publisher the session's routing gives it, without re-encoding.

    Switching publishers keeps the outgoing timestamps continuous and waits for the new publisher's keyframe,
    so the receiving browser sees one stream whose picture changes.
    """

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.source: Publisher | None = None
        self.frames_sent = 0
        self._queue: deque[EncodedFrame] = deque()
        self._ready = asyncio.Event()
        self._waiting_keyframe = kind == "video"
        self._offset = 0
        self._rebase = True
        self._last_out: int | None = None

    def switch(self, publisher: Publisher | None) -> None:
        if publisher is self.source:
            return
        if self.source is not None:
            self.source.unsubscribe(self._push)
        self.source = publisher
        self._queue.clear()
        self._waiting_keyframe = self.kind == "video"
        self._rebase = True
        if publisher is not None:
            publisher.subscribe(self._push)
            publisher.request_keyframe()

    def request_keyframe(self) -> None:
        """A subscriber's PLI/FIR, passed on to whoever this slot is playing."""
        if self.source is not None:
            self.source.request_keyframe()

    def _push(self, frame: EncodedFrame) -> None:
        if self._waiting_keyframe:
            if not frame.keyframe:
                if self.source is not None:
                    self.source.request_keyframe()
                return
            self._waiting_keyframe = False
        if self._rebase:
            step = SWITCH_STEP.get(self.kind, 3000)
            start = 0 if self._last_out is None else self._last_out + step
            self._offset = start - frame.timestamp
            self._rebase = False
        if len(self._queue) >= MAX_BACKLOG.get(self.kind, 30):
            self._queue.clear()
            if self.kind == "video":
                self._waiting_keyframe = not frame.keyframe
                if self._waiting_keyframe:
                    self.request_keyframe()
                    return
        self._queue.append(frame)
        self._ready.set()

    async def recv(self) -> av.Packet[Any]:
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        frame = self._queue.popleft()
        timestamp = (frame.timestamp + self._offset) & 0xFFFFFFFF
        self._last_out = timestamp
        packet = av.Packet(frame.data)
        packet.pts = timestamp
        packet.time_base = Fraction(1, frame.clock_rate)
        self.frames_sent += 1
        return packet

    def stop(self) -> None:
        self.switch(None)
        super().stop()
        self._ready.set()


class ReencodedTrack(MediaStreamTrack):
    """The fallback when a leg cannot share the publisher's codec: decode once, encode for this subscriber.

    `MediaRelay(buffered=False)` drops frames rather than queue them, so the delay stays bounded under load.
    """

    def __init__(self, kind: str, relay: MediaRelay) -> None:
        super().__init__()
        self.kind = kind
        self.source: Publisher | None = None
        self.frames_sent = 0
        self._relay = relay
        self._proxy: MediaStreamTrack | None = None
        self._changed = asyncio.Event()

    def switch(self, publisher: Publisher | None) -> None:
        if publisher is self.source:
            return
        self.source = publisher
        self._proxy = None if publisher is None else self._relay.subscribe(publisher.decoded(), buffered=False)
        self._changed.set()

    def request_keyframe(self) -> None:
        """The sender's own encoder makes the keyframe; nothing to ask of the publisher."""

    async def recv(self) -> Any:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            proxy = self._proxy
            if proxy is None:
                self._changed.clear()
                await self._changed.wait()
                continue
            frame = await proxy.recv()
            if proxy is self._proxy:
                self.frames_sent += 1
                return frame

    def stop(self) -> None:
        self._proxy = None
        super().stop()
        self._changed.set()


SlotTrack = ForwardedTrack | ReencodedTrack


def negotiated_codec(transceiver: RTCRtpTransceiver) -> str:
    """The codec this leg will use (known once the remote description is set)."""
    codecs = transceiver._codecs
    return codecs[0].mimeType if codecs else ""


def pin_codec(transceiver: RTCRtpTransceiver, mime_type: str) -> bool:
    """Keep only `mime_type` (and its retransmission codec) on a leg; False if the remote does not offer it."""
    codecs = transceiver._codecs
    chosen = [c for c in codecs if c.mimeType.lower() == mime_type.lower()]
    if not chosen:
        return False
    payload_types = {c.payloadType for c in chosen}
    retransmission = [c for c in codecs if c.mimeType.lower().endswith("/rtx")
                      and c.parameters.get("apt") in payload_types]
    transceiver._codecs = chosen + retransmission
    return True


def can_forward(publisher: Publisher | None, subscriber_codec: str) -> bool:
    """Forwarding needs one codec on both legs (always so when both pin VP8 and Opus)."""
    return publisher is None or publisher.codec.lower() == subscriber_codec.lower()


def bridge_keyframe_requests(sender: RTCRtpSender, track: SlotTrack) -> None:
    """A subscriber's PLI/FIR reaches the sender, which can only force its own encoder: pass it upstream."""
    sender._send_keyframe = track.request_keyframe  # type: ignore[method-assign]

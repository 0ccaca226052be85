"""Media that can be recognised after a trip through the service: for tests, benchmarks and the day simulation.

A video frame carries its sender (the shade of its background) and its number (32 black or white blocks along
the top), so a subscriber can tell whose picture it got and how late it is. An audio track plays a tone whose
pitch names the sender. Both survive VP8/Opus compression; no numpy needed.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from array import array
from itertools import pairwise
from typing import Any

import av
from aiortc import MediaStreamTrack, RTCRtpSender, RTCRtpTransceiver
from aiortc.mediastreams import AUDIO_PTIME, VIDEO_CLOCK_RATE, VIDEO_TIME_BASE

from callcenter.video.forwarding import AUDIO_CODEC, VIDEO_CODEC

WIDTH, HEIGHT = 640, 480
BLOCK = 16
BITS = 32
BLACK, WHITE = 16, 235
STAMP_ROWS = BLOCK * 2  # the stamp strip, then the shade below it


def prefer_forwarded_codec(transceiver: RTCRtpTransceiver) -> None:
    """What the browser page does: offer only the codec the service forwards (VP8 or Opus, and RTX)."""
    wanted = (VIDEO_CODEC if transceiver.kind == "video" else AUDIO_CODEC).lower()
    codecs = RTCRtpSender.getCapabilities(transceiver.kind).codecs
    transceiver.setCodecPreferences([c for c in codecs if c.mimeType.lower() in (wanted, f"{transceiver.kind}/rtx")])


def stamp_frame(number: int, shade: int, width: int = WIDTH, height: int = HEIGHT) -> av.VideoFrame:
    luma = bytearray([shade]) * (width * height)
    for bit in range(BITS):
        value = WHITE if (number >> bit) & 1 else BLACK
        x0 = bit * BLOCK
        for y in range(BLOCK // 2, BLOCK // 2 + BLOCK):
            start = y * width + x0
            luma[start:start + BLOCK] = bytes([value]) * BLOCK
    frame = av.VideoFrame(width, height, "yuv420p")
    frame.planes[0].update(bytes(luma))
    chroma = bytes([128]) * (frame.planes[1].buffer_size)
    frame.planes[1].update(chroma)
    frame.planes[2].update(chroma)
    return frame


def read_stamp(frame: av.VideoFrame) -> tuple[int, int]:
    """(frame number, background shade) of a decoded stamped frame."""
    frame = frame if frame.format.name == "yuv420p" else frame.reformat(format="yuv420p")
    plane = frame.planes[0]
    luma = bytes(plane)
    stride = plane.line_size
    y = BLOCK
    number = 0
    for bit in range(BITS):
        if luma[y * stride + bit * BLOCK + BLOCK // 2] > 128:
            number |= 1 << bit
    centre = (frame.height // 2) * stride + frame.width // 2
    return number, luma[centre]


class StampedVideoTrack(MediaStreamTrack):
    """A camera whose frames say who sent them and when (`sent_at[number]`, monotonic seconds)."""

    kind = "video"

    def __init__(self, shade: int, fps: int = 30) -> None:
        super().__init__()
        self.shade = shade
        self.fps = fps
        self.number = 0
        self.sent_at: dict[int, float] = {}
        self._start: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self.number / self.fps
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        frame = stamp_frame(self.number, self.shade)
        frame.pts = int(self.number * VIDEO_CLOCK_RATE / self.fps)
        frame.time_base = VIDEO_TIME_BASE
        self.sent_at[self.number] = time.monotonic()
        self.number += 1
        return frame


class ToneAudioTrack(MediaStreamTrack):
    """A microphone playing one pitch; `dominant_pitch` tells it back from decoded audio."""

    kind = "audio"
    rate = 48000

    def __init__(self, pitch: float) -> None:
        super().__init__()
        self.pitch = pitch
        self._samples = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        count = int(AUDIO_PTIME * self.rate)
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + self._samples / self.rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        step = 2 * math.pi * self.pitch / self.rate
        samples = array("h", (int(8000 * math.sin(step * (self._samples + i))) for i in range(count)))
        frame = av.AudioFrame(format="s16", layout="mono", samples=count)
        frame.planes[0].update(samples.tobytes())
        frame.sample_rate = self.rate
        frame.pts = self._samples
        frame.time_base = fractions.Fraction(1, self.rate)
        self._samples += count
        return frame


def dominant_pitch(frame: av.AudioFrame) -> float:
    """Pitch in Hz from zero crossings of the first channel (decoded Opus is interleaved stereo s16)."""
    samples = array("h", bytes(frame.planes[0]))
    channels = len(frame.layout.channels) if frame.format.is_packed else 1
    mono = samples[::channels][:frame.samples]
    crossings = sum(1 for a, b in pairwise(mono) if (a < 0) != (b < 0))
    return crossings * frame.sample_rate / (2 * max(1, len(mono)))


def encode_sequence(count: int, shade: int, fps: int = 30, keyframe_every: int = 30,
                    bitrate: int = 1_000_000) -> list[bytes]:
    """VP8 frames encoded once beforehand, so that benchmark publishers cost nothing but sending."""
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height = WIDTH, HEIGHT
    codec.pix_fmt = "yuv420p"
    codec.bit_rate = bitrate
    codec.time_base = fractions.Fraction(1, fps)
    codec.gop_size = keyframe_every
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    encoded: list[bytes] = []
    for number in range(count):
        frame = stamp_frame(number, shade)
        frame.pts = number
        frame.time_base = codec.time_base
        for packet in codec.encode(frame):
            encoded.append(bytes(packet))
    for packet in codec.encode(None):
        encoded.append(bytes(packet))
    return encoded[:count]


class ReplayVideoTrack(MediaStreamTrack):
    """Sends pre-encoded VP8 frames at `fps` (aiortc packetises `av.Packet`s without encoding them).

    Frame k of the replay carries stamp k mod len(frames); `sent_at[k]` is when it left.
    """

    kind = "video"

    def __init__(self, frames: list[bytes], fps: int = 30) -> None:
        super().__init__()
        self.frames = frames
        self.fps = fps
        self.number = 0
        self.sent_at: dict[int, float] = {}
        self._start: float | None = None

    async def recv(self) -> av.Packet[Any]:
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + self.number / self.fps - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        packet = av.Packet(self.frames[self.number % len(self.frames)])
        packet.pts = int(self.number * VIDEO_CLOCK_RATE / self.fps)
        packet.time_base = VIDEO_TIME_BASE
        self.sent_at[self.number] = time.monotonic()
        self.number += 1
        return packet

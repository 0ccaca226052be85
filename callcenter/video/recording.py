"""Recording a session, with the resident's consent: each track to its own file, kept for the retention period.

One file per track because aiortc's `MediaRecorder` silently writes no video when the first audio packet
arrives before the first video frame (reproduced here, cf. aiortc #1203). Video is written as it arrives, still
encoded, into an IVF file (the VP8 elementary stream container ffmpeg and browsers' tools read): recording
costs no decoding. Audio is decoded and written to Ogg/Opus by `MediaRecorder`, which is cheap for audio.
"""

from __future__ import annotations

import logging
import shutil
import struct
import time
from pathlib import Path
from typing import BinaryIO

from aiortc.contrib.media import MediaRecorder

from callcenter.video.forwarding import EncodedFrame, Publisher

log = logging.getLogger(__name__)


def vp8_size(keyframe: bytes) -> tuple[int, int]:
    """Width and height from a VP8 key frame's header (RFC 6386 9.1)."""
    if len(keyframe) < 10 or keyframe[3:6] != b"\x9d\x01\x2a":
        raise ValueError("not a VP8 key frame")
    width, height = struct.unpack("<HH", keyframe[6:10])
    return width & 0x3FFF, height & 0x3FFF


class IvfWriter:
    """Encoded VP8 frames into an IVF file, starting at the first key frame."""

    HEADER = struct.Struct("<4sHH4sHHIIII")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.frames = 0
        self._file: BinaryIO | None = None

    def write(self, frame: EncodedFrame) -> None:
        if self._file is None:
            if not frame.keyframe:
                return
            width, height = vp8_size(frame.data)
            self._file = self.path.open("wb")
            self._file.write(self.HEADER.pack(b"DKIF", 0, 32, b"VP80", width, height, frame.clock_rate, 1, 0, 0))
        self._file.write(struct.pack("<IQ", len(frame.data), frame.timestamp))
        self._file.write(frame.data)
        self.frames += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.seek(24)
            self._file.write(struct.pack("<I", self.frames))
            self._file.close()
            self._file = None


def read_ivf(path: Path) -> tuple[tuple[int, int], list[bytes]]:
    """(width, height) and the frames of an IVF file: for tests and for checking a recording."""
    data = path.read_bytes()
    signature, _, header_size, fourcc, width, height, *_ = IvfWriter.HEADER.unpack(data[:32])
    if signature != b"DKIF" or fourcc != b"VP80":
        raise ValueError("not a VP8 IVF file")
    frames, offset = [], header_size
    while offset + 12 <= len(data):
        size = struct.unpack("<I", data[offset:offset + 4])[0]
        frames.append(data[offset + 12:offset + 12 + size])
        offset += 12 + size
    return (width, height), frames


class SessionRecording:
    """The files of one session under `<directory>/<session id>/`."""

    def __init__(self, directory: Path, session_id: str) -> None:
        self.directory = directory / session_id
        self.directory.mkdir(parents=True, exist_ok=True)
        self._video: dict[Publisher, IvfWriter] = {}
        self._audio: dict[Publisher, MediaRecorder] = {}
        self._counter = 0

    def _path(self, role: str, kind: str, suffix: str) -> Path:
        # A participant who rejoins gets a new file: numbered in order of arrival.
        self._counter += 1
        return self.directory / f"{self._counter:02d}-{role}-{kind}{suffix}"

    async def add(self, role: str, publisher: Publisher) -> None:
        if publisher.kind == "video":
            writer = IvfWriter(self._path(role, "video", ".ivf"))
            self._video[publisher] = writer
            publisher.subscribe(writer.write)
            publisher.request_keyframe()
        else:
            recorder = MediaRecorder(str(self._path(role, "audio", ".ogg")))
            recorder.addTrack(publisher.decoded())
            self._audio[publisher] = recorder
            await recorder.start()

    async def remove(self, publisher: Publisher) -> None:
        writer = self._video.pop(publisher, None)
        if writer is not None:
            publisher.unsubscribe(writer.write)
            writer.close()
        recorder = self._audio.pop(publisher, None)
        if recorder is not None:
            await recorder.stop()

    async def close(self) -> list[Path]:
        for publisher in list(self._video) + list(self._audio):
            await self.remove(publisher)
        return sorted(self.directory.iterdir())


def remove_expired(directory: Path, retention_days: float, now: float | None = None) -> list[Path]:
    """Delete sessions' recordings older than the retention period; returns what was removed."""
    if not directory.is_dir():
        return []
    limit = (now or time.time()) - retention_days * 86400
    removed = []
    for session_dir in directory.iterdir():
        if session_dir.is_dir() and session_dir.stat().st_mtime < limit:
            shutil.rmtree(session_dir, ignore_errors=True)
            removed.append(session_dir)
    if removed:
        log.info("video recordings past retention removed", extra={"count": len(removed)})
    return removed

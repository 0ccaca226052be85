"""The aiortc internals the service relies on, checked against the pinned aiortc with real peers over loopback.

If an aiortc upgrade breaks forwarding, these tests say so before any session does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiortc
import av
import pytest
from aiortc import RTCPeerConnection, RTCRtpTransceiver
from aiortc.contrib.media import MediaRelay

from callcenter.video import forwarding
from callcenter.video.forwarding import ForwardedTrack, Publisher, ReencodedTrack
from callcenter.video.ice import use_host_addresses
from callcenter.video.probe import (
    StampedVideoTrack,
    ToneAudioTrack,
    dominant_pitch,
    prefer_forwarded_codec,
    read_stamp,
)
from tests.videotools import FrameWatcher, new_peer, shade_near


@pytest.fixture(autouse=True)
def _loopback_ice() -> None:
    use_host_addresses(["127.0.0.1"])


class Server:
    """The service's side: one peer connection per participant, publishers and forwarded slots."""

    def __init__(self) -> None:
        self.peers: list[RTCPeerConnection] = []

    async def publish(self, client: RTCPeerConnection) -> dict[str, Publisher]:
        server = new_peer()
        self.peers.append(server)
        publishers: dict[str, Publisher] = {}

        @server.on("track")
        def on_track(track: aiortc.MediaStreamTrack) -> None:
            transceiver = next(t for t in server.getTransceivers() if t.receiver.track is track)
            publishers[track.kind] = Publisher(track.kind, transceiver.receiver,
                                               forwarding.negotiated_codec(transceiver))

        await client.setLocalDescription(await client.createOffer())
        await server.setRemoteDescription(client.localDescription)
        await server.setLocalDescription(await server.createAnswer())
        await client.setRemoteDescription(server.localDescription)
        return publishers

    async def subscribe(self, client: RTCPeerConnection, kinds: list[str]) -> list[ForwardedTrack]:
        server = new_peer()
        self.peers.append(server)
        await client.setLocalDescription(await client.createOffer())
        await server.setRemoteDescription(client.localDescription)
        slots = []
        for transceiver, kind in zip(server.getTransceivers(), kinds, strict=True):
            slot = ForwardedTrack(kind)
            transceiver.sender.replaceTrack(slot)
            transceiver.direction = "sendonly"
            forwarding.bridge_keyframe_requests(transceiver.sender, slot)
            slots.append(slot)
        await server.setLocalDescription(await server.createAnswer())
        await client.setRemoteDescription(server.localDescription)
        return slots

    async def close(self) -> None:
        for peer in self.peers:
            await peer.close()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    hub = Server()
    yield hub
    await hub.close()


def publisher_peer(shade: int, pitch: float | None = None) -> tuple[RTCPeerConnection, StampedVideoTrack]:
    peer = new_peer()
    camera = StampedVideoTrack(shade)
    prefer_forwarded_codec(peer.addTransceiver(camera, direction="sendonly"))
    if pitch is not None:
        prefer_forwarded_codec(peer.addTransceiver(ToneAudioTrack(pitch), direction="sendonly"))
    return peer, camera


def subscriber_peer(kinds: list[str]) -> tuple[RTCPeerConnection, dict[str, FrameWatcher]]:
    peer = new_peer()
    watchers: dict[str, FrameWatcher] = {}
    for kind in kinds:
        transceiver: RTCRtpTransceiver = peer.addTransceiver(kind, direction="recvonly")
        prefer_forwarded_codec(transceiver)

    @peer.on("track")
    def on_track(track: aiortc.MediaStreamTrack) -> None:
        watchers[track.kind] = FrameWatcher(track)

    return peer, watchers


async def test_encoded_frames_reach_a_subscriber_decodable_and_in_order(server: Server) -> None:
    publisher, _camera = publisher_peer(shade=60, pitch=440)
    publishers = await server.publish(publisher)
    subscriber, watchers = subscriber_peer(["video", "audio"])
    video_slot, audio_slot = await server.subscribe(subscriber, ["video", "audio"])
    video_slot.switch(publishers["video"])
    audio_slot.switch(publishers["audio"])

    await watchers["video"].wait_for(lambda frames: len(frames) >= 30)
    numbers = [read_stamp(frame)[0] for _, frame in watchers["video"].frames]
    assert all(shade_near(shade, 60) for shade in watchers["video"].shades())
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    frame = watchers["video"].frames[-1][1]
    assert (frame.width, frame.height) == (640, 480)
    # Nothing was decoded on the way: the publisher's frames went to the decoder thread zero times.
    assert publishers["video"]._tap.qsize() == 0 and not publishers["video"]._tap.decode
    assert publishers["video"].frames >= 30 and video_slot.frames_sent >= 30

    await watchers["audio"].wait_for(lambda frames: len(frames) >= 50)
    pitch = dominant_pitch(watchers["audio"].frames[-1][1])  # type: ignore[arg-type]
    assert 400 < pitch < 480
    for watcher in watchers.values():
        await watcher.stop()
    await publisher.close()
    await subscriber.close()


async def test_a_late_subscriber_gets_a_picture_through_the_keyframe_bridge(server: Server) -> None:
    publisher, _camera = publisher_peer(shade=100)
    publisher_sender = publisher.getTransceivers()[0].sender
    requests: list[str] = []
    force_keyframe = publisher_sender._send_keyframe

    def counted() -> None:
        requests.append("pli")
        force_keyframe()

    publisher_sender._send_keyframe = counted  # type: ignore[method-assign]
    publishers = await server.publish(publisher)
    while publishers["video"].frames < 60:
        await asyncio.sleep(0.05)
    before = len(requests)
    subscriber, watchers = subscriber_peer(["video"])
    (slot,) = await server.subscribe(subscriber, ["video"])
    slot.switch(publishers["video"])
    while "video" not in watchers:
        await asyncio.sleep(0.01)
    await watchers["video"].wait_for(lambda frames: len(frames) >= 5, timeout=5)
    # The slot asked the publisher for a keyframe (aiortc's encoder makes none by itself once its bitrate settles).
    assert len(requests) > before
    assert shade_near(watchers["video"].shades()[0], 100)
    # A subscriber's own PLI (its sender's keyframe request) reaches the publisher as well.
    before = len(requests)
    await asyncio.sleep(forwarding.KEYFRAME_REQUEST_INTERVAL)
    server.peers[-1].getTransceivers()[0].sender._send_keyframe()
    async def bridged() -> None:
        while len(requests) == before:
            await asyncio.sleep(0.01)
    await asyncio.wait_for(bridged(), 5)
    await watchers["video"].stop()
    await publisher.close()
    await subscriber.close()


async def test_switching_publishers_changes_the_picture_without_renegotiation(server: Server) -> None:
    first, _ = publisher_peer(shade=50)
    second, _ = publisher_peer(shade=200)
    first_publishers = await server.publish(first)
    second_publishers = await server.publish(second)
    subscriber, watchers = subscriber_peer(["video"])
    (slot,) = await server.subscribe(subscriber, ["video"])
    slot.switch(first_publishers["video"])
    while "video" not in watchers:
        await asyncio.sleep(0.01)
    watcher = watchers["video"]
    await watcher.wait_for(lambda frames: len(frames) >= 10)
    switched_at = len(watcher.frames)
    slot.switch(second_publishers["video"])
    await watcher.wait_for(lambda frames: any(shade_near(read_stamp(f)[1], 200)
                                              for _, f in frames[switched_at:]
                                              if isinstance(f, av.VideoFrame)))
    await watcher.wait_for(lambda frames: len(frames) >= switched_at + 20)
    assert all(shade_near(shade, 200) for shade in watcher.shades(len(watcher.frames) - 10))
    assert first_publishers["video"]._subscribers == []
    await watcher.stop()
    for peer in (first, second, subscriber):
        await peer.close()


def test_keyframe_detection_reads_the_vp8_frame_tag() -> None:
    assert forwarding.is_keyframe("video/VP8", bytes([0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A]))
    assert not forwarding.is_keyframe("video/VP8", bytes([0x11, 0x02, 0x00]))
    assert forwarding.is_keyframe("video/H264", b"\x00\x00\x01\x65\x88")
    assert not forwarding.is_keyframe("video/H264", b"\x00\x00\x01\x41\x9a")
    assert not forwarding.is_keyframe("video/VP8", b"")


async def test_the_reencoding_fallback_plays_the_same_picture(server: Server) -> None:
    """When legs cannot share a codec, a slot decodes once and encodes for its subscriber (MediaRelay)."""
    publisher, _ = publisher_peer(shade=170)
    publishers = await server.publish(publisher)
    subscriber, watchers = subscriber_peer(["video"])
    client = new_peer()
    server.peers.append(client)
    relay = MediaRelay()
    await subscriber.setLocalDescription(await subscriber.createOffer())
    await client.setRemoteDescription(subscriber.localDescription)
    (transceiver,) = client.getTransceivers()
    slot = ReencodedTrack("video", relay)
    transceiver.sender.replaceTrack(slot)
    transceiver.direction = "sendonly"
    await client.setLocalDescription(await client.createAnswer())
    await subscriber.setRemoteDescription(client.localDescription)
    slot.switch(publishers["video"])
    while "video" not in watchers:
        await asyncio.sleep(0.01)
    await watchers["video"].wait_for(lambda frames: len(frames) >= 10)
    assert all(shade_near(shade, 170) for shade in watchers["video"].shades())
    assert publishers["video"]._tap.decode  # this path decodes; forwarding never does
    await watchers["video"].stop()
    await publisher.close()
    await subscriber.close()


def test_a_decoder_that_falls_behind_drops_its_backlog_and_resumes_at_a_keyframe() -> None:
    class Receiver:
        def getSynchronizationSources(self) -> list[object]:
            return []

    class Codec:
        mimeType = "video/VP8"
        clockRate = 90000

    class Frame:
        def __init__(self, data: bytes, timestamp: int) -> None:
            self.data, self.timestamp = data, timestamp

    publisher = Publisher("video", Receiver(), "video/VP8")  # type: ignore[arg-type]
    tap = publisher._tap
    publisher.request_keyframe = lambda: None  # type: ignore[method-assign]
    tap.decode = True
    key, delta = b"\x10\x02\x00\x9d\x01\x2a", b"\x11\x02\x00"
    tap.put((Codec, Frame(key, 0)))
    for number in range(1, forwarding.MAX_DECODE_BACKLOG["video"] + 3):
        tap.put((Codec, Frame(delta, number * 3000)))
    # The backlog was dropped; deltas are refused until the next keyframe, which is queued again.
    assert tap.qsize() == 0 and tap.dropped > 0
    tap.put((Codec, Frame(key, 99000)))
    assert tap.qsize() == 1 and tap.get()[1].data == key

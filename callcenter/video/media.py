"""The media side of video sessions: one aiortc peer connection per participant, routed by the session.

Every participant's page offers the same layout: its camera and microphone (sent, and the large picture and
the voice received on the same m-lines), then a receive-only video for the small picture, then the chat data
channel. The service answers, pins VP8/Opus so that media can be forwarded encoded, and switches each slot to
the publisher the routing names; a participant who reconnects replaces their old connection.

Real-time text (callcenter.video.rtt): a page may open a T.140 channel (subprotocol "t140") for what it types;
the service opens one T.140 channel to each participant per other role, labelled with that role, for what
the others type.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay
from aiortc.sdp import candidate_from_sdp

from callcenter.video import forwarding, rtt
from callcenter.video.forwarding import ForwardedTrack, Publisher, ReencodedTrack, SlotTrack
from callcenter.video.model import ROLES, VideoProblem, VideoSession, routes
from callcenter.video.recording import SessionRecording

log = logging.getLogger(__name__)

PREFERRED = {"video": forwarding.VIDEO_CODEC, "audio": forwarding.AUDIO_CODEC}
MAX_SDP = 64 * 1024


class MediaError(VideoProblem):
    """An offer or a candidate the media side cannot use."""


@dataclass
class Slot:
    name: str
    kind: str
    transceiver: RTCRtpTransceiver
    codec: str
    relay: MediaRelay
    forward_encoded: bool = True
    track: SlotTrack | None = None

    def play(self, publisher: Publisher | None) -> None:
        forward = self.forward_encoded and forwarding.can_forward(publisher, self.codec)
        wanted = ForwardedTrack if forward else ReencodedTrack
        if not isinstance(self.track, wanted):
            if self.track is not None:
                self.track.stop()
            self.track = ForwardedTrack(self.kind) if forward else ReencodedTrack(self.kind, self.relay)
            self.transceiver.sender.replaceTrack(self.track)
            forwarding.bridge_keyframe_requests(self.transceiver.sender, self.track)
        self.track.switch(publisher)

    def stop(self) -> None:
        if self.track is not None:
            self.track.stop()


@dataclass
class Participant:
    session_id: str
    role: str
    peer: RTCPeerConnection
    publishers: dict[str, Publisher] = field(default_factory=dict)
    slots: dict[str, Slot] = field(default_factory=dict)
    chat: RTCDataChannel | None = None
    # Real-time text to this participant, one channel per other role (the label names it).
    text_out: dict[str, RTCDataChannel] = field(default_factory=dict)

    def frames_sent(self) -> dict[str, int]:
        return {name: slot.track.frames_sent if slot.track else 0 for name, slot in self.slots.items()}


ChatHandler = Callable[[str, str, str], None]
# (session, role, T.140 text typed by that role)
TextHandler = Callable[[str, str, str], None]
StateHandler = Callable[[str, str, "Participant", str], None]


class MediaHub:
    def __init__(self, ice_servers: list[dict[str, Any]] | None = None, recordings: Path | None = None,
                 on_chat: ChatHandler | None = None, on_state: StateHandler | None = None,
                 forward_encoded: bool = True, on_text: TextHandler | None = None) -> None:
        self.forward_encoded = forward_encoded
        self.on_text = on_text
        self.ice_servers = [RTCIceServer(**server) for server in (ice_servers or [])]
        self.recordings = recordings
        self.on_chat = on_chat
        self.on_state = on_state
        self.relay = MediaRelay()
        self.participants: dict[tuple[str, str], Participant] = {}
        self._recording: dict[str, SessionRecording] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def participant(self, session_id: str, role: str) -> Participant | None:
        return self.participants.get((session_id, role))

    async def negotiate(self, session: VideoSession, role: str, offer_sdp: str) -> str:
        """Answer a participant's offer; a second offer from the same role replaces the first connection."""
        if not isinstance(offer_sdp, str) or not offer_sdp.startswith("v=0") or len(offer_sdp) > MAX_SDP:
            raise MediaError("bad_sdp", "the offer is not an SDP session description")
        # An explicit list: with none, aiortc would use a public STUN server.
        peer = RTCPeerConnection(RTCConfiguration(iceServers=self.ice_servers))
        participant = Participant(session.id, role, peer)
        pending_recording: list[Publisher] = []

        @peer.on("track")
        def on_track(track: Any) -> None:
            transceiver = next(t for t in peer.getTransceivers() if t.receiver.track is track)
            if track.kind in participant.publishers:
                return  # the side picture is receive-only: nothing to publish
            forwarding.pin_codec(transceiver, PREFERRED[track.kind])
            publisher = Publisher(track.kind, transceiver.receiver, forwarding.negotiated_codec(transceiver))
            participant.publishers[track.kind] = publisher
            pending_recording.append(publisher)

        @peer.on("datachannel")
        def on_datachannel(channel: RTCDataChannel) -> None:
            if channel.protocol == rtt.PROTOCOL:
                @channel.on("message")
                def on_text(message: Any) -> None:
                    if isinstance(message, str) and self.on_text is not None:
                        self.on_text(session.id, role, message)
                return
            participant.chat = channel

            @channel.on("message")
            def on_message(message: Any) -> None:
                if isinstance(message, str) and self.on_chat is not None:
                    self.on_chat(session.id, role, message)

        @peer.on("connectionstatechange")
        def on_state() -> None:
            if self.participants.get((session.id, role)) is participant and self.on_state is not None:
                self.on_state(session.id, role, participant, peer.connectionState)

        try:
            await peer.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
            self._make_slots(participant)
            if peer.sctp is not None:
                # Opened in-band (DCEP) once the association is up; an offer without data channels gets none.
                participant.text_out = {source: peer.createDataChannel(source, protocol=rtt.PROTOCOL)
                                        for source in ROLES if source != role}
            await peer.setLocalDescription(await peer.createAnswer())
        except MediaError:
            await peer.close()
            raise
        except Exception as exc:  # aiortc raises ValueError, KeyError, ... on a malformed or unusable offer
            await peer.close()
            raise MediaError("bad_sdp", f"the offer could not be used: {type(exc).__name__}") from exc
        old = self.participants.get((session.id, role))
        self.participants[(session.id, role)] = participant
        if old is not None:
            await self._close_participant(old)
        if session.record and self.recordings is not None:
            recording = self._recording.get(session.id)
            if recording is None:
                recording = self._recording[session.id] = SessionRecording(self.recordings, session.id)
            for publisher in pending_recording:
                await recording.add(role, publisher)
        self.apply(session)
        return str(peer.localDescription.sdp)

    def _make_slots(self, participant: Participant) -> None:
        transceivers = participant.peer.getTransceivers()
        kinds = [t.kind for t in transceivers]
        if kinds[:2] != ["video", "audio"] or any(kind not in ("video", "audio") for kind in kinds[2:]):
            raise MediaError("bad_layout", "offer camera video, then microphone audio, then the small picture")
        names = ["main", "audio", "side"]
        for name, transceiver in zip(names, transceivers, strict=False):
            forwarding.pin_codec(transceiver, PREFERRED[transceiver.kind])
            transceiver.direction = "sendrecv"
            participant.slots[name] = Slot(name, transceiver.kind, transceiver,
                                           forwarding.negotiated_codec(transceiver), self.relay,
                                           self.forward_encoded)
            participant.slots[name].play(None)

    async def add_candidate(self, session_id: str, role: str, candidate: dict[str, Any]) -> None:
        """A trickled ICE candidate from the participant's browser."""
        participant = self.participant(session_id, role)
        if participant is None:
            raise MediaError("no_connection", "send the offer before candidates")
        text = candidate.get("candidate")
        if not isinstance(text, str):
            raise MediaError("bad_candidate", "candidate must be a string")
        if not text:
            return  # end of candidates
        try:
            parsed = candidate_from_sdp(text.removeprefix("candidate:"))
            parsed.sdpMid = candidate.get("sdpMid")
            parsed.sdpMLineIndex = candidate.get("sdpMLineIndex")
            await participant.peer.addIceCandidate(parsed)
        except Exception as exc:
            raise MediaError("bad_candidate", f"the candidate could not be used: {type(exc).__name__}") from exc

    def apply(self, session: VideoSession) -> None:
        """Point every slot of every connected participant at the publisher the routing names."""
        table = routes(session.mode, session.present())
        for (session_id, role), participant in self.participants.items():
            if session_id != session.id:
                continue
            for name, slot in participant.slots.items():
                source = table.get((role, name))
                publisher = None
                if source is not None:
                    other = self.participants.get((session.id, source[0]))
                    publisher = other.publishers.get(source[1]) if other else None
                slot.play(publisher)

    def send_chat(self, session_id: str, role: str, text: str) -> bool:
        participant = self.participant(session_id, role)
        if participant is None or participant.chat is None or participant.chat.readyState != "open":
            return False
        participant.chat.send(text)
        return True

    def send_text(self, session_id: str, role: str, source: str, t140: str) -> bool:
        """Real-time text typed by `source` to `role`'s page; False when its channel is not open."""
        participant = self.participant(session_id, role)
        channel = participant.text_out.get(source) if participant is not None else None
        if channel is None or channel.readyState != "open":
            return False
        channel.send(t140)
        return True

    async def drop(self, session_id: str, role: str) -> None:
        participant = self.participants.pop((session_id, role), None)
        if participant is not None:
            await self._close_participant(participant)

    async def close_session(self, session_id: str) -> list[Path]:
        for key in [key for key in self.participants if key[0] == session_id]:
            await self.drop(*key)
        recording = self._recording.pop(session_id, None)
        return await recording.close() if recording is not None else []

    async def close(self) -> None:
        for session_id in {key[0] for key in self.participants} | set(self._recording):
            await self.close_session(session_id)

    async def _close_participant(self, participant: Participant) -> None:
        recording = self._recording.get(participant.session_id)
        for publisher in participant.publishers.values():
            if recording is not None:
                await recording.remove(publisher)
            publisher.end()
        for other in self.participants.values():
            for slot in other.slots.values():
                if slot.track is not None and slot.track.source in participant.publishers.values():
                    slot.play(None)
        for slot in participant.slots.values():
            slot.stop()
        with contextlib.suppress(Exception):
            await participant.peer.close()

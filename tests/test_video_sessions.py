"""A video session end to end over the real web app, with real aiortc peers for the resident, the interpreter
and the operator: routing of decoded frames, chat, a drop and a rejoin, the end, the recording, bad input."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.config import Settings
from callcenter.pbx.simulator import PbxSimulator, SimConfig
from callcenter.server import build_service
from callcenter.video.ice import use_host_addresses
from callcenter.video.probe import read_stamp
from callcenter.video.recording import read_ivf
from callcenter.web.app import create_app
from callcenter.web.hotline import PBX_LINK
from callcenter.web.keys import CLOCK
from callcenter.web.video import VIDEO, VIDEO_NOTIFY
from tests.videotools import SHADES, Notifications, Peer, shade_near, staff


@pytest.fixture(autouse=True)
def _loopback_ice() -> None:
    use_host_addresses(["127.0.0.1"])


@pytest.fixture
async def video_app(settings: Settings, redis: Any, tmp_path: Path) -> AsyncIterator[tuple[TestClient, Notifications]]:
    settings = settings.replace("hours", open="00:00", close="24:00") \
        .replace("video", recordings=str(tmp_path / "recordings"), grace_seconds=5.0, offer_seconds=5.0)
    app = create_app(settings, redis_url=settings.redis.url)
    notifications = Notifications()
    app[VIDEO_NOTIFY] = notifications
    client = TestClient(TestServer(app))
    await client.start_server()
    yield client, notifications
    await client.close()


async def test_a_sign_language_session_from_start_to_recording(
        video_app: tuple[TestClient, Notifications], tmp_path: Path) -> None:
    client, notifications = video_app
    started = await client.post("/api/video/sessions", json={"mode": "sign", "consent": True, "record": True})
    assert started.status == 201, await started.text()
    body = await started.json()
    session_id, token = body["session"]["id"], body["token"]
    assert body["session"]["state"] == "waiting_interpreter" and body["session"]["waiting"]["position"] == 1

    resident = Peer("resident", client)
    await resident.connect({"token": token})
    await resident.start_media()

    interpreter_http, interpreter_csrf = await staff(client, "interpreter", "ivanova")
    operator_http, operator_csrf = await staff(client, "operator", "petrov")
    assert (await interpreter_http.post("/api/video/interpreter/status", json={"status": "available"},
                                        headers=interpreter_csrf)).status == 200
    await notifications.wait_for("video_offer", session=session_id, for_user="ivanova")
    # The operator cannot come before the interpreter: out of order, refused, nothing changes.
    early = await operator_http.post(f"/api/video/sessions/{session_id}/join", headers=operator_csrf)
    assert early.status == 409 and (await early.json())["error"] == "not_ready"
    accepted = await interpreter_http.post(f"/api/video/sessions/{session_id}/accept", headers=interpreter_csrf)
    assert accepted.status == 200 and (await accepted.json())["session"]["state"] == "with_interpreter"
    await resident.expect("state", event="interpreter_accepted")

    interpreter = Peer("interpreter", interpreter_http)
    await interpreter.connect({"session": session_id})
    await interpreter.start_media()
    await resident.sees("main", "interpreter")
    await interpreter.sees("main", "resident")

    joined = await operator_http.post(f"/api/video/sessions/{session_id}/join", headers=operator_csrf)
    assert joined.status == 200 and (await joined.json())["session"]["state"] == "with_operator"
    operator = Peer("operator", operator_http)
    await operator.connect({"session": session_id})
    await operator.start_media()

    # The routing: resident sees interpreter (large) and operator (small); the interpreter sees the resident
    # and hears the operator; the operator hears the interpreter and sees the resident.
    await resident.sees("main", "interpreter")
    await resident.sees("side", "operator")
    await interpreter.sees("main", "resident")
    await interpreter.hears("operator")
    await operator.sees("main", "resident")
    await operator.hears("interpreter")

    # Chat over the data channels, kept with the session.
    resident.chat.send("Здравствуйте, я по поводу субсидии")
    await interpreter.watchers["main"].wait_for(lambda _: "Здравствуйте, я по поводу субсидии"
                                                in interpreter.chat_received)
    assert "Здравствуйте, я по поводу субсидии" in operator.chat_received or \
        await asyncio.wait_for(_until(lambda: "Здравствуйте, я по поводу субсидии" in operator.chat_received), 5)
    assert interpreter.ws is not None
    await interpreter.ws.send_json({"type": "chat", "text": "Оператор вас слышит"})
    await _eventually(lambda: "Оператор вас слышит" in resident.chat_received)

    # The interpreter drops (browser gone) and comes back within the grace period: the session never moved.
    await interpreter.close()
    interpreter = Peer("interpreter", interpreter_http)
    await interpreter.connect({"session": session_id})
    await interpreter.start_media()
    await resident.sees("main", "interpreter")
    await operator.hears("interpreter")
    history = await (await operator_http.get(f"/api/video/sessions/{session_id}")).json()
    assert [h["state"] for h in history["session"]["history"]][-1] == "with_operator", history
    assert [m["text"] for m in history["chat"]] == ["Здравствуйте, я по поводу субсидии", "Оператор вас слышит"]

    ended = await operator_http.post(f"/api/video/sessions/{session_id}/end", headers=operator_csrf)
    assert ended.status == 200 and (await ended.json())["session"]["state"] == "ended"
    await resident.expect("state", event="ended")
    states = [h["state"] for h in (await ended.json())["session"]["history"]]
    assert states[0] == "waiting_interpreter" and states[-1] == "ended" and "with_operator" in states

    recordings = sorted((tmp_path / "recordings" / session_id).iterdir())
    names = [path.name.split("-", 1)[1] for path in recordings]
    assert {"resident-video.ivf", "resident-audio.ogg", "interpreter-video.ivf", "operator-video.ivf"} <= set(names)
    (width, height), frames = read_ivf(next(p for p in recordings if p.name.endswith("resident-video.ivf")))
    assert (width, height) == (640, 480) and len(frames) > 10
    decoder = av.CodecContext.create("libvpx", "r")
    decoded = [f for data in frames[:5] for f in decoder.decode(av.Packet(data))]
    assert decoded and shade_near(read_stamp(decoded[0])[1], SHADES["resident"])
    audio = next(p for p in recordings if p.name.endswith("resident-audio.ogg"))
    with av.open(str(audio)) as container:
        assert container.streams.audio and container.duration and container.duration > 0

    for peer in (resident, interpreter, operator):
        await peer.close()
    await interpreter_http.close()
    await operator_http.close()


async def _until(condition: Any) -> bool:
    while not condition():
        await asyncio.sleep(0.02)
    return True


async def _eventually(condition: Any) -> None:
    await asyncio.wait_for(_until(condition), 10)


async def test_bad_input_gets_clear_errors_and_leaves_the_session_intact(
        video_app: tuple[TestClient, Notifications]) -> None:
    client, _ = video_app
    no_consent = await client.post("/api/video/sessions", json={"mode": "sign", "consent": False})
    assert no_consent.status == 400 and (await no_consent.json())["error"] == "consent_required"
    bad_mode = await client.post("/api/video/sessions", json={"mode": "hologram", "consent": True})
    assert bad_mode.status == 422
    unknown = await client.get("/api/video/session", headers={"X-Video-Token": "nonsense"})
    assert unknown.status == 401 and (await unknown.json())["error"] == "bad_token"

    ws = await client.ws_connect("/api/video/ws")
    await ws.send_json({"type": "hello", "token": "forged"})
    assert (await ws.receive_json())["error"] == "bad_token"
    await ws.close()

    started = await (await client.post("/api/video/sessions", json={"mode": "operator", "consent": True})).json()
    resident = Peer("resident", client)
    await resident.connect({"token": started["token"]})
    assert resident.ws is not None
    since = len(resident.inbox)
    await resident.ws.send_json({"type": "candidate", "candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host",
                                 "sdpMid": "0", "sdpMLineIndex": 0})
    assert (await resident.expect("error", since))["error"] == "no_connection"
    since = len(resident.inbox)
    await resident.ws.send_json({"type": "offer", "sdp": "v=0\r\nthis is not sdp"})
    assert (await resident.expect("error", since))["error"] == "bad_layout"  # no camera, no microphone
    since = len(resident.inbox)
    await resident.ws.send_json({"type": "offer", "sdp": "v=0\r\nm=video notaport UDP/TLS/RTP/SAVPF 96\r\n"})
    assert (await resident.expect("error", since))["error"] == "bad_sdp"
    since = len(resident.inbox)
    await resident.ws.send_json({"type": "offer", "sdp": 42})
    assert (await resident.expect("error", since))["error"] == "bad_sdp"
    since = len(resident.inbox)
    await resident.ws.send_str("not json")
    assert (await resident.expect("error", since))["error"] == "bad_message"
    since = len(resident.inbox)
    await resident.ws.send_json({"type": "teleport"})
    assert (await resident.expect("error", since))["error"] == "unknown_type"
    since = len(resident.inbox)
    await resident.ws.send_json({"type": "chat", "text": "   "})
    assert (await resident.expect("error", since))["error"] == "bad_chat"
    # After all that the session is as it was, and a good offer still works.
    await resident.start_media()
    service = client.app[VIDEO]
    assert service.sessions[started["session"]["id"]].state == "waiting_operator"

    interpreter_http, csrf = await staff(client, "interpreter", "sidorova")
    refused = await interpreter_http.post(f"/api/video/sessions/{started['session']['id']}/accept", headers=csrf)
    assert refused.status == 409 and (await refused.json())["error"] == "not_offered"
    stranger = await client.ws_connect("/api/video/ws")
    await stranger.send_json({"type": "hello", "session": started["session"]["id"]})
    assert (await stranger.receive_json())["error"] == "login_required"
    await stranger.close()
    await resident.close()
    await interpreter_http.close()


async def test_outside_working_hours_the_page_is_told_when_it_opens(settings: Settings, redis: Any) -> None:
    app = create_app(settings, redis_url=settings.redis.url)
    # Monday 2026-11-23 03:00 UTC is 06:00 in Moscow: two hours before the line opens.
    app[CLOCK] = lambda: datetime(2026, 11, 23, 3, 0, tzinfo=UTC).timestamp()
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        response = await client.post("/api/video/sessions", json={"mode": "sign", "consent": True})
        body = await response.json()
        assert response.status == 409 and body["error"] == "closed"
        assert body["detail"]["opens_at"] == "2026-11-23T05:00:00+00:00"
    finally:
        await client.close()


@dataclasses.dataclass
class QueuedVideo:
    sim: PbxSimulator
    client: TestClient
    link: Any
    feed: asyncio.Queue[dict[str, Any]]


@contextlib.asynccontextmanager
async def queued_video(settings: Settings, feed_size: int | None = None) -> AsyncIterator[QueuedVideo]:
    """The service on the PBX simulator, open all day, with no operator in the queue yet."""
    use_host_addresses(["127.0.0.1"])
    sim = PbxSimulator(SimConfig(agents=0, secret="s", generate_traffic=False))
    await sim.start()
    settings = settings.replace("hours", open="00:00", close="24:00").replace("video", recordings="")
    app = build_service(settings.replace("ami", host="127.0.0.1", port=sim.port, secret="s"))
    if feed_size is not None:
        app[PBX_LINK].feed.maxsize = feed_size
    client = TestClient(TestServer(app))
    await client.start_server()
    link = app[PBX_LINK]
    feed = link.feed.listen()
    try:
        await link.client.wait_until(lambda: link.resyncs >= 1, 5)
        yield QueuedVideo(sim, client, link, feed)
    finally:
        link.feed.forget(feed)
        await client.close()
        await sim.stop()


async def test_the_operator_comes_from_the_hotline_queue_in_the_callers_order(settings: Settings, redis: Any) -> None:
    """A video consultation waits in the Asterisk queue as a placeholder; app_queue's choice of operator is
    told to that operator's dashboard; the placeholder is hung up when the video ends."""
    async with queued_video(settings) as queued:
        sim, client, link, feed = queued.sim, queued.client, queued.link, queued.feed
        operator_http, csrf = await staff(client, "operator", "petrov")
        started = await (await client.post("/api/video/sessions", json={"mode": "operator", "consent": True})).json()
        session_id = started["session"]["id"]
        originate = await asyncio.wait_for(_until(lambda: any(
            "@video-placeholder" in (o.headers.get("Channel") or "") for o in sim.originates)), 5)
        assert originate
        await link.client.wait_until(lambda: bool(link.tracker.queue("hotline", link.now()).waiting), 5)
        waiting = (await (await client.get("/api/video/session",
                                           headers={"X-Video-Token": started["token"]})).json())["session"]["waiting"]
        assert waiting["waiting_for"] == "operator" and waiting["position"] == 1

        # The operator logs in to the queue: app_queue connects them to the placeholder.
        assert (await operator_http.post("/api/me/queue", json={"in": True}, headers=csrf)).status == 200
        assigned = await asyncio.wait_for(_next(feed, "video_assigned"), 10)
        assert assigned["session"] == session_id and assigned["for_user"] == "petrov"
        counters = link.tracker.queue("hotline", link.now()).counters
        assert counters.answered == 0  # a video session is not an answered call

        joined = await operator_http.post(f"/api/video/sessions/{session_id}/join", headers=csrf)
        assert joined.status == 200 and (await joined.json())["session"]["state"] == "with_operator"
        ended = await operator_http.post(f"/api/video/sessions/{session_id}/end", headers=csrf)
        assert ended.status == 200
        await asyncio.wait_for(_until(lambda: any(a.name == "Hangup" and a.get("Channel") == f"video-{session_id}"
                                                  for a in sim.actions)), 5)
        await operator_http.close()


async def test_the_operator_is_assigned_even_when_the_dashboards_feed_overflows(settings: Settings,
                                                                                 redis: Any) -> None:
    """The dashboards' feed drops a slow listener's backlog. app_queue's choice of operator for a video must
    not ride on it: under a simulated day's load the screen pops fell behind, the connect was dropped, and the
    operator's phone sat on a silent placeholder for an hour. A one-change feed drops every connect."""
    async with queued_video(settings, feed_size=1) as queued:
        client, link = queued.client, queued.link
        operator_http, csrf = await staff(client, "operator", "petrov")
        started = await (await client.post("/api/video/sessions", json={"mode": "operator", "consent": True})).json()
        session_id = started["session"]["id"]
        await link.client.wait_until(lambda: bool(link.tracker.queue("hotline", link.now()).waiting), 5)
        assert (await operator_http.post("/api/me/queue", json={"in": True}, headers=csrf)).status == 200
        service = client.app[VIDEO]
        await _eventually(lambda: service.assigned_operator.get(session_id) == "petrov")
        listing = await (await operator_http.get("/api/video/sessions")).json()
        session = next(s for s in listing["sessions"] if s["id"] == session_id)
        assert session["assigned_operator"] == "petrov"
        joined = await operator_http.post(f"/api/video/sessions/{session_id}/join", headers=csrf)
        assert joined.status == 200 and (await joined.json())["session"]["state"] == "with_operator"
        await operator_http.close()


async def test_a_session_given_to_a_phone_nobody_watches_goes_back_to_the_front(settings: Settings,
                                                                                redis: Any) -> None:
    """app_queue may connect the placeholder to a queue member without a dashboard account: nobody would see
    the session, so it goes back to the front of the queue, and the next operator with a dashboard gets it."""
    async with queued_video(settings) as queued:
        sim, client, link, feed = queued.sim, queued.client, queued.link, queued.feed
        operator_http, csrf = await staff(client, "operator", "petrov")
        started = await (await client.post("/api/video/sessions", json={"mode": "operator", "consent": True})).json()
        await link.client.wait_until(lambda: bool(link.tracker.queue("hotline", link.now()).waiting), 5)
        sim.caller_arrives("79160000001", "Later Caller", patience=3600, handle=600)  # behind the session
        # A phone with no account logs in to the queue (a hot desk, a misconfigured member): it gets the session.
        sim._add_member("Local/99@agents", "nobody", paused=False)

        def placed() -> list[Any]:
            return [a for a in sim.actions
                    if a.name == "Originate" and "@video-placeholder" in (a.get("Channel") or "")]

        await asyncio.wait_for(_until(lambda: len(placed()) == 2), 10)
        assert "CC_POSITION=1" in placed()[1].get_all("Variable") and "CC_POSITION=1" not in placed()[0].get_all(
            "Variable")
        await link.client.wait_until(lambda: [c.kind for c in link.tracker.queue("hotline", link.now()).waiting]
                                     == ["video", "call"], 5)
        # The next operator with a dashboard gets it, ahead of the caller who came later.
        assert (await operator_http.post("/api/me/queue", json={"in": True}, headers=csrf)).status == 200
        assigned = await asyncio.wait_for(_next(feed, "video_assigned"), 10)
        assert assigned["session"] == started["session"]["id"] and assigned["for_user"] == "petrov"
        assert len(placed()) == 2
        await operator_http.close()


async def _next(feed: asyncio.Queue[dict[str, Any]], kind: str) -> dict[str, Any]:
    while True:
        change = await feed.get()
        if change["type"] == kind:
            return change


async def test_a_resident_who_drops_for_longer_than_the_grace_period_has_left(
        video_app: tuple[TestClient, Notifications]) -> None:
    client, notifications = video_app
    service = client.app[VIDEO]
    started = await (await client.post("/api/video/sessions", json={"mode": "sign", "consent": True})).json()
    resident = Peer("resident", client)
    await resident.connect({"token": started["token"]})
    await resident.start_media()
    service.settings = dataclasses.replace(service.settings, grace_seconds=0.3)
    await resident.close()  # the browser is gone: no goodbye
    ended = await notifications.wait_for("video_session", event="resident_dropped")
    assert ended["session"]["state"] == "ended" and ended["session"]["ended_reason"] == "resident_left"

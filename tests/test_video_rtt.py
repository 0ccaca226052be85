"""Real-time text (T.140 as RFC 8865 carries it): the pure line keeping, and the relay through the service over
the T.140 data channels and the signalling fallback; the wait estimate while an interpreter is being offered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.config import Settings
from callcenter.video.ice import use_host_addresses
from callcenter.video.limits import MAX_CHAT_CHARS
from callcenter.video.rtt import BACKSPACE, LINE_SEPARATOR, MAX_MESSAGE, Line, Shown, Throttle, increment
from callcenter.web.app import create_app
from callcenter.web.video import VIDEO, VIDEO_NOTIFY
from tests.videotools import Notifications, Peer, apply_t140, staff


def test_an_increment_erases_back_to_the_common_prefix_and_types_the_rest() -> None:
    assert increment("", "При") == "При"
    assert increment("Привет", "Прив") == BACKSPACE * 2
    assert increment("Привет", "Приём") == BACKSPACE * 3 + "ём"
    assert increment("same", "same") == ""
    for before, after in [("", "абв"), ("абв", ""), ("кот", "кит"), ("🙂a", "🙂b")]:
        assert apply_t140(before, increment(before, after)) == after


def test_a_line_follows_backspaces_and_ends_and_drops_what_cannot_be_shown() -> None:
    line = Line()
    line.apply("Здравствуйте\b\b\bй")
    assert (line.text, line.number) == ("Здравствуй", 0)
    line.apply(BACKSPACE * 50)  # more than there is: an empty line, not an error
    assert line.text == ""
    line.apply("да\x07\ufeff нет" + LINE_SEPARATOR + "ещё")
    assert (line.text, line.number) == ("ещё", 1)
    line.apply("\r\n")  # CR LF ends one line, not two
    assert (line.text, line.number) == ("", 2)
    line.apply("я" * (MAX_CHAT_CHARS + 10))
    assert len(line.text) == MAX_CHAT_CHARS


def test_a_receiver_is_brought_up_to_date_with_one_message_however_much_was_typed() -> None:
    line, shown = Line(), Shown()
    for char in "Мне нужна справка":
        line.apply(char)
    assert shown.catch_up(line) == "Мне нужна справка"
    assert shown.catch_up(line) == ""  # nothing new, nothing sent
    line.apply("\b\b\b\b\b\b\bпомощь")
    assert apply_t140("Мне нужна справка", shown.catch_up(line)) == "Мне нужна помощь"
    line.end()
    line.apply("Спасибо")
    assert shown.catch_up(line) == LINE_SEPARATOR + "Спасибо"


def test_the_throttle_lets_one_send_through_per_interval() -> None:
    throttle = Throttle(interval=0.15)
    assert throttle.delay(10.0) == 0.0
    throttle.sent(10.0)
    assert throttle.delay(10.05) == pytest.approx(0.10)
    assert throttle.delay(10.2) == 0.0


@pytest.fixture
async def video_app(settings: Settings, redis: Any) -> AsyncIterator[tuple[TestClient, Notifications]]:
    use_host_addresses(["127.0.0.1"])
    settings = settings.replace("hours", open="00:00", close="24:00").replace("video", recordings="")
    app = create_app(settings, redis_url=settings.redis.url)
    notifications = Notifications()
    app[VIDEO_NOTIFY] = notifications
    client = TestClient(TestServer(app))
    await client.start_server()
    yield client, notifications
    await client.close()


async def test_typed_text_reaches_the_others_as_it_is_typed_and_is_not_stored(
        video_app: tuple[TestClient, Notifications]) -> None:
    client, notifications = video_app
    body = await (await client.post("/api/video/sessions", json={"mode": "sign", "consent": True})).json()
    session_id = body["session"]["id"]
    resident = Peer("resident", client)
    await resident.connect({"token": body["token"]})
    waiting = await resident.expect("state")
    assert waiting["session"]["waiting"]["offered"] is False
    assert waiting["session"]["waiting"]["estimated_wait"] is None  # nobody on duty: no made-up figure

    http, csrf = await staff(client, "interpreter", "ivanova")
    assert (await http.post("/api/video/interpreter/status", json={"status": "available"},
                            headers=csrf)).status == 200
    await notifications.wait_for("video_offer", session=session_id)
    # While the free interpreter is being offered the session, the resident is told so, with no wait left.
    offered = await resident.expect("state", event="waiting")
    assert offered["session"]["waiting"]["offered"] is True
    assert offered["session"]["waiting"]["estimated_wait"] == 0
    assert (await http.post(f"/api/video/sessions/{session_id}/accept", headers=csrf)).status == 200

    await resident.start_media(real_time_text=True)
    interpreter = Peer("interpreter", http)
    await interpreter.connect({"session": session_id})
    await interpreter.start_media(real_time_text=True)

    # Over the T.140 data channels, both ways, before any line is finished.
    await _open(resident.text_channel)
    for char in "Мне нужна справкк":
        resident.text_channel.send(char)
    resident.text_channel.send(BACKSPACE + "а")
    await interpreter.sees_typed("resident", "Мне нужна справка")
    await _open(interpreter.text_channel)
    interpreter.text_channel.send("Какая именно?")
    await resident.sees_typed("interpreter", "Какая именно?")

    # The finished line goes as chat: stored once; the typed line ends on the other side.
    assert interpreter.ws is not None and resident.ws is not None
    await interpreter.ws.send_json({"type": "chat", "text": "Какая именно?"})
    await resident.sees_typed("interpreter", "")
    # The signalling fallback carries the same T.140 text; oversized messages are refused, not cut.
    since = len(interpreter.inbox)
    await resident.ws.send_json({"type": "text", "t140": "x" * (MAX_MESSAGE + 1)})
    refused = await resident.expect("error", error="text_too_long")
    assert refused["message"]
    chat = await (await http.get(f"/api/video/sessions/{session_id}")).json()
    assert [m["text"] for m in chat["chat"]] == ["Какая именно?"]
    assert not [m for m in interpreter.inbox[since:] if m["type"] == "text"]
    service = client.app[VIDEO]
    assert service._lines[(session_id, "resident")].text == "Мне нужна справка"

    # A flood is not typing: refused past a generous allowance, without touching the line.
    for _ in range(60):
        await resident.ws.send_json({"type": "text", "t140": "я"})
    flooded = await resident.expect("error", error="text_too_fast")
    assert flooded["message"] and len(service._lines[(session_id, "resident")].text) < len("Мне нужна справка") + 60

    # Typing costs no chat allowance; lines sent faster than the chat allows are refused and the page is told.
    for number in range(12):
        resident.chat.send(f"строка {number}")
    too_fast = await resident.expect("error", error="chat_too_fast")
    assert too_fast["message"]

    await resident.close()
    await interpreter.close()
    await http.close()


async def _open(channel: Any) -> None:
    if channel.readyState != "open":
        opened = asyncio.Event()
        channel.on("open", opened.set)
        await asyncio.wait_for(opened.wait(), 10)

"""Issue 16, point 6: video sessions limited per address, chat limited per participant (size, pace, history)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.config import Settings
from callcenter.video import service as video_service
from callcenter.video.limits import MAX_CHAT_CHARS, StartLimits, TokenBucket
from callcenter.video.service import VideoError
from callcenter.web.app import create_app
from callcenter.web.video import VIDEO

SIGN = {"mode": "sign", "consent": True}


@pytest.fixture
async def client(settings: Settings, redis: Any) -> AsyncIterator[TestClient]:
    settings = settings.replace("hours", open="00:00", close="24:00").replace("video", recordings="") \
        .replace("http", trusted_proxies=["127.0.0.1"])
    client = TestClient(TestServer(create_app(settings, redis_url=settings.redis.url)))
    await client.start_server()
    yield client
    await client.close()


async def start(client: TestClient, address: str) -> Any:
    return await client.post("/api/video/sessions", json=SIGN, headers={"X-Forwarded-For": address})


def test_a_bucket_allows_a_burst_then_its_pace() -> None:
    bucket = TokenBucket(capacity=3, rate=2.0)
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(100.5) is True  # half a second later: one more
    assert bucket.take(100.5) is False


def test_start_limits() -> None:
    limits = StartLimits(live_per_address=2, starts_per_address_hour=5)
    assert limits.refusal(1, 4) is None
    assert limits.refusal(2, 0) == "live"
    assert limits.refusal(0, 5) == "hourly"


async def test_one_address_has_two_sessions_going_at_most(client: TestClient) -> None:
    first, second = await start(client, "10.0.0.1"), await start(client, "10.0.0.1")
    assert (first.status, second.status) == (201, 201)
    third = await start(client, "10.0.0.1")
    assert third.status == 429
    body = await third.json()
    assert body["error"] == "too_many_sessions" and int(third.headers["Retry-After"]) > 0
    assert (await start(client, "10.0.0.2")).status == 201  # a neighbour is not held
    service = client.app[VIDEO]
    await service.end((await first.json())["session"]["id"], "resident")
    assert (await start(client, "10.0.0.1")).status == 201  # one ended: room for another
    assert len([s for s in service.sessions.values() if not s.ended]) == 3  # the refused one was never made


async def test_one_address_starts_five_sessions_an_hour_at_most(client: TestClient) -> None:
    service = client.app[VIDEO]
    for _ in range(5):
        response = await start(client, "10.0.0.3")
        assert response.status == 201
        await service.end((await response.json())["session"]["id"], "resident")
    refused = await start(client, "10.0.0.3")
    assert refused.status == 429
    assert "hour" in (await refused.json())["detail"]["message"]


async def test_chat_lines_are_bounded_in_size_pace_and_number(client: TestClient,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    service = client.app[VIDEO]
    session_id = (await (await start(client, "10.0.0.4")).json())["session"]["id"]
    with pytest.raises(VideoError) as too_long:
        await service.chat(session_id, "resident", "ж" * (MAX_CHAT_CHARS + 1))
    assert too_long.value.code == "chat_too_long"
    assert await service.store.chat(session_id) == []  # refused, not cut and kept

    for number in range(10):
        await service.chat(session_id, "resident", f"строка {number}")
    with pytest.raises(VideoError) as too_fast:
        await service.chat(session_id, "resident", "и ещё")
    assert too_fast.value.code == "chat_too_fast" and too_fast.value.status == 429
    await service.chat(session_id, "interpreter", "ответ")  # each participant has their own allowance

    monkeypatch.setattr(video_service, "MAX_CHAT_LINES", 11)
    service._chat_buckets.clear()
    with pytest.raises(VideoError) as full:
        await service.chat(session_id, "operator", "двенадцатая")
    assert full.value.code == "chat_full"
    kept = await service.store.chat(session_id)
    assert [line["text"] for line in kept][:2] == ["строка 0", "строка 1"] and len(kept) == 11

"""A video session reaches an operator through the real Asterisk queue (its silent placeholder)."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from tests.asterisk.conftest import Events
from tests.asterisk.pbx import RealPbx, wait_for, wait_for_async


@pytest.mark.usefixtures("transcript")
async def test_a_video_session_with_an_operator_reaches_the_operator_the_queue_chose(
        pbx: RealPbx, events: Events, service_factory: Any, desk: Any, store: aioredis.Redis) -> None:
    service = await service_factory()
    operator = await desk(service, "101", paused=True)
    async with aiohttp.ClientSession() as resident, resident.post(
            f"{service.url}/api/video/sessions", json={"mode": "operator", "consent": True},
            headers={"Origin": service.url}) as response:
        started = await response.json()
        assert response.status == 201, started
    session_id = started["session"]["id"]
    placeholder = f"video-{session_id}"
    joined = await events.wait(lambda m: m.name == "QueueCallerJoin" and m.get("Uniqueid") == placeholder, 20,
                               "the video placeholder in the queue")
    assert "@video-placeholder" in (joined.get("Channel") or "")
    assert "@video-placeholder" in await pbx.command("queue show hotline")
    await operator.pause(False)
    connected = await events.wait(lambda m: m.name == "AgentConnect" and m.get("Uniqueid") == placeholder, 30,
                                  "the operator connected to the video placeholder")
    assert connected.get("Interface") == operator.interface
    # [video-operator] ran on the operator's side, in Russian.
    said = await events.wait(lambda m: m.name == "UserEvent" and m.get("UserEvent") == "VideoOperator", 10,
                             "the operator's side of the placeholder")
    assert said.get("Session") == session_id
    # Asterisk logs the playback just after the UserEvent: wait for the line rather than read the log at once.
    await wait_for(lambda: re.search(r"Playing 'hotline/video-session-on-screen\.(slin|wav)' \(language 'ru'\)",
                                     pbx.log_text()), 10, "the operator's prompt played in Russian")

    async def assigned() -> dict[str, Any] | None:
        assert operator.session is not None
        async with operator.session.get(f"{service.url}/api/video/sessions/{session_id}") as answer:
            body: dict[str, Any] = (await answer.json())["session"]
        return body if body.get("assigned_operator") == operator.username else None

    view = await wait_for_async(assigned, 20, "the session assigned to the operator the queue chose")
    assert view["assigned_operator"] == operator.username
    assert not [line for line in pbx.log_text().splitlines() if "already in use by channel" in line]

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from callcenter.config import Settings
from callcenter.pbx.simulator import PbxSimulator, SimConfig
from callcenter.pbx.tracker import Counters
from callcenter.server import build_service
from callcenter.web.app import create_app
from callcenter.web.hotline import PBX_LINK
from tests.conftest import staff_login

LONG = 10_000.0


@pytest.fixture
async def simulator() -> AsyncIterator[PbxSimulator]:
    sim = PbxSimulator(SimConfig(agents=2, secret="s", generate_traffic=False, agent_no_answer=0.0))
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
async def client(settings: Settings, redis: aioredis.Redis, simulator: PbxSimulator) -> AsyncIterator[TestClient]:
    # `redis` empties the store: a service continues today's counters from the facts it finds there.
    configured = settings.replace("ami", host="127.0.0.1", port=simulator.port, secret="s")
    client = TestClient(TestServer(build_service(configured)))
    await client.start_server()
    await client.app[PBX_LINK].client.wait_until(lambda: client.app[PBX_LINK].resyncs >= 1, 5)
    await staff_login(client, "supervisor")
    yield client
    await client.close()


async def test_snapshot_has_position_aware_estimates(client: TestClient, simulator: PbxSimulator) -> None:
    for index in range(4):  # two are taken by the two operators, two wait
        simulator.caller_arrives(f"555000{index}", "Иванов Иван", patience=LONG, handle=LONG)
    async with client.ws_connect("/api/queue/stream") as ws:
        first = await ws.receive_json(timeout=5)
        assert first["type"] == "snapshot"
        connected = 0
        while connected < 2:
            message = await ws.receive_json(timeout=5)
            connected += message["type"] == "call_connected"
    response = await client.get("/api/queue")
    assert response.status == 200
    body = await response.json()
    queue = body["queue"]
    assert body["connected"] is True
    assert [c["position"] for c in queue["waiting"]] == [1, 2]
    first_wait, second_wait = (c["estimated_wait_seconds"] for c in queue["waiting"])
    assert 0 < first_wait < second_wait
    assert queue["figures"]["operators_talking"] == 2
    assert queue["figures"]["operators_free"] == 0
    assert queue["counters"]["answered"] == 2
    assert queue["figures"]["service_level"] == 1.0


async def test_stream_pushes_each_change(client: TestClient, simulator: PbxSimulator) -> None:
    async with client.ws_connect("/api/queue/stream") as ws:
        snapshot = await ws.receive_json(timeout=5)
        assert snapshot["queue"]["waiting"] == []
        simulator.caller_arrives("5559999", "x", patience=LONG, handle=LONG)
        while (joined := await ws.receive_json(timeout=5))["type"] != "caller_joined":
            pass
        # The join comes with the wait the caller is told, as the next snapshot has it.
        assert joined["caller"]["position"] == 1
        told = joined["caller"]["estimated_wait_seconds"]
        assert isinstance(told, float) and told > 0
        await ws.send_str("snapshot")
        while (message := await ws.receive_json(timeout=5))["type"] != "snapshot":
            pass
        assert message["queue"]["counters"]["offered"] == 1


async def test_queue_without_a_pbx_link_is_a_json_503(settings: Settings) -> None:
    client = TestClient(TestServer(create_app(settings, redis_url=settings.redis.url)))
    await client.start_server()
    try:
        await staff_login(client, "supervisor")
        response = await client.get("/api/queue")
        assert response.status == 503
        assert (await response.json())["error"] == "no_pbx_link"
    finally:
        await client.close()


async def test_todays_counters_survive_a_restart_of_the_service(settings: Settings, redis: aioredis.Redis) -> None:
    """`/api/queue`'s day figures continue after `serve` restarts (against the same store and PBX): from the
    day report's facts, without offering twice the caller who waits through the restart."""
    sim = PbxSimulator(SimConfig(agents=1, secret="s", generate_traffic=False, agent_no_answer=0.0,
                                 acceleration=20))
    await sim.start()
    configured = settings.replace("ami", host="127.0.0.1", port=sim.port, secret="s")

    async def serve() -> TestClient:
        client = TestClient(TestServer(build_service(configured)))
        await client.start_server()
        link = client.app[PBX_LINK]
        await link.client.wait_until(lambda: link.resyncs >= 1, 5)
        await staff_login(client, "supervisor")
        return client

    async def until(client: TestClient, done: Callable[[Counters, list[str]], bool]) -> None:
        link = client.app[PBX_LINK]
        feed = link.feed.listen()
        try:
            async with asyncio.timeout(10):
                while True:
                    state = link.tracker.queue(link.queue_name, link.now())
                    if done(state.counters, [c.uniqueid for c in state.waiting]):
                        return
                    await feed.get()
        finally:
            link.feed.forget(feed)

    first = await serve()
    try:
        sim.caller_arrives("5550001", "A", patience=LONG, handle=10)  # answered after the 3 s ring, talks 10 s
        sim.caller_arrives("5550002", "B", patience=5)  # gives up while A talks
        await until(first, lambda c, _: (c.answered, c.abandoned, c.completed) == (1, 1, 1))
        talking = sim.caller_arrives("5550003", "C", patience=LONG, handle=LONG)
        waiting = sim.caller_arrives("5550004", "D", patience=LONG)  # waits through the restart
        await until(first, lambda c, w: c.answered == 2 and w == [waiting.uniqueid])
        before = (await (await first.get("/api/queue")).json())["queue"]
    finally:
        await first.close()
    assert (before["counters"]["offered"], before["counters"]["talk_seconds"]) == (4, 10)

    second = await serve()
    try:
        after = (await (await second.get("/api/queue")).json())["queue"]
        assert after["counters"] == before["counters"]
        assert after["figures"]["service_level"] == before["figures"]["service_level"] == round(2 / 3, 4)
        assert [c["uniqueid"] for c in after["waiting"]] == [waiting.uniqueid]
        # Counting goes on: a new caller is offered; D, answered now, is answered once and was offered once.
        sim.caller_arrives("5550005", "E", patience=LONG)
        await second.app[PBX_LINK].client.send_action("Hangup", [("Channel", talking.channel)])
        await until(second, lambda c, w: c.answered == 3 and c.offered == 5)
        final = (await (await second.get("/api/queue")).json())["queue"]["counters"]
        assert (final["offered"], final["answered"], final["abandoned"], final["unknown_outcome"]) == (5, 3, 1, 0)
    finally:
        await second.close()
        await sim.stop()

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.config import Settings
from callcenter.pbx.simulator import PbxSimulator, SimConfig
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
async def client(settings: Settings, simulator: PbxSimulator) -> AsyncIterator[TestClient]:
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
        kinds = []
        while "caller_joined" not in kinds:
            kinds.append((await ws.receive_json(timeout=5))["type"])
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

"""Issue 16, points 4 and 9 on the live stream: an interpreter and an operator side by side on the queue stream
(what each receives), and staff streams closed when their login ends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient, TestServer

from callcenter.config import Settings
from callcenter.pbx.simulator import PbxSimulator, SimConfig
from callcenter.server import build_service
from callcenter.web.auth import ACCOUNTS
from callcenter.web.hotline import PBX_LINK
from callcenter.web.streams import SESSION_ENDED
from tests.conftest import staff_login

NUMBER = "+79161234567"


@pytest.fixture
async def server(settings: Settings, redis: aioredis.Redis) -> AsyncIterator[TestServer]:
    sim = PbxSimulator(SimConfig(agents=0, secret="s", generate_traffic=False))
    await sim.start()
    configured = settings.replace("ami", host="127.0.0.1", port=sim.port, secret="s") \
        .replace("http", session_check_seconds=0.2)
    server = TestServer(build_service(configured))
    await server.start_server()
    link = server.app[PBX_LINK]
    await link.client.wait_until(lambda: link.resyncs >= 1, 5)
    yield server
    await server.close()
    await sim.stop()


async def person(server: TestServer, role: str, username: str, interface: str = "") -> TestClient:
    client = TestClient(server)
    await client.start_server()
    await staff_login(client, role, username=username, interface=interface)
    return client


async def until(ws: Any, kind: str) -> dict[str, Any]:
    while True:
        message = await ws.receive_json(timeout=5)
        if message["type"] == kind:
            return message  # type: ignore[no-any-return]


async def test_an_interpreter_sees_the_queues_shape_and_no_resident(server: TestServer) -> None:
    operator = await person(server, "operator", "op1", "Local/101@agents")
    interpreter = await person(server, "interpreter", "int1")
    link = server.app[PBX_LINK]
    try:
        async with operator.ws_connect("/api/queue/stream") as op_ws, \
                interpreter.ws_connect("/api/queue/stream") as int_ws:
            await until(op_ws, "snapshot")
            await until(int_ws, "snapshot")
            link.feed.publish([
                {"type": "caller_joined", "caller": {"callerid": NUMBER, "callername": "Иванова", "position": 1}},
                {"type": "screen_pop", "interface": "Local/101@agents", "callerid": NUMBER,
                 "cases": [{"number": "100200300"}]},
                {"type": "counters", "counters": {"offered": 1}},
            ])
            assert (await until(op_ws, "caller_joined"))["caller"]["callerid"] == NUMBER
            assert (await until(op_ws, "screen_pop"))["cases"] == [{"number": "100200300"}]
            joined = await until(int_ws, "caller_joined")
            assert joined["caller"] == {"callerid": "", "callername": "", "position": 1,
                                        "estimated_wait_seconds": None}  # nobody serves this queue yet
            # The next push after caller_joined is the counters: the screen-pop between them never came.
            assert (await int_ws.receive_json(timeout=5))["type"] == "counters"
        snapshot = await (await interpreter.get("/api/queue")).json()
        assert NUMBER not in str(snapshot)
    finally:
        await operator.close()
        await interpreter.close()


async def test_logging_out_closes_the_sessions_streams_at_once(server: TestServer) -> None:
    operator = await person(server, "operator", "op1", "Local/101@agents")
    other_tab = await person(server, "operator", "op1", "Local/101@agents")  # the same account, its own login
    try:
        async with operator.ws_connect("/api/queue/stream") as ws, other_tab.ws_connect("/api/queue/stream") as kept:
            await until(ws, "snapshot")
            await until(kept, "snapshot")
            csrf = (await (await operator.get("/api/me")).json())["csrf_token"]
            assert (await operator.post("/api/logout", headers={"X-CSRF-Token": csrf})).status == 200
            closing = await ws.receive(timeout=5)
            assert closing.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
            assert ws.close_code == SESSION_ENDED
            await kept.send_str("snapshot")
            assert (await until(kept, "snapshot"))["type"] == "snapshot"  # another login of the account stays
    finally:
        await operator.close()
        await other_tab.close()


@pytest.mark.parametrize("change", ["disable", "password"])
async def test_a_disabled_account_or_changed_password_closes_its_streams(server: TestServer, change: str) -> None:
    operator = await person(server, "operator", "op1", "Local/101@agents")
    accounts = server.app[ACCOUNTS]
    try:
        async with operator.ws_connect("/api/queue/stream") as ws:
            await until(ws, "snapshot")
            if change == "disable":
                await accounts.set_disabled("op1", True)
            else:
                await accounts.set_password("op1", "a brand new password")
            while (await ws.receive(timeout=5)).type == WSMsgType.TEXT:
                pass  # pushes may still arrive until the next check of the session
            assert ws.close_code == SESSION_ENDED
    finally:
        await operator.close()

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.config import Settings
from callcenter.pbx.simulator import PbxSimulator, SimConfig
from callcenter.server import build_service
from callcenter.web.app import create_app
from callcenter.web.hotline import PBX_LINK


def dialplan_get(answer: str, key: str) -> str:
    """What [cc-lib] get does: CUT the answer on '&', then each pair on '='."""
    for pair in answer.split("&"):
        name, _, value = pair.partition("=")
        if name == key:
            return value  # no decoding: the dialplan has none
    return ""


@pytest.fixture
async def simulator() -> AsyncIterator[PbxSimulator]:
    sim = PbxSimulator(SimConfig(agents=1, secret="s", generate_traffic=False, agent_no_answer=0.0,
                                 acceleration=20))
    await sim.start()
    yield sim
    await sim.stop()


async def start(app: object) -> TestClient:
    client = TestClient(TestServer(app))  # type: ignore[arg-type]
    await client.start_server()
    return client


async def test_hours_answer_for_the_dialplan(settings: Settings) -> None:
    client = await start(create_app(settings, redis_url=settings.redis.url))
    try:
        response = await client.get("/api/ivr/hours")
        assert response.status == 200
        answer = await response.text()
        assert dialplan_get(answer, "open") in {"0", "1"}
        opens_at = int(dialplan_get(answer, "opens_at"))
        if dialplan_get(answer, "open") == "1":
            assert int(dialplan_get(answer, "closes_at")) < opens_at
        else:
            assert dialplan_get(answer, "closes_at") == ""
    finally:
        await client.close()


async def test_wait_for_a_new_caller_depends_on_the_queue(settings: Settings, simulator: PbxSimulator) -> None:
    configured = settings.replace("ami", host="127.0.0.1", port=simulator.port, secret="s")
    client = await start(build_service(configured))
    link = client.app[PBX_LINK]
    try:
        await link.client.wait_until(lambda: link.resyncs >= 1, 5)
        empty = await (await client.get("/api/ivr/wait", params={"uniqueid": "1.1"})).text()
        assert dialplan_get(empty, "result") == "ok"
        assert dialplan_get(empty, "position") == "1"
        changes = link.feed.listen()
        for index in range(4):
            simulator.caller_arrives(f"555{index}", "x", patience=10_000, handle=10_000)
        # Re-checked after every change (a resync included): one caller talking, three waiting.
        queue = link.tracker.queue("hotline", link.now())
        async with asyncio.timeout(20):
            while not (len(queue.waiting) == 3 and any(m.in_call for m in queue.members.values())):
                await changes.get()
        busy = await (await client.get("/api/ivr/wait")).text()
        assert dialplan_get(busy, "position") == "4"  # one talking, three waiting, the new caller is fourth
        assert int(dialplan_get(busy, "minutes")) > int(dialplan_get(empty, "minutes"))
    finally:
        await client.close()


async def test_ivr_endpoints_refuse_strangers_and_accept_the_token(settings: Settings) -> None:
    locked = settings.replace("ivr", allowed_addresses=["10.9.9.9"], token="tok-123")
    client = await start(create_app(locked, redis_url=settings.redis.url))
    try:
        refused = await client.get("/api/ivr/hours")
        assert refused.status == 403
        assert (await refused.json())["error"] == "not_a_pbx"
        wrong = await client.get("/api/ivr/hours", headers={"X-IVR-Token": "nope"})
        assert wrong.status == 403
        ok = await client.get("/api/ivr/hours", headers={"X-IVR-Token": "tok-123"})
        assert ok.status == 200
        no_link = await client.get("/api/ivr/wait", headers={"X-IVR-Token": "tok-123"})
        assert dialplan_get(await no_link.text(), "result") == "unavailable"
    finally:
        await client.close()


async def test_with_a_token_the_pbx_address_alone_is_not_enough(settings: Settings) -> None:
    """Issue 16, point 12: behind a reverse proxy on the same host every request comes from 127.0.0.1."""
    configured = settings.replace("ivr", allowed_addresses=["127.0.0.1", "::1"], token="tok-456")
    client = await start(create_app(configured, redis_url=settings.redis.url))
    try:
        assert (await client.get("/api/ivr/hours")).status == 403
        assert (await client.get("/api/ivr/hours", headers={"X-IVR-Token": "tok-456"})).status == 200
    finally:
        await client.close()


@pytest.mark.parametrize("header", ["X-Forwarded-For", "Forwarded", "X-Real-IP", "Via"])
async def test_without_a_token_a_proxied_request_from_loopback_is_refused(settings: Settings, header: str) -> None:
    client = await start(create_app(settings.replace("ivr", token=""), redis_url=settings.redis.url))
    try:
        assert (await client.get("/api/ivr/hours")).status == 200  # the PBX on this host, directly
        proxied = await client.get("/api/ivr/hours", headers={header: "for=203.0.113.7"})
        assert proxied.status == 403
        assert "proxy" in (await proxied.json())["detail"]
    finally:
        await client.close()


def test_dialplan_values_drop_what_would_break_the_dialplan() -> None:
    from callcenter.web.ivr import dialplan_value

    assert dialplan_value("status/decision-due+status/in-review") == "status/decision-due+status/in-review"
    assert dialplan_value('a&b=c"d$[e]{f},g|h') == "abcdefgh"
    assert dialplan_value("Заявление принято\r\n") == "Заявление принято"


async def test_a_malformed_form_from_the_pbx_is_a_400_with_a_json_body(settings: Settings,
                                                                        simulator: PbxSimulator) -> None:
    """Multipart without a boundary used to raise inside aiohttp's form parser: a 500 with a traceback."""
    configured = settings.replace("ami", host="127.0.0.1", port=simulator.port, secret="s")
    client = await start(build_service(configured))
    try:
        for path in ("/api/ivr/callback", "/api/ivr/case-status"):
            response = await client.post(path, data=b"phone=1", headers={"Content-Type": "multipart/form-data"})
            assert response.status == 400, (path, await response.text())
            assert (await response.json())["error"] == "invalid_form"
    finally:
        await client.close()

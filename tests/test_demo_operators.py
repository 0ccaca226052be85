"""The demo operators of `callcenter run` have phone lines of their own: not the simulator's agents' lines, so a
new user who logs in is free, out of the queue, and can join it."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from callcenter.accounts.demo import DEMO_USERS, ensure_demo_users
from callcenter.accounts.store import AccountStore
from callcenter.cli import simulator_config
from callcenter.config import Settings
from callcenter.pbx.simulator import PbxSimulator
from callcenter.server import build_service
from callcenter.web.hotline import PBX_LINK


@pytest.fixture
async def demo_floor(settings: Settings, redis: aioredis.Redis) -> AsyncIterator[tuple[TestClient, PbxSimulator]]:
    """The simulator as `callcenter run` configures it (its default agents, logged in), without random traffic,
    and the service pointed at it."""
    config = dataclasses.replace(simulator_config(Settings()), secret="s", generate_traffic=False,
                                 agent_no_answer=0.0)
    assert config.agents >= 2
    sim = PbxSimulator(config)
    await sim.start()
    client = TestClient(TestServer(build_service(settings.replace("ami", host="127.0.0.1", port=sim.port,
                                                                  secret="s"))))
    await client.start_server()
    link = client.app[PBX_LINK]
    try:
        await link.client.wait_until(lambda: link.resyncs >= 1, 5)
        yield client, sim
    finally:
        await client.close()
        await sim.stop()


async def members(client: TestClient) -> dict[str, dict[str, Any]]:
    queue = (await (await client.get("/api/queue")).json())["queue"]
    return {member["interface"]: member for member in queue["members"]}


async def test_a_demo_operator_is_free_until_joining_and_joining_succeeds(
        demo_floor: tuple[TestClient, PbxSimulator], settings: Settings) -> None:
    client, sim = demo_floor
    logins = {username: password for username, password, _ in await ensure_demo_users(settings.redis.url)}
    agents = set(sim.members)
    assert len(agents) == sim.config.agents
    for username in ("operator1", "operator2"):
        login = await client.post("/api/login", json={"username": username, "password": logins[username]})
        assert login.status == 200, await login.text()
        me = await login.json()
        csrf = {"X-CSRF-Token": me["csrf_token"]}
        interface = me["interface"]
        assert interface not in agents, f"{username} shares {interface} with a simulated operator"
        assert interface not in await members(client), f"{username} is in the queue before joining"

        joined = await client.post("/api/me/queue", json={"in": True}, headers=csrf)
        assert joined.status == 200, await joined.text()
        assert (await joined.json())["message"] == "Added interface to queue"
        async with asyncio.timeout(5):
            while interface not in await members(client):
                await asyncio.sleep(0.05)
        member = (await members(client))[interface]
        # The demo phone counts as registered: free, not unavailable, and nobody else's call.
        assert (member["state"], member["status"], member["name"]) == ("free", 1, username)
        assert member["state_interface"] == f"PJSIP/{interface.split('/')[1].split('@')[0]}"
        assert not sim.members[interface].in_call
        again = await client.post("/api/me/queue", json={"in": True}, headers=csrf)
        assert again.status == 409  # now "Already there", as app_queue says
        await client.post("/api/logout", headers=csrf)


def test_demo_lines_are_the_operators_softphones_and_not_the_simulators_agents() -> None:
    agents = {f"Local/{index}@agents" for index in range(1, Settings().simulator.agents + 1)}
    operators = [(interface, extension) for _, _, role, interface, extension in DEMO_USERS if role == "operator"]
    assert len(operators) == 2
    for interface, extension in operators:
        assert interface not in agents
        assert interface == f"Local/{extension}@agents", "the line rings the operator's own softphone"


async def test_an_older_runs_demo_account_gets_its_own_line_back(redis: aioredis.Redis, redis_url: str) -> None:
    accounts = AccountStore(redis)
    await accounts.add("operator1", "Оператор 1", "operator", "an older run's password", "Local/1@agents", "101")
    logins = {username: password for username, password, _ in await ensure_demo_users(redis_url)}
    user = await accounts.get("operator1")
    assert user is not None and (user.interface, user.queue_state_interface) == ("Local/101@agents", "PJSIP/101")
    assert await accounts.authenticate("operator1", logins["operator1"]) is not None
    assert await accounts.authenticate("operator1", "an older run's password") is None

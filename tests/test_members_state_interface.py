"""An operator's member watches their softphone (QueueAdd's StateInterface): an offline phone is unavailable
and never rung, instead of a Local channel that always looks free and is rung every `retry` seconds."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis as sync_redis
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from callcenter.accounts.interfaces import state_interface_for
from callcenter.accounts.store import AccountError, AccountStore, User
from callcenter.cli import main
from callcenter.config import Settings
from callcenter.pbx.link import PbxLink
from callcenter.pbx.simulator import PbxSimulator, SimConfig
from callcenter.pbx.tracker import Change
from callcenter.server import build_service
from callcenter.web.auth import ACCOUNTS
from callcenter.web.hotline import PBX_LINK
from tests.conftest import staff_login


@pytest.mark.parametrize(("interface", "device"), [
    ("Local/101@agents", "PJSIP/101"),
    ("Local/7@agents/n", "PJSIP/7"),
    (" Local/102@agents ", "PJSIP/102"),
    ("Local/1@agent-sim", ""),  # another context: it does not dial PJSIP/<ext>
    ("Local/101@agentsx", ""),
    ("Local/@agents", ""),
    ("PJSIP/101", ""),  # a phone is its own device
    ("", ""),
])
def test_the_state_interface_is_the_phone_behind_an_agents_local_channel(interface: str, device: str) -> None:
    assert state_interface_for(interface) == device


def test_an_accounts_own_state_interface_wins() -> None:
    def user(interface: str, state_interface: str = "") -> User:
        return User("op", "Op", "operator", "x", interface, state_interface=state_interface)

    assert user("Local/101@agents").queue_state_interface == "PJSIP/101"
    assert user("Local/101@agents", "PJSIP/201").queue_state_interface == "PJSIP/201"
    assert user("Local/1@agent-sim").queue_state_interface == ""
    assert user("").queue_state_interface == ""


async def test_the_store_keeps_the_state_interface_and_reads_older_records(redis: aioredis.Redis) -> None:
    accounts = AccountStore(redis)
    await accounts.add("olga", "Ольга", "operator", "long enough secret", "Local/8@agents", "108",
                       state_interface="PJSIP/208")
    olga = await accounts.get("olga")
    assert olga is not None and (olga.state_interface, olga.queue_state_interface) == ("PJSIP/208", "PJSIP/208")
    with pytest.raises(AccountError):
        await accounts.add("eve", "Eve", "operator", "long enough secret", "Local/9@agents",
                           state_interface="PJSIP/9\r\nAction: Originate")
    # An account written before the field existed.
    record = json.loads(await redis.get("user:olga") or "{}")
    del record["state_interface"]
    record["username"] = "ivan"
    await redis.set("user:ivan", json.dumps(record))
    ivan = await accounts.get("ivan")
    assert ivan is not None and (ivan.state_interface, ivan.queue_state_interface) == ("", "PJSIP/8")


def test_user_add_takes_a_state_interface(redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "callcenter.toml"
    config.write_text("", encoding="utf-8")
    monkeypatch.setenv("REDIS_URL", redis_url)
    username = "statecli"
    store = sync_redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        store.delete(f"user:{username}")
        store.srem("users", username)
        monkeypatch.setattr("sys.stdin", io.StringIO("long enough secret\n"))
        assert main(["--config", str(config), "user", "add", username, "--interface", "Local/5@agents",
                     "--state-interface", "PJSIP/505", "--password-stdin"]) == 0
        record = json.loads(store.get(f"user:{username}") or "{}")
        assert (record["interface"], record["state_interface"]) == ("Local/5@agents", "PJSIP/505")
    finally:
        store.delete(f"user:{username}")
        store.srem("users", username)
        store.close()


# -- through the service, against the simulator ----------------------------------------------------------------


@pytest.fixture
async def floor(settings: Settings, redis: aioredis.Redis) -> AsyncIterator[tuple[TestClient, PbxSimulator]]:
    # Operator 7's softphone is not registered.
    sim = PbxSimulator(SimConfig(agents=0, secret="s", generate_traffic=False, agent_no_answer=0.0,
                                 unregistered=("PJSIP/7",)))
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


async def changes_until(link: PbxLink, feed: asyncio.Queue[Change], done: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not done():
            await feed.get()


def member(link: PbxLink, interface: str) -> dict[str, Any] | None:
    found = link.tracker.queue(link.queue_name, link.now()).members.get(interface)
    return found.to_json() if found else None


async def test_an_operator_whose_phone_is_offline_joins_unavailable_and_is_not_rung(
        floor: tuple[TestClient, PbxSimulator]) -> None:
    client, sim = floor
    link = client.app[PBX_LINK]
    feed = link.feed.listen()
    csrf = await staff_login(client, "operator", "op7", interface="Local/7@agents")
    response = await client.post("/api/me/queue", json={"in": True}, headers=csrf)
    assert response.status == 200, await response.text()
    added = [a for a in sim.actions if a.name == "QueueAdd"][-1]
    assert (added.get("Interface"), added.get("MemberName"), added.get("StateInterface")) == \
        ("Local/7@agents", "op7", "PJSIP/7")
    await changes_until(link, feed, lambda: member(link, "Local/7@agents") is not None)
    queue = (await (await client.get("/api/queue")).json())["queue"]
    (shown,) = queue["members"]
    assert (shown["state"], shown["state_interface"], shown["status"]) == ("unavailable", "PJSIP/7", 5)
    assert (queue["figures"]["operators_serving"], queue["figures"]["operators_free"]) == (0, 0)

    caller = sim.caller_arrives("5551001", "Alice Customer", patience=1000, handle=1000)
    assert caller.member is None  # app_queue offers a caller at once, to an available member only
    await changes_until(link, feed, lambda: bool(link.tracker.queue(link.queue_name, link.now()).waiting))
    assert (member(link, "Local/7@agents") or {}).get("state") == "unavailable"
    # The phone registers: the member is free again and the waiting caller rings it at once.
    sim.set_registered("PJSIP/7", True)
    await changes_until(link, feed, lambda: (member(link, "Local/7@agents") or {}).get("ringing_for")
                        == caller.uniqueid)
    link.feed.forget(feed)


async def test_an_accounts_own_state_interface_goes_to_the_pbx(floor: tuple[TestClient, PbxSimulator]) -> None:
    client, sim = floor
    accounts = client.app[ACCOUNTS]
    await accounts.add("olga", "Ольга", "operator", "correct horse battery", "Local/8@agents", "108",
                       state_interface="PJSIP/208")
    csrf = await staff_login(client, "operator", "olga")
    assert (await client.post("/api/me/queue", json={"in": True}, headers=csrf)).status == 200
    added = [a for a in sim.actions if a.name == "QueueAdd"][-1]
    assert (added.get("Interface"), added.get("StateInterface")) == ("Local/8@agents", "PJSIP/208")
    paused = await client.post("/api/me/pause", json={"paused": True, "reason": "Обед"}, headers=csrf)
    assert paused.status == 200
    assert [a.get("Interface") for a in sim.actions if a.name == "QueuePause"] == ["Local/8@agents"]
    assert (await client.post("/api/me/queue", json={"in": False}, headers=csrf)).status == 200
    assert [a.get("Interface") for a in sim.actions if a.name == "QueueRemove"] == ["Local/8@agents"]

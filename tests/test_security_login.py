"""Issue 16, point 1: password checks off the event loop, bounded; wrong passwords limited per account and
address with growing delays; an outsider cannot keep an operator's own workstation out; supervisors unlock."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from callcenter.accounts.lockout import LockoutPolicy
from callcenter.accounts.store import PasswordChecker
from callcenter.config import Settings
from callcenter.web.app import create_app
from callcenter.web.auth import ACCOUNTS, LOGIN_LIMITER
from tests.conftest import staff_login

PASSWORD = "correct horse battery"
SMALL = LockoutPolicy(free_failures=3, address_free_failures=8, account_free_failures=5, base_delay=30.0)


@pytest.fixture
async def client(settings: Settings, redis: aioredis.Redis) -> AsyncIterator[TestClient]:
    # The test client is a trusted proxy, so X-Forwarded-For plays residents and guessers at many addresses.
    settings = settings.replace("http", trusted_proxies=["127.0.0.1"])
    client = TestClient(TestServer(create_app(settings, redis_url=settings.redis.url)))
    await client.start_server()
    client.app[LOGIN_LIMITER].policy = SMALL
    await client.app[ACCOUNTS].add("op1", "Оператор", "operator", PASSWORD, "Local/101@agents", "101")
    yield client
    await client.close()


async def login(client: TestClient, password: str, address: str, username: str = "op1",
                cookies: dict[str, str] | None = None) -> int:
    client.session.cookie_jar.clear()
    if cookies:
        client.session.cookie_jar.update_cookies(cookies)
    response = await client.post("/api/login", json={"username": username, "password": password},
                                 headers={"X-Forwarded-For": address})
    return response.status


def test_delays_grow_and_are_capped() -> None:
    policy = LockoutPolicy(free_failures=5, base_delay=30.0, max_delay=900.0)
    assert [policy.delay(n, 5) for n in (1, 4, 5, 6, 7, 9, 40)] == [0, 0, 30, 60, 120, 480, 900]


async def test_the_password_is_checked_in_a_worker_thread_while_the_loop_serves_others(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    started = asyncio.Event()
    loop = asyncio.get_running_loop()
    threads: list[str] = []
    original = PasswordChecker._verify

    def slow_verify(password_hash: str, password: str) -> bool:
        threads.append(threading.current_thread().name)
        loop.call_soon_threadsafe(started.set)
        release.wait(10)  # a long Argon2 run, held until the loop has proved it is free
        return original(password_hash, password)

    monkeypatch.setattr(PasswordChecker, "_verify", staticmethod(slow_verify))
    pending = asyncio.create_task(login(client, PASSWORD, "10.0.0.1"))
    await asyncio.wait_for(started.wait(), 5)
    health = await asyncio.wait_for(client.get("/healthz"), 5)  # answered while the check runs
    assert health.status == 200
    assert not pending.done()
    release.set()
    assert await pending == 200
    assert threads[0].startswith("argon2") and threads[0] != threading.main_thread().name


async def test_a_flood_of_logins_is_refused_at_once_beyond_the_bound(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    started = asyncio.Event()
    loop = asyncio.get_running_loop()

    def held_verify(password_hash: str, password: str) -> bool:
        loop.call_soon_threadsafe(started.set)
        release.wait(10)
        return False

    monkeypatch.setattr(PasswordChecker, "_verify", staticmethod(held_verify))
    monkeypatch.setattr(client.app[ACCOUNTS].checker, "max_waiting", 1)
    first = asyncio.create_task(login(client, "guess one", "10.0.0.2"))
    await asyncio.wait_for(started.wait(), 5)
    response = await client.post("/api/login", json={"username": "op1", "password": "guess two"},
                                 headers={"X-Forwarded-For": "10.0.0.3"})
    assert response.status == 503
    assert response.headers["Retry-After"] == "1"
    release.set()
    assert await first == 401


async def test_wrong_passwords_lock_that_address_out_of_that_account_with_a_growing_wait(
        client: TestClient) -> None:
    for _ in range(SMALL.free_failures):
        assert await login(client, "wrong password", "10.0.0.5") == 401
    client.session.cookie_jar.clear()
    locked = await client.post("/api/login", json={"username": "op1", "password": PASSWORD},
                               headers={"X-Forwarded-For": "10.0.0.5"})
    assert locked.status == 429  # even the right password waits: the guesser must not learn it is right
    assert 0 < int(locked.headers["Retry-After"]) <= 30
    assert (await locked.json())["detail"]["scope"] == "pair"
    assert await login(client, PASSWORD, "10.0.0.6") == 200  # the operator at another machine is not held


async def test_one_address_trying_many_names_is_held(client: TestClient) -> None:
    for number in range(SMALL.address_free_failures):
        await login(client, "wrong password", "10.0.0.7", username=f"someone{number}")
    assert await login(client, PASSWORD, "10.0.0.7") == 429


async def test_guessing_from_many_addresses_cannot_keep_the_operators_own_browser_out(client: TestClient) -> None:
    assert await login(client, PASSWORD, "10.1.0.1") == 200
    device = {name: morsel.value for name, morsel in client.session.cookie_jar.filter_cookies(
        client.make_url("/api/login")).items() if name.startswith("callcenter_device_")}
    assert list(device) == ["callcenter_device_op1"]
    for number in range(SMALL.account_free_failures):
        assert await login(client, "wrong password", f"10.2.0.{number}") == 401
    assert await login(client, PASSWORD, "10.3.0.1") == 429  # a new device waits
    assert await login(client, PASSWORD, "10.3.0.2", cookies=device) == 200  # the operator's own does not


async def test_a_supervisor_sees_and_lifts_the_locks(client: TestClient) -> None:
    for _ in range(SMALL.free_failures):
        await login(client, "wrong password", "10.0.0.9")
    assert await login(client, PASSWORD, "10.0.0.9") == 429
    headers = await staff_login(client, "supervisor")
    listed = await client.get("/api/accounts/lockouts")
    assert (await listed.json())["locked"] == ["op1"]
    assert (await client.post("/api/accounts/nobody/unlock", headers=headers)).status == 404
    unlocked = await client.post("/api/accounts/op1/unlock", headers=headers)
    assert unlocked.status == 200
    assert (await (await client.get("/api/accounts/lockouts")).json())["locked"] == []
    assert await login(client, PASSWORD, "10.0.0.9") == 200


async def test_operators_may_not_unlock(client: TestClient) -> None:
    headers = await staff_login(client, "operator", username="op2")
    assert (await client.post("/api/accounts/op1/unlock", headers=headers)).status == 403

"""Shared fixtures: a real Redis-compatible server (REDIS_URL, or an embedded Valkey for the session)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from callcenter.config import Settings
from callcenter.storage import EmbeddedValkey, connect
from tests.netns import BrowserNetwork
from tests.netns import missing as netns_missing

REPO = Path(__file__).resolve().parent.parent
# Byte-exact AMI sessions recorded from a real Asterisk 22, kept in the repository (tests need nothing beside it).
TRANSCRIPTS = REPO / "tests" / "data" / "ami"
ARTIFACTS = REPO / "tests" / "artifacts"


TEST_REDIS_ENV = "CALLCENTER_TEST_REDIS_URL"
# Written into a database the tests were given, so that a later run knows the data in it is the tests' own.
OWNED_MARKER = "callcenter-tests:owned"


def claim_test_database(url: str) -> None:
    """Refuse a database that holds data the tests did not write: they flush it before every test."""
    import redis as sync_redis

    client = sync_redis.Redis.from_url(url)
    try:
        keys = client.dbsize()
        if keys and not client.exists(OWNED_MARKER):
            pytest.exit(f"{TEST_REDIS_ENV} points at a database with {keys} keys that the tests did not write; "
                        "the tests flush their database before each test: give them an empty one", returncode=4)
        client.set(OWNED_MARKER, "1")
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The store for the whole test session; its database is flushed before each test that uses it.

    Only CALLCENTER_TEST_REDIS_URL names a database for the tests (never REDIS_URL, which the README tells
    operators to export for production); without it the tests start their own embedded Valkey."""
    url = os.environ.get(TEST_REDIS_ENV)
    if url:
        claim_test_database(url)
        yield url
        return
    server = EmbeddedValkey(durable=False)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = connect(redis_url)
    await client.flushdb()
    await client.set(OWNED_MARKER, "1")
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def browser_network() -> Iterator[BrowserNetwork]:
    """A network namespace and veth pair of its own for a browser (tests/netns.py), removed after the test; the
    test is skipped, with the reason, where none can be made (not root, no `ip netns`)."""
    why = netns_missing()
    if why:
        pytest.skip(why)
    network = BrowserNetwork.create()
    try:
        yield network
    finally:
        network.close()


@pytest.fixture
def settings(redis_url: str) -> Settings:
    """Defaults (not the repository file) so that tests do not depend on local edits to it."""
    return Settings().replace("redis", url=redis_url)


@pytest.fixture(autouse=True)
def _clean_callcenter_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's CALLCENTER_* variables must not change what the tests see.
    for name in list(os.environ):
        if name.startswith("CALLCENTER_"):
            monkeypatch.delenv(name)


async def staff_login(client: TestClient, role: str = "operator", username: str | None = None,
                      interface: str = "Local/1@agents") -> dict[str, str]:
    """Create a staff user in the app's store, log in through the API; returns the CSRF header to send."""
    from callcenter.web.auth import ACCOUNTS

    username = username or f"{role}-test"
    accounts = client.app[ACCOUNTS]
    if await accounts.get(username) is None:
        await accounts.add(username, username.title(), role, "correct horse battery", interface, "101")
    response = await client.post("/api/login", json={"username": username, "password": "correct horse battery"})
    assert response.status == 200, await response.text()
    return {"X-CSRF-Token": (await response.json())["csrf_token"]}

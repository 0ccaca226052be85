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

REPO = Path(__file__).resolve().parent.parent
# Byte-exact AMI sessions recorded from a real Asterisk 22, kept in the repository (tests need nothing beside it).
TRANSCRIPTS = REPO / "tests" / "data" / "ami"
ARTIFACTS = REPO / "tests" / "artifacts"


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The store for the whole test session; its database is flushed before each test that uses it."""
    url = os.environ.get("REDIS_URL")
    if url:
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
    try:
        yield client
    finally:
        await client.aclose()


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

"""Staff logins, sessions, CSRF and roles; and the router walked to prove no route is left open by mistake."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.config import Settings
from callcenter.web.app import create_app
from callcenter.web.auth import ACCOUNTS
from callcenter.web.openapi import documented_routes, operation_of
from tests.conftest import staff_login

PUBLIC = {
    ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"), ("GET", "/api/openapi.json"), ("GET", "/api/docs"),
    ("POST", "/api/login"), ("POST", "/api/callbacks"), ("POST", "/api/callbacks/{id}/cancel"),
    # The IVR endpoints have their own check (PBX address or token), tested in test_ivr_endpoints.
    ("GET", "/api/ivr/hours"), ("GET", "/api/ivr/wait"), ("POST", "/api/ivr/callback"),
    # What the residents' pages tell (the hotline's number, open days and hours, the tries): nothing private.
    ("GET", "/api/hotline"),
    ("GET", "/callback"), ("POST", "/api/cases/lookup"), ("POST", "/api/ivr/case-status"), ("GET", "/"),
    # Residents' video: the page, the start, and their session by its token; the signalling socket checks the
    # token or the staff session itself (tested in test_video_sessions).
    ("GET", "/video"), ("POST", "/api/video/sessions"), ("GET", "/api/video/session"), ("GET", "/api/video/ws"),
    # The softphone's SIP library (a public npm package), served like the rest of /static.
    ("GET", "/static/vendor/jssip.min.js"),
}


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[TestClient]:
    client = TestClient(TestServer(create_app(settings, redis_url=settings.redis.url)))
    await client.start_server()
    yield client
    await client.close()


def concrete(path: str) -> str:
    return re.sub(r"\{\w+\}", "cb0000", path)


async def test_every_route_that_is_not_public_needs_a_session_and_the_right_role(client: TestClient) -> None:
    routes = [(m, p, h) for m, p, h in documented_routes(client.app)]
    public = {(m, p) for m, p, h in routes if operation_of(h).access == ("public",)}  # type: ignore[union-attr]
    assert public == PUBLIC, "a route became public (or private): update PUBLIC only on purpose"
    protected = [(m, p, operation_of(h).access) for m, p, h in routes if (m, p) not in public]  # type: ignore[union-attr]
    assert len(protected) >= 10
    for method, path, _ in protected:
        response = await client.request(method, concrete(path))
        assert response.status == 401, (method, path)
        assert (await response.json())["error"] == "login_required"
    headers = await staff_login(client, "interpreter")
    for method, path, access in protected:
        if "interpreter" in access:
            continue
        response = await client.request(method, concrete(path), headers=headers)
        assert response.status == 403, (method, path)
        assert (await response.json())["error"] == "forbidden"


async def test_state_changes_need_the_csrf_token(client: TestClient) -> None:
    headers = await staff_login(client, "supervisor")
    refused = await client.post("/api/logout")
    assert refused.status == 403
    assert (await refused.json())["error"] == "csrf"
    me = await client.get("/api/me")
    assert me.status == 200
    assert (await me.json())["role"] == "supervisor"
    assert "password_hash" not in await me.json()
    out = await client.post("/api/logout", headers=headers)
    assert out.status == 200
    assert (await client.get("/api/me")).status == 401


async def test_wrong_password_unknown_user_and_disabled_account(client: TestClient) -> None:
    accounts = client.app[ACCOUNTS]
    await accounts.add("olga", "Ольга", "operator", "long enough secret")
    wrong = await client.post("/api/login", json={"username": "olga", "password": "nope nope nope"})
    unknown = await client.post("/api/login", json={"username": "nobody", "password": "long enough secret"})
    assert wrong.status == unknown.status == 401
    assert (await wrong.json())["detail"] == (await unknown.json())["detail"]
    assert (await client.post("/api/login", json={"username": "olga", "password": "long enough secret"})).status == 200
    assert (await client.get("/api/me")).status == 200
    await accounts.set_disabled("olga", True)
    assert (await client.get("/api/me")).status == 401  # the session ended with the account
    assert (await client.post("/api/login", json={"username": "olga", "password": "long enough secret"})).status == 401


async def test_password_change_ends_sessions_and_hashes_are_argon2(client: TestClient) -> None:
    accounts = client.app[ACCOUNTS]
    await accounts.add("ivan", "Иван", "operator", "first password 1")
    assert (await accounts.get("ivan")).password_hash.startswith("$argon2id$")  # type: ignore[union-attr]
    await client.post("/api/login", json={"username": "ivan", "password": "first password 1"})
    await accounts.set_password("ivan", "second password 2")
    assert (await client.get("/api/me")).status == 401


async def test_login_input_is_checked(client: TestClient) -> None:
    assert (await client.post("/api/login", json={"username": "x"})).status == 422
    assert (await client.post("/api/login", json={"username": "a", "password": "b", "extra": 1})).status == 422
    assert (await client.post("/api/login", data=b"not json", headers={"Content-Type": "application/json"})).status \
        == 400
    assert (await client.post("/api/login", data=b"not json")).status == 415


async def test_websocket_from_another_site_is_refused(client: TestClient) -> None:
    await staff_login(client, "supervisor")
    response = await client.get("/api/queue/stream", headers={"Origin": "https://evil.example", "Upgrade": "websocket",
                                                              "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                                                              "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert response.status == 403
    assert (await response.json())["error"] == "bad_origin"


def test_user_command(redis_url: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")} | {"REDIS_URL": redis_url}

    def user(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "callcenter", "user", *args], input=stdin, text=True,
                              capture_output=True, env=env, cwd=tmp_path, check=False)

    added = user("add", "maria", "--role", "supervisor", "--name", "Мария", "--password-stdin",
                 stdin="a long password\n")
    assert added.returncode == 0, added.stderr
    assert user("add", "maria", "--password-stdin", stdin="another password\n").returncode == 1
    short = user("add", "p2", "--password-stdin", stdin="short\n")
    assert short.returncode == 1 and "at least 10 characters" in short.stderr
    assert user("disable", "maria").returncode == 0
    listing = user("list").stdout
    assert re.search(r"maria\s+supervisor\s+disabled", listing)
    assert user("passwd", "maria", "--password-stdin", stdin="a newer password\n").returncode == 0
    assert user("disable").returncode == 2

"""Issue 16 on the web layer: declared JSON only, bounded nesting, cross-site writes refused, security headers
on every answer (pages, API, errors, static files), and no server versions named."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.config import Settings
from callcenter.web.app import create_app
from callcenter.web.body import depth_of
from callcenter.web.security import content_security_policy, origin_of

pytestmark = pytest.mark.usefixtures("redis")


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[TestClient]:
    settings = settings.replace("http", allowed_origins=["https://portal.example.ru"])
    client = TestClient(TestServer(create_app(settings, redis_url=settings.redis.url)))
    await client.start_server()
    yield client
    await client.close()


def test_depth_counts_brackets_outside_strings() -> None:
    assert depth_of('{"a": [1, {"b": 2}]}') == 3
    assert depth_of('{"a": "[[[[{{{{"}') == 1
    assert depth_of('{"a": "\\"[[[["}') == 1
    assert depth_of("[" * 1000 + "]" * 1000) == 1000


@pytest.mark.parametrize("path", ["/api/callbacks", "/api/cases/lookup", "/api/video/sessions", "/api/login"])
async def test_json_endpoints_refuse_other_types_and_deep_nesting(client: TestClient, path: str) -> None:
    form = await client.post(path, data="phone=84951234567", headers={"Content-Type": "text/plain"})
    assert form.status == 415
    assert (await form.json())["error"] == "unsupported_media_type"
    urlencoded = await client.post(path, data={"phone": "84951234567"})
    assert urlencoded.status == 415
    deep = await client.post(path, data='{"a":' * 1000 + "1" + "}" * 1000,
                             headers={"Content-Type": "application/json"})
    assert deep.status == 400
    assert "deeper" in (await deep.json())["detail"]


async def test_writes_from_another_sites_page_are_refused(client: TestClient) -> None:
    body = {"phone": "+7 916 123-45-67"}
    foreign = await client.post("/api/callbacks", json=body, headers={"Origin": "https://evil.example"})
    assert foreign.status == 403
    assert (await foreign.json())["error"] == "bad_origin"
    sandboxed = await client.post("/api/cases/lookup", json={"case": "1"}, headers={"Origin": "null"})
    assert sandboxed.status == 403
    no_origin_cross_site = await client.post("/api/callbacks", json=body, headers={"Sec-Fetch-Site": "cross-site"})
    assert no_origin_cross_site.status == 403
    own = await client.post("/api/cases/lookup", json={"case": "1"},
                            headers={"Origin": f"http://{client.host}:{client.port}", "Sec-Fetch-Site": "same-origin"})
    assert own.status != 403
    partner = await client.post("/api/cases/lookup", json={"case": "1"},
                                headers={"Origin": "https://portal.example.ru", "Sec-Fetch-Site": "cross-site"})
    assert partner.status != 403
    reading = await client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert reading.status == 200  # only writes are refused; reads are guarded by roles and CORS


@pytest.mark.parametrize("path", ["/", "/callback", "/video", "/api/openapi.json", "/healthz", "/static/dashboard.js",
                                  "/api/queue", "/no/such/page"])
async def test_every_answer_carries_the_security_headers(client: TestClient, path: str) -> None:
    response = await client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Server"] == "hotline"
    assert "aiohttp" not in str(response.headers) and "Python" not in str(response.headers)
    if path.startswith("/api/"):
        assert response.headers["Cache-Control"] == "no-store"


async def test_login_answer_with_its_tokens_is_never_cached(client: TestClient) -> None:
    response = await client.post("/api/login", json={"username": "nobody", "password": "wrong password"})
    assert response.headers["Cache-Control"] == "no-store"


def test_policy_names_extra_connect_sources_by_origin() -> None:
    assert origin_of("wss://pbx.example.ru:8089/ws") == "wss://pbx.example.ru:8089"
    assert origin_of("not a url") == ""
    policy = content_security_policy([origin_of("wss://pbx.example.ru:8089/ws")])
    assert "connect-src 'self' wss://pbx.example.ru:8089;" in policy

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from openapi_spec_validator import validate

from callcenter.config import Settings
from callcenter.supervisor import free_port
from callcenter.web.accesslog import MaskedAccessLogger
from callcenter.web.app import create_app
from callcenter.web.openapi import build_openapi, documented_routes, operation

ClientFactory = Callable[..., Awaitable[TestClient]]


class Link:
    def __init__(self, connected: bool) -> None:
        self.connected = connected

    def describe(self) -> str:
        return "connected" if self.connected else "AMI disconnected: connection refused"


@pytest.fixture
async def make_client() -> AsyncIterator[ClientFactory]:
    clients: list[TestClient] = []

    async def factory(app: web.Application) -> TestClient:
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.close()


async def test_healthz(settings: Settings, make_client: ClientFactory) -> None:
    client = await make_client(create_app(settings, redis_url=settings.redis.url))
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}
    assert len(response.headers["X-Request-ID"]) == 32


async def test_readyz_green_when_redis_and_pbx_are_up(settings: Settings, make_client: ClientFactory) -> None:
    client = await make_client(create_app(settings, redis_url=settings.redis.url, pbx_status=Link(True)))
    response = await client.get("/readyz")
    assert response.status == 200
    assert await response.json() == {"ready": True, "checks": {"redis": "ok", "pbx": "ok"}}


async def test_readyz_503_names_the_pbx_link(settings: Settings, make_client: ClientFactory) -> None:
    client = await make_client(create_app(settings, redis_url=settings.redis.url, pbx_status=Link(False)))
    response = await client.get("/readyz")
    assert response.status == 503
    body = await response.json()
    assert body["error"] == "not_ready"
    assert body["detail"] == "pbx: AMI disconnected: connection refused"


async def test_readyz_503_when_redis_is_unreachable(settings: Settings, make_client: ClientFactory) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    client = await make_client(create_app(settings, redis_url=dead, pbx_status=Link(True)))
    response = await client.get("/readyz")
    assert response.status == 503
    body = await response.json()
    assert body["checks"]["redis"].startswith("unreachable")
    assert body["detail"].startswith("redis: unreachable")


async def test_metrics_are_prometheus_text(settings: Settings, make_client: ClientFactory) -> None:
    client = await make_client(create_app(settings, redis_url=settings.redis.url))
    await client.get("/healthz")
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.content_type == "text/plain"
    text = await response.text()
    assert 'callcenter_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text


async def test_every_route_answers_errors_as_json(settings: Settings, make_client: ClientFactory) -> None:
    app = create_app(settings, redis_url=settings.redis.url)
    client = await make_client(app)
    response = await client.get("/no/such/page")
    assert response.status == 404
    body = await response.json()
    assert body["error"] == "not_found"
    assert body["request_id"] == response.headers["X-Request-ID"]
    for method, path, _ in documented_routes(app):
        if "{" in path:
            continue
        wrong = "DELETE" if method != "DELETE" else "PATCH"
        response = await client.request(wrong, path)
        assert response.status == 405, path
        body = await response.json()
        assert body["error"] == "method_not_allowed"
        assert method in response.headers["Allow"]


async def test_unhandled_exception_becomes_a_json_500_with_the_request_id(
    settings: Settings, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings, redis_url=settings.redis.url)

    @operation("boom", tags=["test"])
    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("the number +74951234567 broke it")

    app.router.add_post("/boom", boom)
    client = await make_client(app)
    with caplog.at_level(logging.ERROR):
        response = await client.post("/boom", headers={"X-Request-ID": "abc-123"})
    assert response.status == 500
    assert await response.json() == {
        "error": "internal_error", "detail": "internal error; quote the request id when reporting it",
        "request_id": "abc-123"}
    assert "unhandled error" in caplog.text


async def test_oversized_body_is_a_json_413(settings: Settings, make_client: ClientFactory) -> None:
    app = create_app(settings.replace("http", max_body_bytes=1000), redis_url=settings.redis.url)

    @operation("echo", tags=["test"])
    async def echo(request: web.Request) -> web.Response:
        return web.json_response(await request.json())

    app.router.add_post("/echo", echo)
    client = await make_client(app)
    response = await client.post("/echo", data=b"x" * 5000, headers={"Content-Type": "application/json"})
    assert response.status == 413
    body = await response.json()
    assert body["error"] == "request_entity_too_large"
    assert "1000" in body["detail"]


async def test_openapi_document_describes_every_route_and_is_valid(
    settings: Settings, make_client: ClientFactory
) -> None:
    app = create_app(settings, redis_url=settings.redis.url)
    client = await make_client(app)
    response = await client.get("/api/openapi.json")
    document = await response.json()
    validate(document)
    documented = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    routed = {(m, p) for m, p, _ in documented_routes(app)}
    assert documented == routed
    assert {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics")} <= routed


def test_a_route_without_an_operation_is_caught() -> None:
    app = web.Application()

    async def undocumented(request: web.Request) -> web.Response:
        return web.Response()

    app.router.add_get("/secret-route", undocumented)
    with pytest.raises(RuntimeError, match="GET /secret-route"):
        build_openapi(app)


async def test_docs_page_lists_the_routes(settings: Settings, make_client: ClientFactory) -> None:
    client = await make_client(create_app(settings, redis_url=settings.redis.url))
    response = await client.get("/api/docs")
    assert response.status == 200
    page = await response.text()
    assert "<code>/readyz</code>" in page
    assert "Ready to serve" in page


async def test_access_log_masks_phone_numbers(caplog: pytest.LogCaptureFixture) -> None:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/lookup", ok)
    server = TestServer(app)
    await server.start_server(access_log_class=MaskedAccessLogger)
    client = TestClient(server)
    try:
        with caplog.at_level(logging.INFO, logger="aiohttp.access"):
            await client.get("/lookup", params={"phone": "+74951234567"})
    finally:
        await client.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert lines, "no access log line"
    assert "4951234567" not in lines[0]
    assert "phone=+*********67" in lines[0]

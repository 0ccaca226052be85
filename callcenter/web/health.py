"""Liveness, readiness and metrics."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError

from callcenter.web.keys import METRICS_REGISTRY, PBX_STATUS, REDIS
from callcenter.web.openapi import operation

routes = web.RouteTableDef()

HEALTH_SCHEMA = {"type": "object", "properties": {"status": {"type": "string"}}}
READY_SCHEMA = {
    "type": "object",
    "properties": {
        "ready": {"type": "boolean"},
        "checks": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


@routes.get("/healthz")
@operation("The process is alive", tags=["health"], responses={200: ("alive", HEALTH_SCHEMA)})
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
@operation(
    "Ready to serve: Redis reachable and the PBX link up",
    tags=["health"],
    responses={200: ("ready", READY_SCHEMA), 503: ("not ready; the body says which check failed", None)},
)
async def readyz(request: web.Request) -> web.Response:
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(1.0):
            await request.app[REDIS].ping()
        checks["redis"] = "ok"
    except (RedisError, OSError, TimeoutError) as exc:
        checks["redis"] = f"unreachable: {type(exc).__name__}"
    pbx = request.app[PBX_STATUS]
    checks["pbx"] = "ok" if pbx.connected else pbx.describe()
    ready = all(value == "ok" for value in checks.values())
    if ready:
        return web.json_response({"ready": True, "checks": checks})
    failing = {name: value for name, value in checks.items() if value != "ok"}
    reason = "; ".join(f"{name}: {value}" for name, value in failing.items())
    return web.json_response(
        {"error": "not_ready", "detail": reason, "ready": False, "checks": checks}, status=503
    )


@routes.get("/metrics")
@operation("Prometheus metrics", tags=["health"], response_content_type="text/plain",
           responses={200: ("metrics in the Prometheus text format", {"type": "string"})})
async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS_REGISTRY])
    response = web.Response(body=body)
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    return response

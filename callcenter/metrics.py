"""Prometheus metrics. One registry per application, so that tests can build many apps in one process."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram


@dataclass
class HttpMetrics:
    requests: Counter
    latency: Histogram


def create_registry() -> tuple[CollectorRegistry, HttpMetrics]:
    registry = CollectorRegistry()
    metrics = HttpMetrics(
        requests=Counter("callcenter_http_requests", "HTTP requests answered",
                         ["method", "route", "status"], registry=registry),
        latency=Histogram("callcenter_http_request_seconds", "time to answer an HTTP request",
                          ["route"], registry=registry,
                          buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)),
    )
    return registry, metrics


def route_label(request: web.Request) -> str:
    """The route template, never the concrete path: ids and numbers would explode the label set."""
    info = request.match_info
    route = getattr(info, "route", None)
    resource = route.resource if route is not None else None
    return resource.canonical if resource is not None else "unmatched"


def metrics_middleware(metrics: HttpMetrics) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def observe(request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status_code
            raise
        finally:
            route = route_label(request)
            metrics.requests.labels(request.method, route, str(status)).inc()
            metrics.latency.labels(route).observe(time.perf_counter() - started)

    return observe

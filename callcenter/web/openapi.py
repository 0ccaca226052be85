"""OpenAPI 3.1, built from the live router so that the document cannot drift from the routes.

Each handler carries an `Operation` (set with the `@operation` decorator); the document walks
`app.router`, takes the path and its parameters from the route and the rest from the operation. A route without
an operation is an error, found by the test that builds the document.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

import callcenter

F = TypeVar("F", bound=Callable[..., Any])
_PATH_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "description": "machine-readable code, e.g. not_found"},
        "detail": {"description": "what is wrong, for a person; an object for validation errors"},
        "request_id": {"type": ["string", "null"]},
    },
}


@dataclass(frozen=True)
class QueryParam:
    name: str
    description: str
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})
    required: bool = False


@dataclass(frozen=True)
class Operation:
    summary: str
    tags: tuple[str, ...]
    description: str = ""
    # status -> (description, JSON schema of the body or None); error statuses get the Error schema.
    responses: dict[int, tuple[str, dict[str, Any] | None]] = field(default_factory=dict)
    request_body: dict[str, Any] | None = None
    request_content_type: str = "application/json"
    response_content_type: str = "application/json"
    query: tuple[QueryParam, ...] = ()
    # Who may call it: "public", or the roles allowed (the auth middleware reads this).
    access: tuple[str, ...] = ("public",)


def operation(summary: str, *, tags: tuple[str, ...] | list[str], **details: Any) -> Callable[[F], F]:
    def mark(handler: F) -> F:
        handler.__openapi__ = Operation(summary=summary, tags=tuple(tags), **details)  # type: ignore[attr-defined]
        return handler

    return mark


def operation_of(handler: Any) -> Operation | None:
    return getattr(handler, "__openapi__", None)


def documented_routes(app: web.Application) -> list[tuple[str, str, Any]]:
    """(method, path template, handler) for every route the document must describe."""
    routes = []
    for route in app.router.routes():
        if route.method == "HEAD" or isinstance(route.resource, web.StaticResource):
            continue
        resource = route.resource
        if resource is None:
            continue
        routes.append((route.method, resource.canonical, route.handler))
    return routes


def _response_object(status: int, description: str, schema: dict[str, Any] | None,
                     content_type: str) -> dict[str, Any]:
    if status >= 400:
        return {"description": description,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    body: dict[str, Any] = {"description": description}
    if schema is not None:
        body["content"] = {content_type: {"schema": schema}}
    return body


def build_openapi(app: web.Application, title: str = "Hotline service") -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    missing = []
    for method, path, handler in documented_routes(app):
        op = operation_of(handler)
        if op is None:
            missing.append(f"{method} {path}")
            continue
        parameters: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PATH_PARAM.findall(path)
        ]
        parameters += [
            {"name": q.name, "in": "query", "required": q.required, "description": q.description,
             "schema": q.schema}
            for q in op.query
        ]
        responses = {
            str(status): _response_object(status, text, schema, op.response_content_type)
            for status, (text, schema) in sorted(op.responses.items())
        }
        responses.setdefault("default", _response_object(500, "error", None, "application/json"))
        entry: dict[str, Any] = {
            "summary": op.summary,
            "tags": list(op.tags),
            "operationId": f"{method.lower()}_{re.sub(r'[^a-z0-9]+', '_', path.lower()).strip('_')}",
            "responses": responses,
        }
        if op.description:
            entry["description"] = op.description
        if parameters:
            entry["parameters"] = parameters
        if op.request_body is not None:
            entry["requestBody"] = {"required": True,
                                    "content": {op.request_content_type: {"schema": op.request_body}}}
        if op.access != ("public",):
            entry["security"] = [{"session": []}]
            entry["x-roles"] = list(op.access)
        paths.setdefault(_PATH_PARAM.sub(r"{\1}", path), {})[method.lower()] = entry
    if missing:
        raise RuntimeError("routes without an OpenAPI operation: " + ", ".join(sorted(missing)))
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": callcenter.__version__},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {"session": {"type": "apiKey", "in": "cookie", "name": "callcenter_session"}},
        },
    }

"""Request bodies: JSON objects read with one set of clear errors (400 not JSON, 422 wrong fields)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from callcenter.web.errors import ApiError


async def json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return body


async def read_json(request: web.Request, fields: set[str], required: set[str]) -> dict[str, Any]:
    """A JSON object with only `fields`, the `required` ones non-empty strings."""
    body = await json_object(request)
    unknown = sorted(set(body) - fields)
    if unknown:
        raise ApiError(422, "unknown_fields", {name: "not a field here" for name in unknown})
    missing = sorted(name for name in required if not isinstance(body.get(name), str) or not body[name])
    if missing:
        raise ApiError(422, "invalid_field", {name: "required, a string" for name in missing})
    return body

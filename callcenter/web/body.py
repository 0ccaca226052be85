"""Request bodies: JSON objects read with one set of clear errors (415 not declared JSON, 400 not JSON or
nested too deep, 422 wrong fields).

Declaring `application/json` is required because a browser sends that type cross-site only after a CORS
preflight, which this service never grants: a form on another site (text/plain, urlencoded, multipart) cannot
make its visitors post callbacks or case look-ups here.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from callcenter.web.errors import ApiError

# No request of this API nests deeper than an object holding an object; the bound keeps a hostile body from
# costing recursion (json.loads raises RecursionError at about 1,000 levels, after the work is spent).
MAX_DEPTH = 8


def depth_of(text: str) -> int:
    """How deep brackets nest in a JSON text, strings skipped (pure; a linear scan before parsing)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


async def json_object(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type",
                       f"send the body as JSON with Content-Type: application/json (not {request.content_type})")
    try:
        text = await request.text()
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_json", "the body is not valid UTF-8 text") from None
    if depth_of(text) > MAX_DEPTH:
        raise ApiError(400, "invalid_json", f"the JSON nests deeper than {MAX_DEPTH} levels")
    try:
        body = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
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

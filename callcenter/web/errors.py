"""Every error answer is JSON: {"error": code, "detail": ..., "request_id": ...}."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from aiohttp import web
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from callcenter.logs import request_id_var

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def error_code(status: int) -> str:
    """404 -> 'not_found', 413 -> 'request_entity_too_large'."""
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def json_error(status: int, detail: Any, code: str | None = None,
               headers: dict[str, str] | None = None) -> web.Response:
    body = {"error": code or error_code(status), "detail": detail, "request_id": request_id_var.get()}
    return web.json_response(body, status=status, headers=headers)


class ApiError(Exception):
    """Raised by handlers: becomes a JSON error with a machine-readable code and a human detail."""

    def __init__(self, status: int, code: str, detail: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    supplied = request.headers.get("X-Request-ID", "")
    request_id = supplied if _CLIENT_REQUEST_ID.fullmatch(supplied) else uuid.uuid4().hex
    token = request_id_var.set(request_id)
    try:
        response = await handler(request)
        response.headers["X-Request-ID"] = request_id
        return response
    except web.HTTPException as exc:
        exc.headers["X-Request-ID"] = request_id
        raise
    finally:
        request_id_var.reset(token)


@web.middleware
async def json_errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except ApiError as exc:
        return json_error(exc.status, exc.detail, exc.code, exc.headers)
    except web.HTTPException as exc:
        if exc.status_code < 400:
            raise
        keep = {k: v for k, v in exc.headers.items() if k.lower() in {"allow", "retry-after", "www-authenticate"}}
        detail = exc.text if exc.text and not exc.text.startswith(f"{exc.status_code}:") else exc.reason
        return json_error(exc.status_code, detail, headers=keep)
    except (RedisConnectionError, RedisTimeoutError) as exc:
        # The store is restarting (down, or loading its data: BusyLoadingError is a ConnectionError), unreachable
        # or not answering, after the client's retries (storage.connect). The client may simply try again: the
        # writes are safe to repeat (a callback asked for again finds the one already made).
        log.warning("store unavailable", extra={"path": request.path, "error": str(exc),
                                                "error_type": type(exc).__name__})
        return json_error(503, "the store is unavailable for a moment; try again", "store_unavailable",
                          {"Retry-After": "2"})
    except Exception:
        log.exception("unhandled error", extra={"path": request.path})
        return json_error(500, "internal error; quote the request id when reporting it", "internal_error")
    return response

"""Access log lines with phone numbers masked (they occur in paths and query strings).

The path is unquoted first: `%2B7495...` would otherwise hide a number behind a word character.
"""

from __future__ import annotations

from urllib.parse import unquote

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from callcenter.logs import mask_text


class MaskedAccessLogger(AbstractAccessLogger):
    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %s",
            request.method,
            mask_text(unquote(request.path_qs)),
            response.status,
            extra={
                "status": response.status,
                "duration_ms": round(time * 1000, 2),
                "remote": request.remote,
                "request_id": response.headers.get("X-Request-ID"),
            },
        )

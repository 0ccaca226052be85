"""What every response and every state-changing request gets, whoever handles it.

- Headers: a Content-Security-Policy that fits the pages (scripts and styles from this site only, nothing
  inline, no framing), no referrer, no MIME sniffing, `no-store` on the API (it carries tokens and personal
  data), and a Server header that names no versions.
- Cross-site writes: a page of another site may not post here with its visitors' browsers (their cookies, their
  own per-address quotas). The JSON endpoints already demand `application/json`, which a browser sends
  cross-site only after a CORS preflight this service never grants; `Origin` and `Sec-Fetch-Site` are checked
  as well, so a browser without preflight rules is refused too. The dialplan's CURL requests carry neither.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import urlsplit

from aiohttp import web

from callcenter.web.errors import ApiError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SERVER_NAME = "hotline"
# Fetch metadata that a browser sends for a request that this site's own pages made (or a user typed).
OWN_FETCH_SITES = frozenset({"same-origin", "none"})


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a URL, lower-case ("" when it has none): the form CSP and Origin use."""
    parts = urlsplit(url.strip())
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def content_security_policy(connect_sources: Sequence[str] = ()) -> str:
    # 'self' covers this site's own ws:/wss: streams in CSP level 3; other origins (the PBX's SIP WebSocket)
    # must be named. blob: and mediastream: are where the video page's <video> elements play from.
    connect = " ".join(["'self'", *(source for source in connect_sources if source)])
    return "; ".join([
        "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
        "media-src 'self' blob: mediastream:", f"connect-src {connect}", "object-src 'none'", "base-uri 'none'",
        "form-action 'self'", "frame-ancestors 'none'",
    ])


def is_own_origin(origin: str, host: str, allowed: Sequence[str] = ()) -> bool:
    """Whether an Origin header names this site (by its Host, either scheme: TLS may end at a proxy) or one of
    the configured partner origins. "null" (a sandboxed frame, a file) never does."""
    return origin.lower() in (f"http://{host}".lower(), f"https://{host}".lower(), *allowed)


def check_same_site(request: web.Request, allowed_origins: Sequence[str] = ()) -> None:
    """Refuse a request that a page of another site made (by its Origin or its Sec-Fetch-Site)."""
    origin = request.headers.get("Origin")
    if origin is not None and not is_own_origin(origin, request.host, allowed_origins):
        raise ApiError(403, "bad_origin", f"a request from {origin[:80]} refused: not this site")
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site.lower() not in OWN_FETCH_SITES and origin is None:
        raise ApiError(403, "bad_origin", f"a {fetch_site[:20]} request refused: not this site")


def cross_site_middleware(allowed_origins: Sequence[str]) -> Callable[..., Awaitable[web.StreamResponse]]:
    allowed = tuple(origin_of(url) for url in allowed_origins)

    @web.middleware
    async def refuse_cross_site(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method in UNSAFE_METHODS:
            check_same_site(request, allowed)
        return await handler(request)

    return refuse_cross_site


def security_headers(policy: str) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
        headers = response.headers
        headers["Server"] = SERVER_NAME
        headers.setdefault("Content-Security-Policy", policy)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Permissions-Policy", "camera=(self), microphone=(self), geolocation=()")
        if request.path.startswith(("/api/", "/reports")):
            headers.setdefault("Cache-Control", "no-store")

    return add_headers

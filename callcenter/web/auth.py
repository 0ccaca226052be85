"""Logins, sessions and who may call what.

Every route's OpenAPI operation names its `access`: "public", or the roles allowed. The middleware enforces
it, so the router itself is the list of protected routes (a test walks it). State-changing requests of a
session must carry its CSRF token in `X-CSRF-Token` (the page reads it from /api/me); the session cookie is
HttpOnly and SameSite=Strict, and Secure whenever the request came over HTTPS.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from callcenter.accounts.lockout import DEVICE_TOKEN_DAYS, LoginLimiter
from callcenter.accounts.store import USERNAME, AccountStore, HasherBusy, Session, User
from callcenter.web.body import read_json
from callcenter.web.errors import ApiError
from callcenter.web.keys import SETTINGS
from callcenter.web.openapi import operation, operation_of
from callcenter.web.plainpage import plain_page
from callcenter.web.streams import STAFF_SOCKETS

routes = web.RouteTableDef()
ME_SCHEMA = {"type": "object", "required": ["username", "name", "role", "csrf_token", "session_expires_at", "timezone"],
             "properties": {"username": {"type": "string"}, "name": {"type": "string"},
                            "role": {"type": "string", "enum": ["operator", "interpreter", "supervisor"]},
                            "csrf_token": {"type": "string"}, "session_expires_at": {"type": "number"},
                            "timezone": {"type": "string"}, "interface": {"type": "string"},
                            "extension": {"type": "string"}, "disabled": {"type": "boolean", "enum": [False]}},
             "not": {"required": ["password_hash"]}}
ACCOUNTS = web.AppKey("accounts", AccountStore)
LOGIN_LIMITER = web.AppKey("login_limiter", LoginLimiter)
COOKIE = "callcenter_session"
# One per account, so that operators sharing a workstation between shifts each keep their own.
DEVICE_COOKIE = "callcenter_device_"
STAFF = ("operator", "interpreter", "supervisor")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
current_session: contextvars.ContextVar[Session | None] = contextvars.ContextVar("current_session", default=None)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)
ROLE_NAMES = {"operator": "оператор", "interpreter": "переводчик", "supervisor": "старший смены"}
LOGIN_PAGE = "/"  # the dashboard asks for a login, then goes to its `next` (static/dashboard.js)


def browser_page(handler: H) -> H:
    """Mark a protected page that people open in a browser (the printable day report): a logged-out browser
    is sent to the login page and back instead of getting the JSON 401 that programs get."""
    handler.__browser_page__ = True  # type: ignore[attr-defined]
    return handler


def wants_html(request: web.Request) -> bool:
    """A browser navigating: `text/html` named in Accept (not refused with q=0). Programs send `*/*` or JSON."""
    for item in request.headers.get("Accept", "").split(","):
        media, *params = (part.strip() for part in item.split(";"))
        if media.lower() != "text/html":
            continue
        quality = next((p.split("=", 1)[1] for p in params if p.replace(" ", "").lower().startswith("q=")), "1")
        try:
            return float(quality) > 0
        except ValueError:
            return True
    return False


def local_path(target: str) -> str | None:
    """`target` when it is a path on this site (`/reports/day?date=...`), else None: no scheme, no host, no
    `//host` or `/\\host` that a browser would take for another site, no control characters."""
    if not target.startswith("/") or target.startswith(("//", "/\\")) or any(ord(c) < 0x20 for c in target):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def login_redirect(request: web.Request) -> web.Response:
    """303 to the login page, with `next` naming where the browser was going (a local path only)."""
    back = local_path(request.rel_url.path_qs)
    location = LOGIN_PAGE + ("?" + urlencode({"next": back}) if back and back != LOGIN_PAGE else "")
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"},
                        text=f"log in first: {location}")


def session_of(request: web.Request) -> Session:
    session = current_session.get()
    if session is None:
        raise ApiError(401, "login_required", "log in first")
    return session


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = request.match_info.route
    op = operation_of(route.handler) if route is not None else None
    access = op.access if op is not None else ("public",)
    if access == ("public",):
        return await handler(request)
    session = await request.app[ACCOUNTS].session(request.cookies.get(COOKIE, ""))
    if session is None:
        if getattr(route.handler, "__browser_page__", False) and wants_html(request):
            return login_redirect(request)
        raise ApiError(401, "login_required", "log in first (POST /api/login)")
    if session.role not in access:
        if getattr(route.handler, "__browser_page__", False) and wants_html(request):
            return plain_page(403, "Эта страница вам недоступна",
                              f"Её может открыть {' или '.join(ROLE_NAMES.get(r, r) for r in access)}; вы вошли как "
                              f"{ROLE_NAMES.get(session.role, session.role)}. Попросите старшего смены или войдите "
                              "под другой учётной записью.",
                              [("/", "Вернуться на панель оператора")])
        raise ApiError(403, "forbidden", f"this needs the role {' or '.join(access)}; you are {session.role}")
    if request.method in UNSAFE_METHODS and request.headers.get("X-CSRF-Token") != session.csrf:
        raise ApiError(403, "csrf", "missing or wrong X-CSRF-Token header (GET /api/me gives it)")
    token = current_session.set(session)
    try:
        return await handler(request)
    finally:
        current_session.reset(token)


def _me(request: web.Request, user: User, session: Session) -> dict[str, Any]:
    hotline = request.app[SETTINGS].hotline
    return {**user.public(), "csrf_token": session.csrf, "session_expires_at": session.expires_at,
            "timezone": hotline.timezone,
            # What the dashboard marks as needing attention.
            "thresholds": {"service_level_target": hotline.service_level_target,
                           "service_level_seconds": hotline.service_level_seconds,
                           "long_wait_seconds": hotline.long_wait_alert_seconds,
                           "abandon_share": hotline.abandon_alert_share}}


@routes.post("/api/login")
@operation("Log in (staff): sets the session cookie", tags=["auth"],
           request_body={"type": "object", "required": ["username", "password"], "additionalProperties": False,
                         "properties": {"username": {"type": "string"}, "password": {"type": "string"}}},
           responses={200: ("logged in: the user and the CSRF token", ME_SCHEMA),
                      401: ("wrong name or password, or the account is disabled", None),
                      429: ("too many wrong passwords: wait Retry-After seconds, or ask a supervisor to unlock",
                            None),
                      503: ("too many logins at once: try again in a moment", None)})
async def login(request: web.Request) -> web.Response:
    body = await read_json(request, {"username", "password"}, {"username", "password"})
    accounts = request.app[ACCOUNTS]
    limiter = request.app[LOGIN_LIMITER]
    # Names that cannot exist share one counter, so a guesser cannot mint keys.
    name = body["username"] if USERNAME.fullmatch(body["username"]) else "?"
    address = request.remote or ""
    device = request.cookies.get(DEVICE_COOKIE + name, "")
    locked = await limiter.check(name, address, device)
    if locked is not None:
        raise ApiError(429, "login_locked", {"retry_after": locked.retry_after, "scope": locked.scope,
                                             "message": "too many wrong passwords; wait, or ask a supervisor to "
                                                        "unlock the account"},
                       {"Retry-After": str(locked.retry_after)})
    try:
        user = await accounts.authenticate(body["username"], body["password"])
    except HasherBusy:
        raise ApiError(503, "busy", "too many logins at once; try again in a moment", {"Retry-After": "1"}) from None
    if user is None:
        await limiter.failed(name, address)
        raise ApiError(401, "bad_login", "wrong user name or password")
    await limiter.succeeded(name, address)
    device = await limiter.remember_device(user.username, device)
    token, session = await accounts.start_session(user)
    response = web.json_response(_me(request, user, session))
    secure = request.secure or request.headers.get("X-Forwarded-Proto") == "https"
    response.set_cookie(COOKIE, token, max_age=accounts.session_seconds, httponly=True, samesite="Strict",
                        secure=secure, path="/")
    response.set_cookie(DEVICE_COOKIE + user.username, device, max_age=DEVICE_TOKEN_DAYS * 86400, httponly=True,
                        samesite="Strict", secure=secure, path="/api/login")
    return response


@routes.post("/api/logout")
@operation("Log out", tags=["auth"], access=STAFF,
           responses={200: ("logged out", {"type": "object", "required": ["logged_out"],
                                           "properties": {"logged_out": {"type": "boolean", "enum": [True]}}})})
async def logout(request: web.Request) -> web.Response:
    token = request.cookies.get(COOKIE, "")
    await request.app[ACCOUNTS].end_session(token)
    await request.app[STAFF_SOCKETS].close_session(token)
    response = web.json_response({"logged_out": True})
    response.del_cookie(COOKIE, path="/")
    return response


@routes.get("/api/me")
@operation("Who is logged in, with the CSRF token for state-changing requests", tags=["auth"], access=STAFF,
           responses={200: ("the user", ME_SCHEMA), 401: ("not logged in", None)})
async def me(request: web.Request) -> web.Response:
    session = session_of(request)
    user = await request.app[ACCOUNTS].get(session.username)
    if user is None or user.disabled:
        raise ApiError(401, "login_required", "the account is gone or disabled")
    return web.json_response(_me(request, user, session))


LOCKOUTS = {"type": "object", "required": ["locked"],
            "properties": {"locked": {"type": "array", "items": {"type": "string"}}}}


@routes.get("/api/accounts/lockouts")
@operation("Accounts that wrong passwords hold locked now (supervisors)", tags=["auth"], access=("supervisor",),
           responses={200: ("user names", LOCKOUTS)})
async def lockouts(request: web.Request) -> web.Response:
    return web.json_response({"locked": await request.app[LOGIN_LIMITER].locked_accounts()})


@routes.post("/api/accounts/{username}/unlock")
@operation("Lift the wrong-password locks of an account (supervisors)", tags=["auth"], access=("supervisor",),
           responses={200: ("unlocked", {"type": "object", "required": ["unlocked"],
                                         "properties": {"unlocked": {"type": "string"}}}),
                      404: ("no such account", None)})
async def unlock(request: web.Request) -> web.Response:
    username = request.match_info["username"]
    if not USERNAME.fullmatch(username) or await request.app[ACCOUNTS].get(username) is None:
        raise ApiError(404, "not_found", "no such account")
    await request.app[LOGIN_LIMITER].unlock(username)
    return web.json_response({"unlocked": username})

"""The operators' dashboard: one page (plain HTML, CSS and JavaScript modules, no build step)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from callcenter.web.errors import ApiError
from callcenter.web.openapi import operation

routes = web.RouteTableDef()
STATIC = Path(__file__).parent / "static"
# JsSIP, bundled from node_modules by `npm run build` (make run / make test); not in the repository.
JSSIP = STATIC / "vendor" / "jssip.min.js"


@routes.get("/")
@operation("The operators' dashboard (it asks for a login; its data needs a staff session)", tags=["dashboard"],
           response_content_type="text/html", responses={200: ("an HTML page", {"type": "string"})})
async def dashboard(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "dashboard.html", headers={"Cache-Control": "no-cache"})


# Registered before the /static directory, so a missing bundle answers with what to do instead of a bare 404.
@routes.get("/static/vendor/jssip.min.js")
@operation("JsSIP, the softphone's SIP library (an ES module built from package-lock.json)", tags=["dashboard"],
           response_content_type="text/javascript",
           responses={200: ("the module", {"type": "string"}), 503: ("not installed: run make run or npm ci", None)})
async def jssip(request: web.Request) -> web.StreamResponse:
    if not JSSIP.is_file():
        raise ApiError(503, "jssip_missing", "JsSIP is not installed: run `make run` (or `npm ci && npm run build` "
                       "in the project directory; it needs Node.js and npm)")
    # text/javascript, as documented (and as RFC 9239 names it); the mimetypes guess would be application/...
    return web.FileResponse(JSSIP, headers={"Cache-Control": "no-cache", "Content-Type": "text/javascript"})

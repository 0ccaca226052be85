"""The operators' dashboard: one page (plain HTML, CSS and JavaScript modules, no build step)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from callcenter.web.openapi import operation

routes = web.RouteTableDef()
STATIC = Path(__file__).parent / "static"


@routes.get("/")
@operation("The operators' dashboard (it asks for a login; its data needs a staff session)", tags=["dashboard"],
           response_content_type="text/html", responses={200: ("an HTML page", {"type": "string"})})
async def dashboard(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "dashboard.html", headers={"Cache-Control": "no-cache"})

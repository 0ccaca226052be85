"""The OpenAPI document and a readable page made from it (no CDN: the page is rendered on the server)."""

from __future__ import annotations

import html
import json
from typing import Any

from aiohttp import web

from callcenter.web.keys import SETTINGS
from callcenter.web.openapi import build_openapi, operation

routes = web.RouteTableDef()
OPENAPI_CACHE = web.AppKey("openapi_cache", dict)


def openapi_document(app: web.Application) -> dict[str, Any]:
    # The router is frozen once the app starts, so the document is built once.
    cache = app[OPENAPI_CACHE]
    if "doc" not in cache:
        cache["doc"] = build_openapi(app, title=f"{app[SETTINGS].hotline.name} — API")
    return cache["doc"]  # type: ignore[no-any-return]


@routes.get("/api/openapi.json")
@operation("This API as an OpenAPI 3.1 document", tags=["docs"],
           responses={200: ("the document", {"type": "object"})})
async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(request.app))


def _schema_text(schema: Any) -> str:
    return html.escape(json.dumps(schema, ensure_ascii=False, indent=1)) if schema else ""


@routes.get("/api/docs")
@operation("Readable API documentation", tags=["docs"], response_content_type="text/html",
           responses={200: ("an HTML page", {"type": "string"})})
async def api_docs(request: web.Request) -> web.Response:
    doc = openapi_document(request.app)
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(doc['info']['title'])}</title>",
        "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;"
        "color:#1a1a1a}h2{border-bottom:1px solid #ccc;margin-top:2rem}code,pre{background:#f3f3f3;"
        "padding:.1rem .3rem}pre{padding:.5rem;overflow:auto;font-size:13px}.m{font-weight:700;"
        "display:inline-block;min-width:4.5rem}.roles{color:#555}</style></head><body>",
        f"<h1>{html.escape(doc['info']['title'])}</h1>",
        "<p>Machine-readable: <a href='/api/openapi.json'>/api/openapi.json</a>. Errors are always JSON: "
        "<code>{\"error\": code, \"detail\": ..., \"request_id\": ...}</code>.</p>",
    ]
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            by_tag.setdefault(op["tags"][0], []).append((method, path, op))
    for tag, ops in sorted(by_tag.items()):
        parts.append(f"<h2>{html.escape(tag)}</h2>")
        for method, path, op in ops:
            roles = op.get("x-roles")
            parts.append(
                f"<h3><span class='m'>{method.upper()}</span><code>{html.escape(path)}</code></h3>"
                f"<p>{html.escape(op['summary'])}"
                + (f" <span class='roles'>(roles: {html.escape(', '.join(roles))})</span>" if roles else "")
                + "</p>"
            )
            if op.get("description"):
                parts.append(f"<p>{html.escape(op['description'])}</p>")
            for param in op.get("parameters", []):
                parts.append(f"<p>{param['in']} <code>{html.escape(param['name'])}</code>"
                             f"{' (required)' if param.get('required') else ''} "
                             f"{html.escape(param.get('description', ''))}</p>")
            body = op.get("requestBody")
            if body:
                for content_type, media in body["content"].items():
                    parts.append(f"<p>Body ({html.escape(content_type)}):</p>"
                                 f"<pre>{_schema_text(media['schema'])}</pre>")
            codes = ", ".join(f"{code} {html.escape(resp['description'])}"
                              for code, resp in op["responses"].items())
            parts.append(f"<p>Responses: {codes}</p>")
    parts.append("</body></html>")
    return web.Response(text="".join(parts), content_type="text/html")

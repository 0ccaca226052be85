"""A plain page for a person whose browser opened a page they cannot see: what happened and where to go, in
Russian, instead of the JSON error that programs get."""

from __future__ import annotations

from html import escape

from aiohttp import web


def plain_page(status: int, heading: str, text: str, links: list[tuple[str, str]]) -> web.Response:
    items = "".join(f'<li><a href="{escape(href)}">{escape(label)}</a></li>' for href, label in links)
    html = f"""<!doctype html>
<html lang="ru"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(heading)}</title>
<link rel="stylesheet" href="/static/reports.css"></head><body>
<main><h1>{escape(heading)}</h1><p>{escape(text)}</p><ul>{items}</ul></main>
</body></html>"""
    return web.Response(status=status, text=html, content_type="text/html", charset="utf-8",
                        headers={"Cache-Control": "no-store"})

"""The banner's Reports link (/reports/day) in a logged-out browser: the login page, then back to the report.
Programs still get the JSON 401. `next` leads only to a path on this site."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from callcenter.config import Settings
from callcenter.web.app import create_app
from callcenter.web.auth import ACCOUNTS, local_path
from tests.conftest import staff_login

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
REPORT = "/reports/day?date=2026-11-24"
PASSWORD = "supervisor's long password"


@pytest.fixture
async def client(settings: Settings, redis: aioredis.Redis) -> AsyncIterator[TestClient]:
    client = TestClient(TestServer(create_app(settings, redis_url=settings.redis.url), host="127.0.0.1"))
    await client.start_server()
    yield client
    await client.close()


async def test_a_logged_out_browser_is_sent_to_the_login_page_and_back(client: TestClient) -> None:
    response = await client.get(REPORT, headers={"Accept": BROWSER_ACCEPT}, allow_redirects=False)
    assert response.status == 303
    location = urlsplit(response.headers["Location"])
    assert (location.scheme, location.netloc, location.path) == ("", "", "/")
    assert parse_qs(location.query) == {"next": [REPORT]}
    # Followed, it is the dashboard with its login form.
    login_page = await client.get(REPORT, headers={"Accept": BROWSER_ACCEPT})
    assert login_page.status == 200 and 'id="login"' in await login_page.text()


@pytest.mark.parametrize("accept", ["", "*/*", "application/json", "text/html;q=0, application/json"])
async def test_programs_still_get_the_json_401(client: TestClient, accept: str) -> None:
    headers = {"Accept": accept} if accept else {"Accept": ""}
    response = await client.get(REPORT, headers=headers, allow_redirects=False)
    assert response.status == 401
    assert (await response.json())["error"] == "login_required"


async def test_the_json_api_never_redirects(client: TestClient) -> None:
    response = await client.get("/api/reports/day?date=2026-11-24", headers={"Accept": BROWSER_ACCEPT},
                                allow_redirects=False)
    assert response.status == 401 and (await response.json())["error"] == "login_required"


async def test_logged_in_the_page_is_served_and_the_wrong_role_is_refused(client: TestClient) -> None:
    await staff_login(client, "operator")
    refused = await client.get(REPORT, headers={"Accept": BROWSER_ACCEPT}, allow_redirects=False)
    assert refused.status == 403
    client.session.cookie_jar.clear()
    await staff_login(client, "supervisor")
    page = await client.get(REPORT, headers={"Accept": BROWSER_ACCEPT}, allow_redirects=False)
    assert page.status == 200 and "2026-11-24" in await page.text()


@pytest.mark.parametrize(("target", "allowed"), [
    ("/reports/day", True),
    ("/reports/day?date=2026-11-24", True),
    ("/", True),
    ("//evil.example/reports/day", False),
    ("/\\evil.example", False),
    ("https://evil.example/", False),
    ("javascript:alert(1)", False),
    ("reports/day", False),
    ("/reports\r\nSet-Cookie: x=1", False),
    ("", False),
])
def test_next_is_a_local_path_only(target: str, allowed: bool) -> None:
    assert (local_path(target) == target) is allowed
    if not allowed:
        assert local_path(target) is None


# -- in a real browser: the dashboard reads `next` after the login ------------------------------------------------

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
async def test_the_reports_link_in_a_browser_logs_in_and_comes_back(client: TestClient) -> None:
    from playwright.async_api import async_playwright, expect

    await client.app[ACCOUNTS].add("sup", "Старший смены", "supervisor", PASSWORD, "", "")
    base = f"http://127.0.0.1:{client.port}"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = await browser.new_page()
            await page.goto(base + REPORT)
            assert urlsplit(page.url).path == "/"
            await expect(page.locator("#login")).to_be_visible()
            await page.fill("#username", "sup")
            await page.fill("#password", PASSWORD)
            await page.keyboard.press("Enter")
            await page.wait_for_url(base + REPORT, timeout=10_000)
            await expect(page.locator("h1")).to_contain_text("24 ноября 2026")
            await expect(page.locator("svg")).to_have_count(4)

            # A `next` leading off the site is ignored: the dashboard opens instead.
            for bad in ("//evil.example/", "/%5Cevil.example/", "https://evil.example/", "/%09/evil.example/"):
                page = await browser.new_page()
                await page.context.clear_cookies()
                await page.goto(f"{base}/?next={bad}")
                await page.fill("#username", "sup")
                await page.fill("#password", PASSWORD)
                await page.keyboard.press("Enter")
                await expect(page.locator("#who")).to_contain_text("Старший смены")
                assert urlsplit(page.url).netloc == f"127.0.0.1:{client.port}", bad
                assert urlsplit(page.url).path == "/", bad
        finally:
            await browser.close()

"""The Content-Security-Policy in a real browser: every page works under it (no inline script or style left,
the dashboard's WebSocket allowed by connect-src 'self') and no violation is reported."""

from __future__ import annotations

import pytest

from tests import test_dashboard_browser as dashboard
from tests.test_dashboard_browser import ARGS, CHROMIUM, PASSWORD, Live, log_in

live = dashboard.live  # the dashboard tests' service and simulator, as a fixture of this module too

pytestmark = pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(),
                                reason="Debian's chromium is not installed")
# Playwright's init script is injected by the browser itself, outside the page's policy: it records what the
# policy blocks as the page loads.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""


async def test_pages_run_under_the_policy_without_violations(live: Live) -> None:
    from playwright.async_api import async_playwright, expect

    await live.server.app[__import__("callcenter.web.auth", fromlist=["ACCOUNTS"]).ACCOUNTS].add(
        "sup1", "Супервизор", "supervisor", PASSWORD)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                   args=[*ARGS, "--use-fake-ui-for-media-stream",
                                                         "--use-fake-device-for-media-stream"])
        page = await browser.new_page()
        await page.add_init_script(RECORD_VIOLATIONS)
        try:
            for path, ready in (("callback", "#request button"), ("video", "button")):
                response = await page.goto(live.url + path)
                assert response is not None and "script-src 'self'" in response.headers["content-security-policy"]
                await expect(page.locator(ready).first).to_be_visible()
                # The stylesheet applied: a file, not an inline block the policy would drop.
                assert await page.evaluate("getComputedStyle(document.body).fontFamily") != ""
                assert await page.evaluate("document.styleSheets.length") >= 1
                assert await page.evaluate("window.__violations") == [], path

            await log_in(page, live.url, "sup1")  # online: the dashboard's WebSocket is allowed
            assert await page.evaluate("window.__violations") == []

            await page.goto(live.url + "reports/day?date=2026-11-24")
            await expect(page.locator("h1")).to_contain_text("24 ноября 2026")
            assert await page.evaluate("getComputedStyle(document.querySelector('table')).borderCollapse") \
                == "collapse"
            assert await page.evaluate("window.__violations") == []
        finally:
            await browser.close()

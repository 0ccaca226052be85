"""axe-core (from the npm registry, package.json) on every page, logged in as each role: no WCAG 2.1 A or AA
violation (issue 18)."""

from __future__ import annotations

from typing import Any

import pytest

from callcenter.web.auth import ACCOUNTS
from tests import test_dashboard_browser as dashboard
from tests.conftest import REPO
from tests.test_dashboard_browser import ARGS, CHROMIUM, PASSWORD, Live, log_in

AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
pytestmark = [
    pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
    pytest.mark.skipif(not AXE.exists(), reason="axe-core is not installed: run `make test` (npm ci)"),
]
live = dashboard.live  # the dashboard tests' service and PBX simulator, as a fixture of this module too
WCAG21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


async def violations(page: Any) -> list[str]:
    # The page's own Content-Security-Policy would refuse axe's code as an inline script; the test's browser
    # context bypasses it (the policy itself is tested in test_security_browser.py).
    await page.evaluate(AXE.read_text(encoding="utf-8"))
    found = await page.evaluate("""async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}}))
        .violations.map((v) => `${v.id}: ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' '))
        .join(', ')}`)""", WCAG21_AA)
    return list(found)


async def test_no_wcag_violation_on_any_page_for_any_role(live: Live) -> None:
    from playwright.async_api import async_playwright, expect

    accounts = live.server.app[ACCOUNTS]
    await accounts.add("int1", "Переводчик Один", "interpreter", PASSWORD, "", "")
    await accounts.add("sup1", "Старший смены", "supervisor", PASSWORD, "", "")
    found: dict[str, list[str]] = {}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                   args=[*ARGS, "--use-fake-ui-for-media-stream",
                                                         "--use-fake-device-for-media-stream"])
        try:
            for path in ("", "callback", "video"):
                page = await (await browser.new_context(bypass_csp=True)).new_page()
                await page.goto(live.url + path)
                await expect(page.locator("h1").first).to_be_visible()
                found[f"/{path} (anonymous)"] = await violations(page)
            for username in ("op1", "int1", "sup1"):
                page = await (await browser.new_context(bypass_csp=True)).new_page()
                await log_in(page, live.url, username)
                found[f"/ ({username})"] = await violations(page)
                if username == "sup1":
                    await page.goto(live.url + "reports/day?date=2026-11-24")
                    found["/reports/day (sup1)"] = await violations(page)
        finally:
            await browser.close()
    assert {page: rules for page, rules in found.items() if rules} == {}
    assert len(found) == 7

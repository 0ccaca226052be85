"""The dashboard on a phone and on a wide screen: at 390x844 no card's content is wider than the card (a table
scrolled sideways hides its action buttons), with rows in every table; at 1280 and 1920 the cards leave no empty
cell in the layout above another card, nor does a tablet's two columns at 900."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest

from callcenter.web.auth import ACCOUNTS
from tests import test_dashboard_browser as dashboard
from tests.test_dashboard_browser import ARGS, CHROMIUM, PASSWORD, Live, log_in

pytestmark = pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(),
                                reason="Debian's chromium is not installed")
live = dashboard.live  # the dashboard tests' service and PBX simulator, as a fixture of this module too

# Each visible card, and each table in it: how much wider the content is than the box it is shown in.
OVERFLOWS = """() => [...document.querySelectorAll('main#app .card')].filter((card) => card.offsetParent !== null)
  .flatMap((card) => [[`#${card.id}`, card.scrollWidth - card.clientWidth],
    ...[...card.querySelectorAll('table')].map((table) => [`#${card.id} #${table.tBodies[0].id}`,
                                                           table.scrollWidth - table.parentElement.clientWidth])])
  .filter(([, excess]) => excess > 1)"""

# A hole: a card whose top edge, somewhere along it, has neither the top of the layout nor another card's bottom
# (one grid gap away) above it.
HOLES = """(gap) => {
  const cards = [...document.querySelectorAll('main#app .card')].filter((card) => card.offsetParent !== null)
    .map((card) => [card.id, card.getBoundingClientRect()]);
  const top = Math.min(...cards.map(([, r]) => r.top));
  const holes = [];
  for (const [id, r] of cards) {
    if (r.top - top < 1) continue;
    for (let x = r.left + 1; x < r.right - 1; x += 8) {
      const covered = cards.some(([, a]) => a.bottom <= r.top + 1 && r.top - a.bottom <= gap + 1
                                            && a.left - gap - 1 <= x && x <= a.right + gap + 1);
      if (!covered) { holes.push(`above #${id} at x=${Math.round(x)}`); break; }
    }
  }
  return holes;
}"""


async def overflows_at_a_phones_width(page: Any) -> list[Any]:
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.wait_for_timeout(200)
    page_excess = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    return [*(await page.evaluate(OVERFLOWS)), *([["the page", page_excess]] if page_excess > 0 else [])]


async def holes_at(page: Any, width: int, height: int) -> list[str]:
    await page.set_viewport_size({"width": width, "height": height})
    await page.wait_for_timeout(200)
    return list(await page.evaluate(HOLES, 16))


async def test_every_card_fits_a_phone_and_wide_screens_have_no_holes(live: Live) -> None:
    from playwright.async_api import async_playwright, expect

    await live.server.app[ACCOUNTS].add("sup", "Старший смены", "supervisor", PASSWORD, "", "")
    async with aiohttp.ClientSession() as resident:
        started = await resident.post(live.url + "api/video/sessions", json={"mode": "operator", "consent": True})
        assert started.status == 201
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            operator = await browser.new_page(viewport={"width": 1366, "height": 768})
            await log_in(operator, live.url, "op1")
            # The video session waits for an operator in the queue, named as one, not by its placeholder's number.
            await expect(operator.locator("#waiting tr[data-uniqueid]")).to_have_text(re.compile(r"Видеосеанс: v\w+"))
            await operator.click("#queue-in")
            live.sim.caller_arrives("+74951234567", "Иванова Анна Петровна", patience=100_000, handle=600)
            for phone in ("8 916 555-12-34", "8 916 555-12-35"):
                await operator.fill("#callback-phone", phone)
                await operator.click('#new-callback button[type="submit"]')
                await expect(operator.locator("#callback-done")).to_contain_text(phone[-5:])
            await expect(operator.locator("#callbacks tr[data-callback]")).to_have_count(2)
            await expect(operator.locator("#video-sessions tr[data-video]")).to_have_count(1)
            await expect(operator.locator("#waiting tr[data-uniqueid]")).to_have_count(1)
            await expect(operator.locator("#members tr[data-interface]")).to_have_count(1)

            assert await overflows_at_a_phones_width(operator) == []
            # Stacked, each value still says its column, and the header row is still there for screen readers.
            first = operator.locator("#callbacks tr[data-callback]").first
            assert await first.locator("td").first.get_attribute("data-label") == "Телефон"
            box = await first.locator("[data-withdraw]").bounding_box()
            card = await operator.locator("#callbacks-card").bounding_box()
            assert box and card and box["x"] + box["width"] <= card["x"] + card["width"], (box, card)
            await expect(operator.get_by_role("columnheader", name="Действия")).to_have_count(2)
            await operator.click("#lang")
            await expect(first.locator("td").first).to_have_attribute("data-label", "Phone")
            assert await overflows_at_a_phones_width(operator) == []
            await operator.click("#lang")

            assert await holes_at(operator, 1920, 1080) == []
            assert await holes_at(operator, 1280, 800) == []
            assert await holes_at(operator, 900, 1100) == []  # a tablet: two columns

            supervisor = await browser.new_page(viewport={"width": 1366, "height": 768})
            await log_in(supervisor, live.url, "sup")
            await expect(supervisor.locator("#hourly tr")).to_have_count(12)
            await expect(supervisor.locator("#callbacks tr[data-callback]")).to_have_count(2)
            await expect(supervisor.locator("#video-sessions tr[data-video]")).to_have_count(1)
            assert await overflows_at_a_phones_width(supervisor) == []
            # Today by hour is short numbers: four to a line (two to a line made twelve hours a 2,900 px card).
            tops = await supervisor.eval_on_selector_all(
                "#hourly tr:first-child td", "tds => tds.slice(0, 4).map((td) => Math.round(td.offsetTop))")
            assert len(tops) == 4 and len(set(tops)) == 1, tops
            assert await holes_at(supervisor, 1920, 1080) == []
            assert await holes_at(supervisor, 1280, 800) == []
            assert await holes_at(supervisor, 900, 1100) == []
        finally:
            await browser.close()

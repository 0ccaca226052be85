"""The dashboard in a real browser: Debian's Chromium driven by Playwright (no browser download), against the
real service and the PBX simulator over TCP."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer

from callcenter.cases.model import Case
from callcenter.config import Settings
from callcenter.pbx.simulator import PbxSimulator, SimConfig
from callcenter.server import build_service
from callcenter.web.auth import ACCOUNTS
from callcenter.web.callbacks import SCHEDULER
from callcenter.web.cases import CASES
from callcenter.web.hotline import PBX_LINK
from callcenter.web.keys import CLOCK
from tests.conftest import REPO

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]
SCREENSHOT = REPO / "docs" / "dashboard.png"
MSK = ZoneInfo("Europe/Moscow")
PASSWORD = "browser test password"


class NoJobs:
    async def schedule(self, callback_id: str, at: float) -> None:
        """Nothing dials by itself here: the operator presses "call now"."""


@dataclass
class Live:
    url: str
    sim: PbxSimulator
    server: TestServer


@pytest.fixture
async def live(settings: Settings, redis: aioredis.Redis) -> AsyncIterator[Live]:
    start = datetime(2026, 11, 24, 10, 0, tzinfo=MSK).timestamp()
    sim = PbxSimulator(SimConfig(agents=0, secret="s", generate_traffic=False, agent_no_answer=0.0, acceleration=20,
                                 resident_answer_probability=0.0), start_time=start)
    await sim.start()
    app = build_service(settings.replace("ami", host="127.0.0.1", port=sim.port, secret="s"))
    app[CLOCK] = lambda: start
    app[SCHEDULER] = NoJobs()
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    await app[ACCOUNTS].add("op1", "Оператор Один", "operator", PASSWORD, "Local/1@agents", "101")
    await app[CASES].upsert_all([Case("100200300", "Ежемесячное пособие", "Иванова А. П.", "1954-03-15",
                                      ["+74951234567"], "in_review", "2026-11-10")])
    link = app[PBX_LINK]
    await link.client.wait_until(lambda: link.resyncs >= 1, 5)
    try:
        yield Live(f"http://127.0.0.1:{server.port}/", sim, server)
    finally:
        await server.close()
        await sim.stop()


async def log_in(page: Any, url: str, username: str, password: str = PASSWORD) -> None:
    """The login form filled in, and the dashboard online (its WebSocket open)."""
    from playwright.async_api import expect

    await page.goto(url)
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.keyboard.press("Enter")
    await expect(page.locator("#link")).to_have_class(re.compile("online"))


def actions(sim: PbxSimulator, name: str) -> list[dict[str, str]]:
    return [a.to_dict() for a in sim.actions if a.name == name]


async def test_an_operators_shift(live: Live) -> None:
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = await browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            await page.goto(live.url)
            await page.fill("#username", "op1")
            await page.fill("#password", PASSWORD)
            await page.keyboard.press("Enter")  # by keyboard, as an operator may
            await expect(page.locator("#link")).to_have_class(re.compile("online"))
            await expect(page.locator("#who")).to_contain_text("Оператор Один")
            await expect(page.locator("#login")).to_be_hidden()

            await page.click("#queue-in")
            await expect(page.locator('#members tr[data-interface="Local/1@agents"]')).to_contain_text("op1")
            assert actions(live.sim, "QueueAdd")[-1]["Interface"] == "Local/1@agents"

            await page.select_option("#pause-reason", "Обед")
            await page.click("#pause")
            await expect(page.locator("#my-state")).to_contain_text("Обед")
            paused = actions(live.sim, "QueuePause")[-1]
            assert (paused["Interface"], paused["Paused"], paused["Reason"]) == ("Local/1@agents", "true", "Обед")

            live.sim.caller_arrives("+74951234567", "Иванова Анна", patience=100_000, handle=600)
            await expect(page.locator("#waiting")).to_contain_text("+7 495 123-45-67", timeout=1000)
            await expect(page.locator('[data-figure="callers_waiting"]')).to_have_text("1")

            await page.fill("#callback-phone", "8 916 555-12-34")
            await page.click('#new-callback button[type="submit"]')
            row = page.locator("#callbacks tr", has_text="+7 916 555-12-34")
            await expect(row).to_be_visible()
            async with page.expect_response(lambda r: r.url.endswith("/call-now")) as answered:
                await row.locator("[data-call-now]").click()
            assert (await answered.value).status == 200  # answered once the PBX took the Originate
            originate = live.sim.originates[-1].headers
            assert (originate["Channel"], originate["Context"], originate["Exten"]) == \
                ("Local/1@agents", "callback-operator-first", "+79165551234")

            async with page.expect_response(lambda r: r.url.endswith("/api/me/pause")) as resumed:
                await page.click("#resume")
            assert (await resumed.value).status == 200
            assert actions(live.sim, "QueuePause")[-1]["Paused"] == "false"
            await expect(page.locator("#pop-callerid")).to_have_text("+7 495 123-45-67", timeout=10_000)
            await expect(page.locator("#screen-pop")).to_contain_text("100200300")
            await expect(page.locator("#screen-pop")).to_contain_text("не проверено")
            await expect(page.locator("#screen-pop")).to_contain_text("Заявление рассматривается")
            await page.click('#screen-pop [data-case="100200300"]')
            await expect(page.locator("#case-view")).to_contain_text("Заявление рассматривается")

            # The README's picture is replaced only when asked: a test run leaves tracked files alone.
            if os.environ.get("HOTLINE_UPDATE_DOCS"):
                await page.screenshot(path=str(SCREENSHOT), full_page=True)

            # 200 % zoom: the page gets half the CSS width; nothing may need sideways scrolling of the page.
            await page.set_viewport_size({"width": 700, "height": 1000})
            overflow = await page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"the page scrolls sideways by {overflow}px at 200 % zoom"
            await expect(page.locator("#pause")).to_be_visible()
            await page.set_viewport_size({"width": 1400, "height": 1000})

            await page.click("#lang")
            await expect(page.locator("h1")).to_have_text("Hotline")
            await page.click("#lang")
            await page.click("#logout")
            await expect(page.locator("#login")).to_be_visible()
        finally:
            await browser.close()


async def test_a_supervisor_sees_today_by_hour_and_the_printable_report(live: Live) -> None:
    from playwright.async_api import async_playwright, expect

    await live.server.app[ACCOUNTS].add("sup", "Старший смены", "supervisor", PASSWORD, "", "")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = await browser.new_page()
        try:
            await page.goto(live.url)
            await page.fill("#username", "sup")
            await page.fill("#password", PASSWORD)
            await page.keyboard.press("Enter")
            card = page.locator("#supervisor-card")
            await expect(card).to_be_visible()
            await expect(card.locator("#hourly tr")).to_have_count(12)  # 08:00 to 19:00
            await expect(card.locator("#hourly tr").first).to_contain_text("08:00")
            await expect(page.locator("#callback-outcomes")).to_contain_text("заказано 0")
            await page.goto(live.url.rstrip("/") + (await page.locator("#report-link").get_attribute("href") or ""))
            await expect(page.locator("h1")).to_contain_text("отчёт за 24 ноября 2026 г.")
            await expect(page.locator("svg")).to_have_count(4)
        finally:
            await browser.close()

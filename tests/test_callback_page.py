"""The residents' callback page as a person uses it (issue 18): Russian only, focus and aria-invalid on the
field at fault, an emptied form after success, a time window in two Tab stops, sent in Moscow time."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from callcenter.config import Settings
from tests.test_callbacks_e2e import msk, running_hotline
from tests.test_security_callback_page import ARGS

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
LATIN_WORD = re.compile(r"[A-Za-z_]{3,}")


async def test_a_resident_fills_the_form_by_keyboard(settings: Settings, redis: aioredis.Redis) -> None:
    from playwright.async_api import async_playwright, expect

    async with running_hotline(settings, redis) as hotline, async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 390, "height": 844})
            await page.goto(str(hotline.client.make_url("/callback")))
            focused = "document.activeElement.id"

            # Two Tab stops from the number to the topic while "as soon as possible" is chosen, three with a day.
            await page.focus("#phone")
            await page.keyboard.press("Tab")
            assert await page.evaluate(focused) == "when-day"
            await page.keyboard.press("Tab")
            assert await page.evaluate(focused) == "topic"

            # A wrong number: a Russian message, the focus back on the number, marked invalid.
            await page.fill("#phone", "12")
            async with page.expect_response(lambda r: r.url.endswith("/api/callbacks")):
                await page.keyboard.press("Enter")  # Enter in the number sends the form
            await expect(page.locator("#phone-error")).to_be_visible()
            message = await page.locator("#phone-error").inner_text()
            assert "Проверьте номер телефона" in message and not LATIN_WORD.search(message), message
            assert await page.evaluate(focused) == "phone"
            assert await page.get_attribute("#phone", "aria-invalid") == "true"
            assert "phone-error" in (await page.get_attribute("#phone", "aria-describedby") or "")
            await page.keyboard.press("Control+A")
            await page.keyboard.type("8 916 555-12-34")  # typing again clears the mark
            assert await page.get_attribute("#phone", "aria-invalid") is None

            # A day and a window, chosen from the keyboard.
            await page.keyboard.press("Tab")
            await page.select_option("#when-day", index=2)  # the day after tomorrow
            await page.keyboard.press("Tab")
            assert await page.evaluate(focused) == "when-window"
            chosen_day = await page.eval_on_selector("#when-day", "s => s.value")
            await page.select_option("#when-window", "14-16")
            await page.fill("#topic", "субсидия на ЖКУ")
            async with page.expect_response(lambda r: r.url.endswith("/api/callbacks")) as answered:
                await page.keyboard.press("Tab")
                await page.keyboard.press("Enter")
            assert (await answered.value).status == 201, await (await answered.value).text()
            await expect(page.locator("#result")).to_contain_text("Заявка принята")
            assert await page.evaluate(focused) == "result"
            # The form is emptied: pressing again sends nothing twice.
            assert await page.input_value("#phone") == "" and await page.input_value("#topic") == ""
            assert await page.eval_on_selector("#when-day", "s => s.value") == ""
            stored = (await hotline.store.find(["scheduled"], limit=10))[0]
            assert stored.topic == "субсидия на ЖКУ"
            from datetime import datetime
            from zoneinfo import ZoneInfo
            assert stored.not_before == datetime.fromisoformat(f"{chosen_day}T14:00:00").replace(
                tzinfo=ZoneInfo("Europe/Moscow")).timestamp()
            assert stored.not_after == stored.not_before + 2 * 3600
        finally:
            await browser.close()


async def test_a_refusal_is_said_under_its_field_on_a_phone_and_success_says_what_next(
        settings: Settings, redis: aioredis.Redis) -> None:
    """On a phone the box under the button is off screen while the focus is on the number: the words about the
    number are under it, in view; an empty number is asked for without a round trip; the accepted request says
    what happens when the resident misses the call."""
    from playwright.async_api import async_playwright, expect

    async with running_hotline(settings, redis) as hotline, async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 390, "height": 844})
            await page.goto(str(hotline.client.make_url("/callback")))
            sent: list[str] = []
            page.on("request", lambda request: sent.append(request.url) if "/api/callbacks" in request.url else None)

            await page.click('button[type="submit"]')
            error = page.locator("#phone-error")
            await expect(error).to_have_text("Укажите номер телефона, на который вам перезвонить.")
            assert sent == []

            await page.fill("#phone", "8 800 200-06-00")
            async with page.expect_response(lambda r: r.url.endswith("/api/callbacks")):
                await page.click('button[type="submit"]')
            await expect(error).to_contain_text("8\u2011800")  # one piece, never broken at its hyphen
            await expect(error).to_be_in_viewport()
            await expect(page.locator("#result")).to_be_hidden()
            field, said, day = [await page.locator(selector).bounding_box()
                                for selector in ("#phone", "#phone-error", "#when-day")]
            assert field and said and day and field["y"] < said["y"] < day["y"], (field, said, day)
            assert await page.evaluate("document.activeElement.id") == "phone"

            await page.fill("#phone", "8 916 555-12-34")  # typing clears the words
            await expect(error).to_be_hidden()
            async with page.expect_response(lambda r: r.url.endswith("/api/callbacks")):
                await page.click('button[type="submit"]')
            accepted = page.locator("#result")
            await expect(accepted).to_contain_text("Заявка принята")
            await expect(accepted).to_contain_text("Если вы не сможете ответить, оператор позвонит ещё раз")
            await expect(accepted).to_contain_text("Ожидайте звонка примерно сегодня в 10:")  # the service's day
        finally:
            await browser.close()


async def test_the_page_offers_the_services_days_and_hours_and_says_its_number(
        settings: Settings, redis: aioredis.Redis) -> None:
    """The days, hours, number and number of tries come from the service's settings (GET /api/hotline), not from
    constants in the page: a holiday is not offered, a short day's windows end when it closes, the resident is
    told the number to call, and a single try is said as such."""
    from playwright.async_api import async_playwright, expect

    configured = settings.replace("hotline", number="+74951112233")
    # The simulated day is Tuesday 24 November 2026: Wednesday is a holiday, Thursday closes at 15:00.
    configured = configured.replace("hours", closed_dates=["2026-11-25"], changed=["2026-11-26 10:00-15:00"])
    async with running_hotline(configured, redis, max_attempts=1) as hotline, async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 390, "height": 844})
            await page.goto(str(hotline.client.make_url("/callback")))
            number = page.locator("#hotline-number a")
            await expect(number).to_have_text("8 (495) 111-22-33")
            assert await number.get_attribute("href") == "tel:+74951112233"
            days = await page.eval_on_selector_all("#when-day option", "options => options.map(o => o.value)")
            assert "2026-11-25" not in days and days[:3] == ["", "2026-11-24", "2026-11-26"], days
            await page.select_option("#when-day", "2026-11-26")
            windows = await page.eval_on_selector_all("#when-window option", "options => options.map(o => o.text)")
            assert windows == ["В любое время (10:00–15:00)", "10:00–12:00", "12:00–14:00", "14:00–15:00"], windows

            await page.fill("#phone", "8 916 555-12-34")
            async with page.expect_response(lambda r: r.url.endswith("/api/callbacks")) as answered:
                await page.click('button[type="submit"]')
            assert (await answered.value).status == 201
            await expect(page.locator("#result")).to_contain_text("Звонок будет один")
            await expect(page.locator("#result")).to_contain_text("примерно 26 ноября в 10:00")
            (stored,) = await hotline.store.find(["scheduled"], limit=10)
            assert (stored.not_before, stored.not_after) == (msk(10, day=26), msk(15, day=26))

            # Another device asks for the same number: told to call the hotline, and its number.
            other = await browser.new_page(viewport={"width": 390, "height": 844})
            await other.goto(str(hotline.client.make_url("/callback")))
            await expect(other.locator("#hotline")).to_be_visible()
            await other.fill("#phone", "8 916 555-12-34")
            await other.click('button[type="submit"]')
            await expect(other.locator("#result")).to_contain_text("на горячую линию (8 (495) 111-22-33)")
        finally:
            await browser.close()

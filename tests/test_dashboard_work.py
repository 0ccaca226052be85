"""The dashboard as people work in it all day (issue 18): what each button offers depends on the state, words
are the reader's (never a raw PBX, English or JSON error), lists update in place without taking the keyboard
focus away, what needs attention stands out, and an interpreter sees the offer on top, counting down."""

from __future__ import annotations

import re

import aiohttp
import pytest

from callcenter.web.auth import ACCOUNTS
from tests import test_dashboard_browser as dashboard
from tests.test_dashboard_browser import ARGS, CHROMIUM, PASSWORD, Live, log_in

pytestmark = pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(),
                                reason="Debian's chromium is not installed")
live = dashboard.live  # the dashboard tests' service and PBX simulator, as a fixture of this module too


async def test_an_operators_buttons_lists_and_words(live: Live) -> None:
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = await browser.new_page(viewport={"width": 1366, "height": 768})
        page.on("dialog", lambda dialog: dialog.accept())
        try:
            await log_in(page, live.url, "op1")
            # Only what makes sense now: not in the queue, so no pause; in it, no second join.
            await expect(page.locator("#queue-in")).to_be_enabled()
            await expect(page.locator("#pause")).to_be_disabled()
            await expect(page.locator("#queue-out")).to_be_disabled()
            await page.click("#queue-in")
            await expect(page.locator("#queue-in")).to_be_disabled()
            await expect(page.locator("#pause")).to_be_enabled()
            await page.click("#pause")
            await expect(page.locator("#resume")).to_be_enabled()
            await expect(page.locator("#pause")).to_be_disabled()

            # The PBX's own words never reach the page.
            words = await page.evaluate("""import('/static/dashboard-format.js').then((m) => [
                m.errorText({status: 409,
                             data: {error: 'pbx_refused', detail: 'Unable to add interface: Already there'}}, 'ru'),
                m.errorText({status: 409, data: {error: 'pbx_refused', detail: 'Interface not found'}}, 'ru'),
                m.errorText({status: 500, data: {error: 'internal_error', detail: 'internal error'}}, 'ru'),
                m.errorText({}, 'ru')])""")
            assert words[:2] == ["Вы уже в очереди.", "Вы не в очереди."]
            for text in words:
                assert not re.search(r"[A-Za-z]{3,}", text), text

            # Callbacks: formatted, with the topic; the list updates in place and keeps the focus.
            await page.fill("#callback-phone", "8 916 555-12-34")
            await page.click('#new-callback button[type="submit"]')
            await expect(page.locator("#callback-done")).to_contain_text("+7 916 555-12-34")
            row = page.locator('#callbacks tr[data-callback]').first
            await expect(row).to_contain_text("+7 916 555-12-34")
            callback_id = await row.get_attribute("data-callback")
            details = row.locator("[data-details]")
            await details.focus()
            # Another callback changes the list while the focus sits in the first row.
            await page.evaluate("document.querySelector('#callback-phone').value = '8 916 555-12-36'")
            await page.evaluate("document.querySelector('#new-callback').requestSubmit()")
            await expect(page.locator("#callbacks tr[data-callback]")).to_have_count(2)
            assert await page.evaluate("document.activeElement.dataset.details") == callback_id

            # Cancelling asks first and says what it did.
            await page.locator(f'#callbacks tr[data-callback="{callback_id}"] [data-withdraw]').click()
            await expect(page.locator("#callback-done")).to_contain_text("отменён")
            await expect(page.locator(f'#callbacks tr[data-callback="{callback_id}"]')).to_have_count(0)

            # What needs attention stands out: a caller waiting longer than the threshold.
            live.sim.caller_arrives("+74951234567", "Иванова Анна", patience=100_000, handle=600)
            await expect(page.locator("#waiting")).to_contain_text("+7 495 123-45-67")
            # English mode: statuses too.
            await page.click("#lang")
            await expect(page.locator("#my-state")).to_contain_text("You are in the queue")
            await expect(page.locator("#callbacks")).to_contain_text("scheduled")
            await page.click("#lang")
        finally:
            await browser.close()


async def test_an_interpreter_sees_the_offer_on_top_counting_down(live: Live) -> None:
    from playwright.async_api import async_playwright, expect

    await live.server.app[ACCOUNTS].add("int1", "Переводчик Один", "interpreter", PASSWORD, "", "")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = await browser.new_page(viewport={"width": 1366, "height": 768})
        try:
            await log_in(page, live.url, "int1")
            # Their own view: no voice queue, no callbacks card (and so no permission error), no raw status.
            for card in ("#queue-card", "#callbacks-card", "#call-card"):
                await expect(page.locator(card)).to_be_hidden()
            await page.click("#interpreter-available")
            await expect(page.locator("#interpreter-status")).to_contain_text("Готов принимать")
            await expect(page.locator("#interpreter-available")).to_be_disabled()
            async with aiohttp.ClientSession() as resident:
                started = await resident.post(live.url + "api/video/sessions", json={"mode": "sign", "consent": True})
                session_id = (await started.json())["session"]["id"]
            offer = page.locator(f'#video-offers [data-session="{session_id}"]')
            await expect(offer).to_contain_text("Вам предложен видеосеанс")
            await expect(offer).to_contain_text(re.compile(r"осталось \d+ с"))
            box = await offer.bounding_box()
            assert box is not None and box["y"] + box["height"] <= 768, box  # visible without scrolling
            await expect(page).to_have_title(re.compile("Видеосеанс для вас"))
            assert await page.evaluate("document.activeElement.dataset.videoAccept") == session_id
            assert "busy" not in await page.locator("#video-card").inner_text()
        finally:
            await browser.close()


async def tab_to(page, selector: str, limit: int = 60) -> None:  # type: ignore[no-untyped-def]
    """Press Tab until the element is focused, as a keyboard user would (fails if it is never reached)."""
    for _ in range(limit):
        if await page.evaluate("(s) => document.activeElement?.matches(s) ?? false", selector):
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"{selector} is not reachable with Tab")


async def test_each_role_does_its_main_task_with_the_keyboard_alone(live: Live) -> None:
    from playwright.async_api import async_playwright, expect

    await live.server.app[ACCOUNTS].add("int2", "Переводчик Два", "interpreter", PASSWORD, "", "")
    await live.server.app[ACCOUNTS].add("sup2", "Старший смены", "supervisor", PASSWORD, "", "")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            async def signed_in(username: str):  # type: ignore[no-untyped-def]
                page = await browser.new_page(viewport={"width": 1366, "height": 768})
                await page.goto(live.url)
                await expect(page.locator("#username")).to_be_focused()
                await page.keyboard.type(username)
                await page.keyboard.press("Tab")
                await page.keyboard.type(PASSWORD)
                await page.keyboard.press("Enter")
                await expect(page.locator("#link")).to_have_class(re.compile("online"))
                return page

            # An operator: join the queue, pause for lunch, come back.
            page = await signed_in("op1")
            await tab_to(page, "#queue-in")
            await page.keyboard.press("Enter")
            await expect(page.locator("#my-state")).to_contain_text("Вы в очереди")
            await tab_to(page, "#pause-reason")
            await page.keyboard.press("ArrowDown")  # "Обед"
            await tab_to(page, "#pause")
            await page.keyboard.press("Enter")
            await expect(page.locator("#my-state")).to_contain_text("Обед")
            await tab_to(page, "#resume")
            await page.keyboard.press("Enter")
            await expect(page.locator("#resume")).to_be_disabled()

            # An interpreter: ready, then the offer takes the focus and Enter accepts it.
            page = await signed_in("int2")
            await tab_to(page, "#interpreter-available")
            await page.keyboard.press("Enter")
            await expect(page.locator("#interpreter-available")).to_be_disabled()
            async with aiohttp.ClientSession() as resident:
                started = await resident.post(live.url + "api/video/sessions", json={"mode": "sign", "consent": True})
                session_id = (await started.json())["session"]["id"]
            accept = page.locator(f'[data-video-accept="{session_id}"]')
            await expect(accept).to_be_focused()
            async with page.context.expect_page() as video_page:
                await page.keyboard.press("Enter")
            assert "/video?session=" in (await video_page.value).url

            # A supervisor: the printable report, reached by keyboard.
            page = await signed_in("sup2")
            await tab_to(page, "#report-link")
            async with page.context.expect_page() as report_page:
                await page.keyboard.press("Enter")
            report = await report_page.value
            await expect(report.locator("h1")).to_contain_text("отчёт за")
        finally:
            await browser.close()


async def test_a_supervisor_unlocks_an_operator_from_the_dashboard(live: Live) -> None:
    from playwright.async_api import async_playwright, expect

    await live.server.app[ACCOUNTS].add("sup3", "Старший смены", "supervisor", PASSWORD, "", "")
    async with aiohttp.ClientSession() as guesser:
        for attempt in range(5):
            await guesser.post(live.url + "api/login", json={"username": "op1", "password": f"wrong {attempt}"})
        locked = await guesser.post(live.url + "api/login", json={"username": "op1", "password": PASSWORD})
        assert locked.status == 429
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1366, "height": 768})
            await log_in(page, live.url, "sup3")
            button = page.locator('#lockouts [data-unlock="op1"]')
            await expect(button).to_be_visible()
            await button.click()
            await expect(page.locator("#lockouts-done")).to_contain_text("op1")
            await expect(page.locator("#lockouts")).to_contain_text("Никто не заблокирован")
        finally:
            await browser.close()
    async with aiohttp.ClientSession() as operator:
        assert (await operator.post(live.url + "api/login", json={"username": "op1", "password": PASSWORD})).status \
            == 200

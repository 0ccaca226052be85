"""The residents' callback page (issue 16, points 2 and 3) in Debian's Chromium, against the real service and the
PBX simulator: a number the hotline must not dial is refused in Russian, and a second resident who types a number
that already has a request learns nothing about it, while the resident who made it still sees it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from callcenter.config import Settings
from tests.test_callbacks_e2e import running_hotline

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]


async def test_the_page_refuses_in_russian_and_tells_a_stranger_nothing(settings: Settings,
                                                                       redis: aioredis.Redis) -> None:
    from playwright.async_api import Page, async_playwright, expect

    async def ask(page: Page, phone: str, topic: str = "") -> str:
        await page.fill("#phone", phone)
        await page.fill("#topic", topic)
        async with page.expect_response(lambda r: r.url.endswith("/api/callbacks")):
            await page.click('button[type="submit"]')
        said = page.locator("#result:not([hidden]), .field-error:not([hidden])")  # a refusal is said by its field
        await expect(said).to_be_visible()
        return await said.inner_text()

    async with running_hotline(settings, redis) as hotline, async_playwright() as playwright:
        url = str(hotline.client.make_url("/callback"))
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            resident = await (await browser.new_context()).new_page()
            resident.on("dialog", lambda dialog: dialog.accept())  # "cancel the request?" — yes
            await resident.goto(url)
            abroad = await ask(resident, "+7 701 123-45-67")
            assert "только на российские номера" in abroad and "Казахстан" in abroad, abroad
            await expect(resident.locator("#phone-error")).to_be_visible()
            toll_free = await ask(resident, "8 800 200-06-00")
            assert "8\u2011800" in toll_free, toll_free
            own = await ask(resident, "8 495 000-00-00")
            assert "номер самой горячей линии" in own, own
            assert await hotline.store.find(["scheduled"], limit=10) == []

            accepted = await ask(resident, "8 916 555-12-34", "диагноз: онкология")
            assert "Заявка принята" in accepted and "1-й в очереди" in accepted, accepted
            await expect(resident.locator("#cancel")).to_be_visible()

            stranger = await (await browser.new_context()).new_page()
            await stranger.goto(url)
            told = await ask(stranger, "+79165551234")
            assert "уже есть заявка" in told, told
            for secret in ("диагноз", "-й в очереди", "12-34", "undefined", "Отменить"):
                assert secret not in told, (secret, told)
            assert await stranger.locator("#cancel").count() == 0

            # The resident who asked, on their page, still sees their request and can cancel it.
            again = await ask(resident, "8 916 555-12-34")
            assert "Это ваша заявка" in again and "1-й в очереди" in again, again
            await resident.click("#cancel")
            await expect(resident.locator("#result")).to_have_text("Заявка отменена.")
        finally:
            await browser.close()

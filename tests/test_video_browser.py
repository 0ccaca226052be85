"""The residents' video page in a real browser: Debian's Chromium with a fake camera reaches an interpreter
played by an aiortc peer, through the service's media forwarding."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from callcenter.config import Settings
from callcenter.pbx.simulator import PbxSimulator, SimConfig
from callcenter.server import build_service
from callcenter.video.ice import use_host_addresses
from callcenter.web.app import create_app
from callcenter.web.auth import ACCOUNTS
from callcenter.web.video import VIDEO_NOTIFY
from tests.videotools import Notifications, Peer, staff

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
        "--autoplay-policy=no-user-gesture-required"]
FRAMES_DECODED = """async () => {
  const pc = window.videoCall && window.videoCall.pc;
  if (!pc) return 0;
  const main = pc.getTransceivers()[0].receiver;
  let decoded = 0;
  (await main.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") decoded += s.framesDecoded || 0;
  });
  return decoded;
}"""


@pytest.fixture
async def server(settings: Settings, redis: Any, tmp_path: Path) -> AsyncIterator[tuple[TestServer, Notifications]]:
    use_host_addresses(["127.0.0.1"])
    settings = settings.replace("hours", open="00:00", close="24:00").replace("video", recordings="")
    app = create_app(settings, redis_url=settings.redis.url)
    notifications = Notifications()
    app[VIDEO_NOTIFY] = notifications
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server, notifications
    await server.close()


async def poll(condition: Any, timeout: float = 15.0) -> Any:
    """Media statistics have no event to await: ask until they say yes."""
    async def asking() -> Any:
        while not (result := await condition()):
            await asyncio.sleep(0.2)
        return result
    return await asyncio.wait_for(asking(), timeout)


async def test_a_deaf_resident_on_the_page_sees_the_interpreter(server: tuple[TestServer, Notifications]) -> None:
    from playwright.async_api import async_playwright, expect

    test_server, notifications = server
    url = str(test_server.make_url("/video"))
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = await browser.new_page()
        await page.goto(url)
        await page.get_by_role("button", name="Проверить камеру и микрофон").click()
        await expect(page.locator("#check-result")).to_contain_text("работают")
        await page.get_by_role("button", name="Позвонить").click()
        await expect(page.locator("#check-result")).to_contain_text("согласие")  # consent first
        await page.get_by_label("Я согласен(на) на видеозвонок").check()
        await page.get_by_role("button", name="Позвонить").click()
        await expect(page.locator("#status")).to_contain_text("Ждём переводчика")

        http, csrf = await staff(test_server, "interpreter", "ivanova")
        assert (await http.post("/api/video/interpreter/status", json={"status": "available"},
                                headers=csrf)).status == 200
        offer = await notifications.wait_for("video_offer", for_user="ivanova")
        session_id = offer["session"]
        accepted = await http.post(f"/api/video/sessions/{session_id}/accept", headers=csrf)
        assert accepted.status == 200
        interpreter = Peer("interpreter", http)
        await interpreter.connect({"session": session_id})
        await interpreter.start_media()
        await expect(page.locator("#status")).to_have_attribute("data-state", "with_interpreter")

        # The page decodes the interpreter's picture, and the interpreter decodes the fake camera's.
        decoded = await poll(lambda: page.evaluate(FRAMES_DECODED))
        assert decoded > 0
        await interpreter.watchers["main"].wait_for(lambda frames: len(frames) >= 10)
        picture = interpreter.watchers["main"].frames[-1][1]
        assert (picture.width, picture.height) == (640, 480)

        await page.get_by_label("Сообщение").fill("Мне нужна справка о субсидии")
        await page.get_by_role("button", name="Отправить").click()
        await interpreter.watchers["main"].wait_for(
            lambda _: "Мне нужна справка о субсидии" in interpreter.chat_received)

        await page.get_by_role("button", name="Завершить звонок").click()
        await interpreter.expect("state", event="resident_ended")
        await interpreter.close()
        await http.close()
        await browser.close()


@pytest.fixture
async def service(settings: Settings, redis: Any) -> AsyncIterator[TestServer]:
    """The whole service as `serve` builds it, with the PBX simulator: dashboards get pushes over the feed."""
    use_host_addresses(["127.0.0.1"])
    sim = PbxSimulator(SimConfig(agents=0, secret="s", generate_traffic=False))
    await sim.start()
    settings = settings.replace("hours", open="00:00", close="24:00").replace("video", recordings="")
    app = build_service(settings.replace("ami", host="127.0.0.1", port=sim.port, secret="s"))
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    try:
        yield test_server
    finally:
        await test_server.close()
        await sim.stop()


async def sign_in_as_the_interpreter(page: Any, test_server: TestServer) -> None:
    from playwright.async_api import expect

    await page.goto(str(test_server.make_url("/")))
    await page.fill("#username", "ivanova")
    await page.fill("#password", "interpreter password")
    await page.keyboard.press("Enter")
    await expect(page.locator("#interpreter-controls")).to_be_visible()


async def test_an_interpreter_takes_a_session_from_the_dashboard(service: TestServer) -> None:
    from playwright.async_api import async_playwright, expect

    test_server = service
    accounts = test_server.app[ACCOUNTS]
    await accounts.add("ivanova", "Иванова И. И.", "interpreter", "interpreter password", "", "")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        context = await browser.new_context()
        page = await context.new_page()
        await sign_in_as_the_interpreter(page, test_server)
        await page.get_by_role("button", name="Готов принимать").click()
        await expect(page.locator("#interpreter-status")).to_contain_text("Готов принимать")

        # A resident (an aiortc peer) asks for an interpreter; the offer appears on the dashboard.
        resident_http = aiohttp.ClientSession(base_url=str(test_server.make_url("/")))
        started = await (await resident_http.post("/api/video/sessions",
                                                  json={"mode": "sign", "consent": True})).json()
        resident = Peer("resident", resident_http)
        await resident.connect({"token": started["token"]})
        await resident.start_media()
        offer = page.locator(f'#video-offers [data-session="{started["session"]["id"]}"]')
        await expect(offer).to_contain_text("Вам предложен видеосеанс")
        async with context.expect_page() as popup:
            await offer.get_by_role("button", name="Принять").click()
        video_page = await popup.value
        await expect(video_page.locator("#status")).to_have_attribute("data-state", "with_interpreter")
        # The resident decodes the interpreter's (fake) camera; the interpreter's page decodes the resident's.
        await resident.watchers["main"].wait_for(lambda frames: len(frames) >= 10)
        assert await poll(lambda: video_page.evaluate(FRAMES_DECODED)) > 0
        await expect(page.locator("#video-sessions")).to_contain_text("с переводчиком")

        await video_page.get_by_role("button", name="Завершить звонок").click()
        await resident.expect("state", event="interpreter_left")
        await resident.close()
        await resident_http.close()
        await browser.close()


async def test_a_list_answered_before_an_offer_does_not_wipe_the_offer_out(service: TestServer) -> None:
    """The dashboard reloads the video list after every action; an answer computed before an offer was pushed
    but arriving after it must not take the offer off the interpreter's screen."""
    from playwright.async_api import Request, Route, async_playwright, expect

    test_server = service
    await test_server.app[ACCOUNTS].add("ivanova", "Иванова И. И.", "interpreter", "interpreter password", "", "")
    held: asyncio.Queue[tuple[Route, Any]] = asyncio.Queue()
    holding = True

    async def hold_the_first_list(route: Route, request: Request) -> None:
        nonlocal holding
        if request.method == "GET" and holding:
            holding = False
            await held.put((route, await route.fetch()))  # answered now, delivered when the test says
        else:
            await route.continue_()

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = await browser.new_page()
        await sign_in_as_the_interpreter(page, test_server)
        await expect(page.locator("#link")).to_have_text("на связи")
        await page.route("**/api/video/sessions", hold_the_first_list)
        await page.get_by_role("button", name="Готов принимать").click()
        route, stale_answer = await asyncio.wait_for(held.get(), 10)
        assert (await stale_answer.json())["offers"] == []

        resident_http = aiohttp.ClientSession(base_url=str(test_server.make_url("/")))
        started = await (await resident_http.post("/api/video/sessions",
                                                  json={"mode": "sign", "consent": True})).json()
        offer = page.locator(f'#video-offers [data-session="{started["session"]["id"]}"]')
        await expect(offer).to_contain_text("Вам предложен видеосеанс")  # pushed over the feed

        card = page.locator("#video-card")
        answers = int(await card.get_attribute("data-answers") or "0")
        await route.fulfill(response=stale_answer)
        await expect(card).not_to_have_attribute("data-answers", str(answers))
        await expect(offer).to_contain_text("Вам предложен видеосеанс")
        await expect(offer.get_by_role("button", name="Принять")).to_be_visible()
        await resident_http.close()
        await browser.close()

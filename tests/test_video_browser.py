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
from callcenter.web.video import VIDEO, VIDEO_NOTIFY
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
        await expect(page.locator("#consent-error")).to_be_visible()  # consent first
        await page.get_by_label("Я согласен(на) на видеозвонок").check()
        await page.get_by_role("button", name="Позвонить").click()
        await expect(page.locator("#status")).to_contain_text("Ищем переводчика")

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
        await page.get_by_role("button", name="Да, завершить").click()
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

        await video_page.get_by_role("button", name="Выйти из сеанса").click()
        await video_page.get_by_role("button", name="Да, выйти").click()
        await resident.expect("state", event="interpreter_left")
        await expect(video_page.locator("#ended-title")).to_be_focused()
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


# -- the resident's layout, real-time text both ways, who said what, the keyboard ---------------------------------

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
# Boxes of what must be on screen at once, and of what must never lie over the signer's picture.
LAYOUT = """() => {
  const box = (id) => { const e = document.getElementById(id); if (!e || e.closest("[hidden]")) return null;
                         const r = e.getBoundingClientRect(); return {left: r.left, right: r.right, top: r.top,
                         bottom: r.bottom}; };
  return {main: box("main"), self: box("self-tile"), side: box("side-tile"), log: box("conversation"),
          input: box("chat-text"), leave: box("leave"), status: box("status"),
          height: innerHeight, width: innerWidth, scroll: document.scrollingElement.scrollHeight};
}"""
SELF_VIEW_PLAYS = "() => document.getElementById('self-view').readyState >= 2"
# Latin words on a Russian page are an untranslated (English, raw) message; a key's name is what the key says.
LATIN_WORDS = "() => (document.body.innerText.match(/[A-Za-z]{3,}/g) || []).filter((word) => word !== 'Home')"


def overlaps(a: dict[str, float], b: dict[str, float]) -> bool:
    return a["left"] < b["right"] and b["left"] < a["right"] and a["top"] < b["bottom"] and b["top"] < a["bottom"]


def on_screen(box: dict[str, float] | None, layout: dict[str, Any]) -> bool:
    return box is not None and box["top"] >= 0 and box["left"] >= 0 and box["bottom"] <= layout["height"] + 0.5 \
        and box["right"] <= layout["width"] + 0.5 and box["bottom"] > box["top"]


def assert_signer_clear(layout: dict[str, Any]) -> None:
    """The signer's picture, the conversation and the controls all in view; no tile over the signer."""
    for name in ("main", "log", "input", "leave", "status"):
        assert on_screen(layout[name], layout), (name, layout)
    for tile in ("self", "side"):
        if layout[tile] is not None:
            assert not overlaps(layout[tile], layout["main"]), (tile, layout)
    assert layout["scroll"] <= layout["height"] + 1, layout  # nothing below the fold


async def launch(playwright: Any) -> Any:
    return await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)


async def call_as_resident(page: Any, url: str) -> None:
    from playwright.async_api import expect

    await page.goto(url)
    await page.get_by_label("Я согласен(на) на видеозвонок").check()
    await page.get_by_role("button", name="Позвонить").click()
    await expect(page.locator("#status")).to_have_attribute("data-state", "waiting_interpreter")


async def interpreter_takes(test_server: TestServer, notifications: Notifications,
                            browser: Any) -> tuple[Any, aiohttp.ClientSession]:
    """An interpreter logs in, takes the offered session and opens its page (1280x800, as from the dashboard)."""
    http, csrf = await staff(test_server, "interpreter", "ivanova")
    assert (await http.post("/api/video/interpreter/status", json={"status": "available"},
                            headers=csrf)).status == 200
    offer = await notifications.wait_for("video_offer", for_user="ivanova")
    assert (await http.post(f"/api/video/sessions/{offer['session']}/accept", headers=csrf)).status == 200
    context = await browser.new_context(viewport=DESKTOP)
    login = await context.request.post(str(test_server.make_url("/api/login")),
                                       data={"username": "ivanova", "password": "correct horse battery"})
    assert login.status == 200
    page = await context.new_page()
    await page.goto(str(test_server.make_url(f"/video?session={offer['session']}")))
    return page, http


async def test_a_call_on_a_phone_real_time_text_both_ways_and_who_said_what(
        server: tuple[TestServer, Notifications]) -> None:
    from playwright.async_api import async_playwright, expect

    from tests.conftest import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    test_server, notifications = server
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        resident = await (await browser.new_context(viewport=PHONE)).new_page()
        await call_as_resident(resident, str(test_server.make_url("/video")))
        # While waiting: a status saying what happens, on the stage too (not a blank picture).
        await expect(resident.locator("#status")).to_contain_text("Ищем переводчика")
        await expect(resident.locator("#stage-note")).to_have_text("Ищем переводчика…")
        assert_signer_clear(await resident.evaluate(LAYOUT))
        await resident.wait_for_function(SELF_VIEW_PLAYS)  # the resident sees themselves while waiting
        await resident.screenshot(path=str(ARTIFACTS / "video-phone-waiting.png"))

        interpreter, http = await interpreter_takes(test_server, notifications, browser)
        await expect(resident.locator("#status")).to_have_attribute("data-state", "with_interpreter")
        await expect(resident.locator("#status")).to_contain_text("Переводчик на связи")
        # The interpreter's page speaks to the interpreter about the resident.
        await expect(interpreter.locator("#status")).to_have_text("Вы на связи с жителем. Ищем оператора.")
        await expect(interpreter.locator("#main")).to_have_attribute("aria-label", "Житель")
        assert await poll(lambda: resident.evaluate(FRAMES_DECODED)) > 0
        assert await poll(lambda: interpreter.evaluate(FRAMES_DECODED)) > 0
        await expect(resident.locator("#stage-note")).to_be_hidden()

        # Real-time text: each side sees the other's words while they are typed, before any Enter.
        await resident.locator("#chat-text").press_sequentially("Мне нужна справкк")
        await resident.locator("#chat-text").press("Backspace")
        await resident.locator("#chat-text").press_sequentially("а")
        typing = interpreter.locator('#typing [data-from="resident"]')
        await expect(typing).to_have_text("Житель пишет: Мне нужна справка")
        await interpreter.locator("#chat-text").press_sequentially("Какая справка?")
        await expect(resident.locator('#typing [data-from="interpreter"]')).to_have_text(
            "Переводчик пишет: Какая справка?")
        await expect(interpreter.locator("#chat-log")).to_be_empty()  # nothing finished, nothing kept yet

        # Enter finishes the line: kept as chat, labelled by who said it on each page.
        await resident.locator("#chat-text").press("Enter")
        await expect(interpreter.locator("#chat-log p")).to_have_text(["Житель: Мне нужна справка"])
        await expect(resident.locator("#chat-log p")).to_have_text(["Вы: Мне нужна справка"])
        await expect(typing).to_be_hidden()
        await interpreter.locator("#chat-text").press("Enter")
        await expect(resident.locator("#chat-log p")).to_have_text(["Вы: Мне нужна справка",
                                                                    "Переводчик: Какая справка?"])
        await expect(interpreter.locator("#chat-log p").last).to_have_text("Вы: Какая справка?")
        await expect(resident.locator('#typing [data-from="interpreter"]')).to_be_hidden()

        # A line being typed shows, for the screenshots and for the layout: still nothing over the signer.
        await interpreter.locator("#chat-text").press_sequentially("Возьмите паспорт")
        await expect(resident.locator('#typing [data-from="interpreter"]')).to_have_text(
            "Переводчик пишет: Возьмите паспорт")
        assert_signer_clear(await resident.evaluate(LAYOUT))
        assert await resident.evaluate(LATIN_WORDS) == []
        assert await interpreter.evaluate(LATIN_WORDS) == []
        await resident.screenshot(path=str(ARTIFACTS / "video-phone-call.png"))
        await interpreter.screenshot(path=str(ARTIFACTS / "video-desktop-interpreter.png"))
        # On a desktop the conversation is beside the signer.
        await resident.set_viewport_size(DESKTOP)
        layout = await resident.evaluate(LAYOUT)
        assert_signer_clear(layout)
        assert layout["log"]["left"] >= layout["main"]["right"], layout
        await resident.screenshot(path=str(ARTIFACTS / "video-desktop-call.png"))

        # The self-view moves out of the way with the keyboard, and comes back with Home.
        await resident.locator("#self-tile").focus()
        before = await resident.locator("#self-tile").bounding_box()
        await resident.keyboard.press("ArrowUp")
        moved = await resident.locator("#self-tile").bounding_box()
        assert before and moved and moved["y"] < before["y"]
        await resident.keyboard.press("Home")
        assert await resident.locator("#self-tile").bounding_box() == before
        await http.close()
        await browser.close()


async def test_waiting_on_a_desktop_screenshot(server: tuple[TestServer, Notifications]) -> None:
    from playwright.async_api import async_playwright, expect

    from tests.conftest import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    test_server, _ = server
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        page = await (await browser.new_context(viewport=DESKTOP)).new_page()
        await call_as_resident(page, str(test_server.make_url("/video")))
        await expect(page.locator("#stage-note")).to_be_visible()
        assert_signer_clear(await page.evaluate(LAYOUT))
        await page.wait_for_function(SELF_VIEW_PLAYS)
        await page.screenshot(path=str(ARTIFACTS / "video-desktop-waiting.png"))
        await browser.close()


async def tab_to(page: Any, element_id: str, most: int = 20) -> None:
    """Tab until `element_id` has focus, as a keyboard user would."""
    for _ in range(most):
        if await page.evaluate("() => document.activeElement.id") == element_id:
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"#{element_id} not reached with Tab")


async def test_a_resident_calls_and_hangs_up_with_the_keyboard_alone(server: tuple[TestServer, Notifications]) -> None:
    from playwright.async_api import async_playwright, expect

    from tests.conftest import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    test_server, _ = server
    service = test_server.app[VIDEO]
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        page = await (await browser.new_context(viewport=PHONE)).new_page()
        await page.goto(str(test_server.make_url("/video")))
        focused = "() => document.activeElement.id || document.activeElement.tagName"
        await page.screenshot(path=str(ARTIFACTS / "video-phone-setup.png"), full_page=True)
        # Without consent: told beside the box, focus on it; ticking it clears the stale message.
        await tab_to(page, "start")
        await page.keyboard.press("Enter")
        await expect(page.locator("#consent-error")).to_be_visible()
        assert await page.evaluate(focused) == "consent"
        await expect(page.locator("#consent")).to_have_attribute("aria-invalid", "true")
        await page.keyboard.press("Space")
        await expect(page.locator("#consent-error")).to_be_hidden()
        await tab_to(page, "start")
        await page.keyboard.press("Enter")
        await expect(page.locator("#status")).to_have_attribute("data-state", "waiting_interpreter")
        assert await page.evaluate(focused) == "status"  # not <body>

        # End asks first; Escape keeps the call and gives focus back to the button.
        await tab_to(page, "leave")
        await page.keyboard.press("Enter")
        await expect(page.get_by_role("dialog")).to_be_visible()
        await page.keyboard.press("Escape")
        await expect(page.get_by_role("dialog")).to_be_hidden()
        assert await page.evaluate(focused) == "leave"
        assert [s.state for s in service.sessions.values()] == ["waiting_interpreter"]
        await page.keyboard.press("Enter")
        await expect(page.get_by_role("dialog")).to_contain_text("Завершить звонок?")
        await page.screenshot(path=str(ARTIFACTS / "video-phone-confirm.png"))
        await tab_to(page, "confirm-yes")
        await page.keyboard.press("Enter")
        await expect(page.locator("#ended-title")).to_be_focused()
        assert await page.evaluate(focused) == "ended-title"
        await page.screenshot(path=str(ARTIFACTS / "video-phone-ended.png"))
        await poll(lambda: _async(not service.sessions))
        await browser.close()


async def _async(value: Any) -> Any:
    return value


@pytest.fixture
async def closed_server(settings: Settings, redis: Any) -> AsyncIterator[TestServer]:
    from datetime import UTC, datetime

    from callcenter.web.keys import CLOCK

    app = create_app(settings.replace("video", recordings=""), redis_url=settings.redis.url)
    # Monday 2026-11-23 03:00 UTC is 06:00 in Moscow: two hours before the line opens.
    app[CLOCK] = lambda: datetime(2026, 11, 23, 3, 0, tzinfo=UTC).timestamp()
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    yield test_server
    await test_server.close()


async def test_closed_hours_are_announced_where_the_resident_looks(closed_server: TestServer) -> None:
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as playwright:
        browser = await launch(playwright)
        page = await (await browser.new_context(viewport=PHONE)).new_page()
        await page.goto(str(closed_server.make_url("/video")))
        await page.get_by_label("Я согласен(на) на видеозвонок").check()
        await page.get_by_role("button", name="Позвонить").click()
        alert = page.get_by_role("alert")
        await expect(alert).to_contain_text("Сейчас горячая линия закрыта. Откроется 23 ноября 2026")
        await expect(alert.get_by_role("link", name="Заказать звонок в удобное время")).to_be_visible()
        await expect(alert).to_be_in_viewport(ratio=1)
        await expect(alert).to_be_focused()
        assert await page.evaluate(LATIN_WORDS) == []
        from tests.conftest import ARTIFACTS

        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "video-phone-closed.png"))
        await browser.close()


PURE = """async () => {
  const t = await import("/static/video-text.js");
  const session = (state, extra = {}) => ({ mode: "sign", state, waiting: {}, ...extra });
  return {
    labels: [t.speaker("resident", "resident"), t.speaker("resident", "interpreter"),
             t.speaker("interpreter", "interpreter"), t.speaker("operator", "interpreter")],
    staff: t.statusText(session("with_operator"), "interpreter"),
    resident: t.statusText(session("with_operator"), "resident"),
    waitingStaff: t.statusText(session("waiting_interpreter", { waiting: { position: 1, estimated_wait: 720 } }),
                               "operator"),
    offered: t.statusText(session("waiting_interpreter", { waiting: { position: 1, estimated_wait: 0,
                                                                      offered: true } }), "resident"),
    nobodyOnDuty: t.statusText(session("waiting_interpreter", { waiting: { position: 1, estimated_wait: null,
                                                                           waiting_for: "interpreter" } }), "resident"),
    emoji: t.increment("ок🙂", "ок"),
    replayed: t.applyT140("кот", t.increment("кот", "кит🙂")),
    unknown: t.errorText("some_new_code"),
  };
}"""


async def test_the_page_words_are_the_readers_own(server: tuple[TestServer, Notifications]) -> None:
    """The page's pure rules (video-text.js), in the browser that runs them."""
    from playwright.async_api import async_playwright

    test_server, _ = server
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        page = await browser.new_page()
        await page.goto(str(test_server.make_url("/video")))
        words = await page.evaluate(PURE)
        await browser.close()
    assert words["labels"] == ["Вы", "Житель", "Вы", "Оператор"]
    assert words["staff"] == "Вы на связи с жителем; оператор тоже на связи."
    assert words["resident"] == "Переводчик и оператор на связи."
    assert words["waitingStaff"] == "Житель ждёт переводчика."  # no queue place or estimate meant for the resident
    assert "12 мин" not in words["offered"] and "передан переводчику" in words["offered"]
    # No interpreter on duty is not "all busy": the resident is told none is on and what happens.
    assert words["nobodyOnDuty"] == ("Ищем переводчика жестового языка. Вы 1-й в очереди. Сейчас ни один переводчик "
                                     "не на связи: вас соединят с первым, кто подключится.")
    assert words["emoji"] == "\b"  # one code point erased, as the service counts them
    assert words["replayed"] == "кит🙂"
    assert words["unknown"] == "Что-то пошло не так. Попробуйте ещё раз."


async def test_the_camera_check_says_in_words_what_works(server: tuple[TestServer, Notifications]) -> None:
    """The check answers in plain words: no count of "sources" (which read "2 источника" and meant nothing)."""
    from playwright.async_api import async_playwright, expect

    test_server, _ = server
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            page = await browser.new_page(viewport={"width": 390, "height": 844})
            await page.goto(str(test_server.make_url("/video")))
            await page.get_by_role("button", name="Проверить камеру и микрофон").click()
            await expect(page.locator("#check-result")).to_have_text("Камера и микрофон работают.")
        finally:
            await browser.close()


async def test_hanging_up_before_an_answer_offers_a_callback(server: tuple[TestServer, Notifications]) -> None:
    """Nobody answered yet: the end does not thank the resident for a call that did not happen, it says what
    else to do (call again, or ask for a callback) with a link to the callback page."""
    from playwright.async_api import async_playwright, expect

    test_server, _ = server
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            page = await (await browser.new_context(viewport=PHONE)).new_page()
            await call_as_resident(page, str(test_server.make_url("/video")))
            await page.get_by_role("button", name="Завершить звонок").click()
            await page.get_by_role("button", name="Да, завершить").click()
            await expect(page.locator("#ended-title")).to_be_focused()
            text = page.locator("#ended-text")
            await expect(text).to_contain_text("до того, как переводчик ответил")
            await expect(text).not_to_contain_text("Спасибо")
            await expect(text.get_by_role("link", name="заказать обратный звонок")).to_have_attribute(
                "href", "/callback")
            await expect(page.get_by_role("region", name="Переписка")).to_be_hidden()  # nothing was written
        finally:
            await browser.close()

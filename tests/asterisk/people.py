"""The people in the real-PBX tests: residents who call with DTMF handsets, operators at the dashboard."""

from __future__ import annotations

import itertools
import secrets
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from callcenter.accounts.store import AccountStore
from callcenter.pbx.protocol import Message
from tests.asterisk.conftest import Events
from tests.asterisk.pbx import RealPbx

_serial = itertools.count(1)


class Resident:
    """A resident calling the hotline: a Local channel whose far half runs the IVR; the near half is their
    handset, which records what they hear and presses keys (AMI PlayDTMF) when the test says."""

    def __init__(self, pbx: RealPbx, events: Events, number: str) -> None:
        self.pbx, self.events, self.number = pbx, events, number
        serial = next(_serial)
        # Neither id may be a prefix of the other (Asterisk refuses such a pair).
        self.handset_id = f"handset-{serial:03d}-{secrets.token_hex(3)}"
        self.line_id = f"line-{serial:03d}-{secrets.token_hex(3)}"
        self.name = f"resident-{serial:03d}"
        self.channel = ""

    @property
    def recording(self) -> str:
        return str(self.pbx.recordings / f"{self.name}.wav")

    async def call(self, timeout: float = 20.0, handset: str = "test-handset") -> None:
        response = await self.pbx.action("Originate", [
            ("Channel", f"Local/{self.number}@test-caller"), ("Context", handset), ("Exten", "listen"),
            ("Priority", "1"), ("ChannelId", self.handset_id), ("OtherChannelId", self.line_id),
            ("Variable", f"HANDSET={self.name}"), ("Timeout", "30000"), ("Async", "true")])
        assert response.get("Response") == "Success", response
        created = await self.events.wait(lambda m: m.name == "Newchannel" and m.get("Uniqueid") == self.handset_id,
                                         timeout, f"{self.name}'s handset channel")
        self.channel = created.get("Channel") or ""

    async def reaches(self, application: str, timeout: float = 30.0, context: str | None = None) -> Message:
        """Wait until the IVR runs `application` on this resident's line (the moment a key is heard)."""
        return await self.events.wait(
            lambda m: m.name == "Newexten" and m.get("Uniqueid") == self.line_id
            and (m.get("Application") or "").lower() == application.lower()
            and (context is None or m.get("Context") == context),
            timeout, f"{self.name} reaching {application}" + (f" in [{context}]" if context else ""))

    async def is_played(self, prompt: str, timeout: float = 40.0) -> Message:
        """Wait until the IVR starts an application on this line whose arguments name `prompt`."""
        return await self.events.wait(
            lambda m: m.name == "Newexten" and m.get("Uniqueid") == self.line_id and prompt in (m.get("AppData") or ""),
            timeout, f"{prompt} played to {self.name}")

    async def ask_about_case(self, number: str, factor: str) -> None:
        """Menu 3, the case number and #, then the date of birth or PIN, each when the IVR asks for it."""
        await self.reaches("Background", context="hotline-ivr")
        await self.press("3")
        await self.reaches("Read", context="hotline-case-status")
        await self.press(f"{number}#")
        await self.is_played("case-enter-birthdate-or-pin", 20)
        await self.press(factor)

    async def joins_the_queue(self, handset: str = "test-handset") -> None:
        """Calls, hears the menu, presses 1 (to an operator) and is in the hotline queue."""
        await self.call(handset=handset)
        await self.reaches("Background", context="hotline-ivr")
        await self.press("1")
        await self.in_queue()

    async def in_queue(self, timeout: float = 40.0) -> Message:
        return await self.events.wait(lambda m: m.name == "QueueCallerJoin" and m.get("Uniqueid") == self.line_id,
                                      timeout, f"{self.name} joining the queue")

    async def press(self, digits: str) -> None:
        for digit in digits:
            response = await self.pbx.action("PlayDTMF", [("Channel", self.channel), ("Digit", digit),
                                                          ("Duration", "200")])
            assert response.get("Response") == "Success", response

    async def hang_up(self) -> None:
        await self.pbx.action("Hangup", [("Channel", self.channel)])


class Operator:
    """An operator account in the service; logs in over HTTP and joins or pauses as on the dashboard."""

    def __init__(self, base_url: str, extension: str) -> None:
        self.base_url, self.extension = base_url, extension
        self.username = f"op{extension}"
        self.password = secrets.token_urlsafe(12)
        self.session: aiohttp.ClientSession | None = None
        self.csrf = ""

    @property
    def interface(self) -> str:
        return f"Local/{self.extension}@agents"

    async def log_in(self, store: aioredis.Redis) -> None:
        accounts = AccountStore(store)
        await accounts.add(self.username, f"Operator {self.extension}", "operator", self.password, self.interface,
                           self.extension)
        # The service is at 127.0.0.1: aiohttp keeps cookies of bare addresses only when told to.
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        async with self.session.post(f"{self.base_url}/api/login",
                                     json={"username": self.username, "password": self.password}) as response:
            assert response.status == 200, await response.text()
            self.csrf = (await response.json())["csrf_token"]

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        assert self.session is not None
        async with self.session.post(f"{self.base_url}{path}", json=body,
                                     headers={"X-CSRF-Token": self.csrf}) as response:
            return response.status, await response.json()

    async def join(self, paused: bool = False) -> None:
        status, body = await self.post("/api/me/queue", {"in": True})
        assert status == 200, body
        if paused:
            await self.pause(True, "test: not yet")

    async def pause(self, paused: bool, reason: str = "") -> None:
        status, body = await self.post("/api/me/pause", {"paused": paused, **({"reason": reason} if reason else {})})
        assert status == 200, body

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

"""The softphone's server side: SIP identities from the accounts, the PJSIP include, one line per operator,
wrap-ups that supervisors read, and the JsSIP module's route."""

from __future__ import annotations

import configparser
import json
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from callcenter.config import ConfigError, Settings, load_settings
from callcenter.softphone.identity import sip_password
from callcenter.softphone.pjsip import Operator, render
from callcenter.web import dashboard
from callcenter.web.app import create_app
from tests.conftest import REPO, staff_login

SECRET = "test-softphone-secret-0123456789"
WS_URL = "wss://pbx.example.org:8089/ws"


@pytest.fixture
async def client(settings: Settings, redis: aioredis.Redis) -> AsyncIterator[TestClient]:
    configured = settings.replace("softphone", websocket_url=WS_URL, secret=SECRET, wrapup_seconds=20)
    client = TestClient(TestServer(create_app(configured, redis_url=settings.redis.url)))
    await client.start_server()
    yield client
    await client.close()


def test_the_password_is_derived_per_extension_and_secret() -> None:
    first = sip_password(SECRET, "101")
    assert first == sip_password(SECRET, "101")
    assert first != sip_password(SECRET, "102")
    assert first != sip_password("another secret", "101")
    assert re.fullmatch(r"[A-Za-z0-9_-]{24}", first)


def test_the_include_file_has_one_endpoint_auth_and_aor_per_operator() -> None:
    text = render([Operator("102", 'Анна "Б"'), Operator("101", "Иван"), Operator("101", "dup"),
                   Operator("", "no extension")], SECRET)
    parser = configparser.ConfigParser(strict=False, comment_prefixes=(";",), interpolation=None)
    sections = re.findall(r"^\[(\d+)\]\(([\w-]+)\)$", text, flags=re.MULTILINE)
    assert sections == [("101", "operator-endpoint"), ("101", "operator-auth"), ("101", "operator-aor"),
                        ("102", "operator-endpoint"), ("102", "operator-auth"), ("102", "operator-aor")]
    assert f"password = {sip_password(SECRET, '101')}" in text
    assert 'callerid = "Анна Б" <102>' in text
    parser.read_string(re.sub(r"^\[(\d+)\]\(.*?\)", r"[\1]", text, flags=re.MULTILINE))
    assert "CHANGE_ME" not in text


def test_the_websocket_url_and_quick_connects_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[softphone]\nwebsocket_url = "http://x"\nquick_connects = ["no number"]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert {p.key for p in caught.value.problems} == {"softphone.websocket_url", "softphone.quick_connects"}
    settings = load_settings(path, environ={"CALLCENTER_SOFTPHONE_WEBSOCKET_URL": WS_URL,
                                            "CALLCENTER_SOFTPHONE_QUICK_CONNECTS": "Старший=100"})
    assert settings.softphone.websocket_url == WS_URL


async def test_the_operator_gets_their_own_sip_account_and_nobody_else_does(client: TestClient) -> None:
    assert (await client.get("/api/softphone/account")).status == 401
    await staff_login(client, "operator", "olga-sp")
    response = await client.get("/api/softphone/account")
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    account = await response.json()
    assert account["uri"] == "sip:101@pbx.example.org"
    assert account["password"] == sip_password(SECRET, "101")
    assert account["websocket_url"] == WS_URL
    assert account["wrapup_seconds"] == 20
    assert {"name": "Старший смены", "number": "100"} in account["quick_connects"]
    page = await (await client.get("/")).text() + await (await client.get("/static/softphone.js")).text()
    assert account["password"] not in page


async def test_no_softphone_without_the_secret(settings: Settings, redis: aioredis.Redis) -> None:
    app = create_app(settings.replace("softphone", websocket_url=WS_URL), redis_url=settings.redis.url)
    async with TestClient(TestServer(app)) as client:
        await staff_login(client, "operator")
        response = await client.get("/api/softphone/account")
        assert response.status == 409
        assert "CALLCENTER_SOFTPHONE_SECRET" in (await response.json())["detail"]


async def test_one_line_per_operator(client: TestClient) -> None:
    headers = await staff_login(client, "operator", "olga-sp")
    first = await client.post("/api/softphone/line", json={"tab": "tab-one-1234"}, headers=headers)
    assert first.status == 200
    second = await client.post("/api/softphone/line", json={"tab": "tab-two-5678"}, headers=headers)
    assert second.status == 409
    assert (await second.json())["error"] == "line_taken"
    renewed = await client.post("/api/softphone/line", json={"tab": "tab-one-1234"}, headers=headers)
    assert renewed.status == 200
    released = await client.post("/api/softphone/line/release", json={"tab": "tab-one-1234"}, headers=headers)
    assert (await released.json())["released"] is True
    assert (await client.post("/api/softphone/line", json={"tab": "tab-two-5678"}, headers=headers)).status == 200


async def test_a_wrapup_is_saved_and_supervisors_see_it(client: TestClient) -> None:
    headers = await staff_login(client, "operator", "olga-sp")
    bad = await client.post("/api/softphone/wrapups", json={"disposition": "nonsense"}, headers=headers)
    assert bad.status == 422
    saved = await client.post("/api/softphone/wrapups", headers=headers, json={
        "disposition": "Консультация", "note": "спросила про пособие", "caller": "+79161234567",
        "queue_uniqueid": "1700000000.1", "answered": True, "started_at": 1, "ended_at": 2})
    assert saved.status == 201
    assert (await client.get("/api/softphone/wrapups")).status == 403
    await staff_login(client, "supervisor", "boss")
    listed = await (await client.get("/api/softphone/wrapups")).json()
    assert [(w["username"], w["disposition"], w["note"], w["extension"]) for w in listed] == [
        ("olga-sp", "Консультация", "спросила про пособие", "101")]


async def test_the_jssip_module_is_served_or_its_absence_explained(client: TestClient,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    monkeypatch.setattr(dashboard, "JSSIP", tmp_path / "missing.js")
    missing = await client.get("/static/vendor/jssip.min.js")
    assert missing.status == 503
    assert "npm" in (await missing.json())["detail"]
    built = tmp_path / "jssip.min.js"
    built.write_text("export default {};\n", encoding="utf-8")
    monkeypatch.setattr(dashboard, "JSSIP", built)
    served = await client.get("/static/vendor/jssip.min.js")
    assert served.status == 200
    assert "javascript" in served.headers["Content-Type"]


async def test_asterisk_config_writes_the_accounts_endpoints(redis: aioredis.Redis, redis_url: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio
    import stat

    from callcenter.accounts.store import AccountStore
    from callcenter.cli import main

    accounts = AccountStore(redis)
    await accounts.add("anna", "Анна", "operator", "long enough secret", "Local/101@agents", "101")
    await accounts.add("boris", "Борис", "operator", "long enough secret", "Local/102@agents", "102")
    await accounts.add("gone", "Ушла", "operator", "long enough secret", "Local/103@agents", "103")
    await accounts.set_disabled("gone", True)
    await accounts.add("boss", "Старший", "supervisor", "long enough secret")
    config = tmp_path / "callcenter.toml"
    config.write_text("", encoding="utf-8")
    output = tmp_path / "pjsip_operators.conf"
    monkeypatch.setenv("REDIS_URL", redis_url)
    args = ["--config", str(config), "asterisk-config", "--output", str(output)]
    assert await asyncio.to_thread(main, args) == 2, "no secret, no file"
    assert not output.exists()
    monkeypatch.setenv("CALLCENTER_SOFTPHONE_SECRET", SECRET)
    assert await asyncio.to_thread(main, args) == 0
    text = output.read_text(encoding="utf-8")
    assert re.findall(r"^\[(\d+)\]\(operator-endpoint\)$", text, flags=re.MULTILINE) == ["101", "102"]
    assert f"password = {sip_password(SECRET, '102')}" in text
    assert stat.S_IMODE(output.stat().st_mode) == 0o600


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_ice_verdict_of_the_pre_flight_check() -> None:
    """softphone-checks.js's pure part, run in Node: with STUN/TURN configured a reflexive or relay address is
    needed; without, any address."""
    module = REPO / "callcenter" / "web" / "static" / "softphone-checks.js"
    host = "candidate:1 1 udp 2122260223 192.0.2.2 40000 typ host generation 0"
    srflx = "candidate:2 1 udp 1686052607 203.0.113.9 40001 typ srflx raddr 192.0.2.2 rport 40000"
    cases = [([], False), ([host], False), ([host], True), ([host, srflx], True)]
    calls = ", ".join(f"iceProblem({json.dumps(found)}, {json.dumps(relay)})" for found, relay in cases)
    script = f"import {{ iceProblem }} from {json.dumps(module.as_uri())};\nconsole.log(JSON.stringify([{calls}]));"
    done = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True, timeout=30,
                          check=True)
    assert json.loads(done.stdout) == ["ice_none", None, "ice_no_relay", None]

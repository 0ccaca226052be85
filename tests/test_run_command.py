"""`callcenter run` as a user runs it: a subprocess that reaches ready, shows the simulated hotline working,
and stops cleanly on SIGINT/SIGTERM with no process left behind."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from callcenter.supervisor import free_port


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def read_until_banner(stdout: asyncio.StreamReader, limit: float = 60.0) -> list[str]:
    """The user's signal that all is up: the banner, printed once /readyz is green."""
    lines: list[str] = []
    async with asyncio.timeout(limit):
        while not lines or "Press Ctrl-C to stop." not in lines[-1]:
            line = await stdout.readline()
            assert line, "callcenter run exited during start-up:\n" + "".join(lines)
            lines.append(line.decode())
    return lines


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
async def test_run_reaches_ready_shows_calls_and_stops_cleanly(tmp_path: Path, stop_signal: int) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_") and k != "REDIS_URL"}
    env.update({
        "CALLCENTER_HTTP_PORT": str(port),
        "CALLCENTER_SIMULATOR_PORT": str(free_port()),
        "CALLCENTER_SIMULATOR_ACCELERATION": "30",
        "CALLCENTER_SIMULATOR_CALLS_PER_DAY": "20000",
        "CALLCENTER_REDIS_DATA_DIR": str(tmp_path / "valkey"),
    })
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callcenter", "run", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    assert process.stdout is not None
    base = f"http://127.0.0.1:{port}"
    try:
        banner = "".join(await read_until_banner(process.stdout))
        assert "is up." in banner and f"Dashboard:  {base}/" in banner
        async with aiohttp.ClientSession() as session, session.get(f"{base}/readyz") as response:
            assert response.status == 200
        logins = {line.split()[0]: (line.split()[1], line.split()[2]) for line in banner.splitlines()
                  if line.strip().startswith(("operator ", "supervisor ", "interpreter "))}
        assert set(logins) == {"operator", "supervisor", "interpreter"}
        family = descendants(process.pid)
        assert len(family) >= 4  # valkey-server, simulator, server, worker (and RQ's scheduler process)
        # unsafe=True: aiohttp's client jar otherwise keeps no cookies from an IP address such as 127.0.0.1.
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            username, password = logins["supervisor"]
            async with session.post(f"{base}/api/login", json={"username": username, "password": password}) as login:
                assert login.status == 200
            ws = await session.ws_connect(f"{base}/api/queue/stream")
            first = await ws.receive_json(timeout=5)
            assert first["type"] == "snapshot"
            assert first["connected"] is True
            assert len(first["queue"]["members"]) == 18
            seen = set()
            async with asyncio.timeout(30):
                while not {"caller_joined", "call_connected"} <= seen:
                    seen.add((await ws.receive_json())["type"])
            async with session.get(f"{base}/api/queue") as response:
                snapshot = await response.json()
            assert snapshot["queue"]["counters"]["offered"] >= 1
            assert snapshot["queue"]["counters"]["answered"] >= 1
            await ws.close()
        process.send_signal(stop_signal)
        output, _ = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0, output.decode()
        assert '"child": "valkey"' in output.decode() and "stopped" in output.decode()
        assert (tmp_path / "valkey" / "appendonly").is_dir(), "the embedded store kept its AOF under var/"
        left = [pid for pid in family if alive(pid)]
        assert left == [], f"processes left running: {left}"
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

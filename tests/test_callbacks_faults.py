"""Crashes at the worst moments, with every part a real process: the embedded Valkey server (AOF, fsync on
every write), the PBX simulator (which logs every Originate it receives), `callcenter serve` and
`callcenter worker`. Whatever is killed, an accepted callback is never lost and no attempt is dialled twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis as syncredis

from callcenter.storage import EmbeddedValkey
from callcenter.supervisor import free_port


@dataclass
class Processes:
    tmp: Path
    env: dict[str, str]
    http: str
    valkey: EmbeddedValkey
    valkey_dir: Path
    valkey_port: int
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, *args: str, **extra_env: str) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps writing to it
        process = subprocess.Popen([sys.executable, "-m", "callcenter", *args], env={**self.env, **extra_env},
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.children[name] = process
        return process

    def kill(self, name: str) -> None:
        process = self.children.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait()

    def originates(self) -> list[dict[str, Any]]:
        path = self.tmp / "originates.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]

    def record(self, callback_id: str) -> dict[str, Any] | None:
        client = syncredis.Redis(port=self.valkey_port, decode_responses=True)
        try:
            text = client.get(f"cb:{callback_id}")
            return json.loads(text) if text else None
        finally:
            client.close()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.tmp.glob("*.log"))


async def until(predicate: Any, what: str, procs: Processes, limit: float = 60.0) -> Any:
    """Poll another process's state (there is no event to await across processes) until it holds."""
    deadline = asyncio.get_running_loop().time() + limit
    while True:
        value = predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{procs.logs()}")
        await asyncio.sleep(0.1)


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    valkey_dir = tmp_path / "valkey"
    valkey_port = free_port()
    valkey = EmbeddedValkey(valkey_dir, port=valkey_port)
    valkey.start()
    http_port, sim_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_") and k != "REDIS_URL"}
    env.update({
        "REDIS_URL": f"redis://127.0.0.1:{valkey_port}/0",
        "CALLCENTER_HTTP_PORT": str(http_port),
        "CALLCENTER_AMI_HOST": "127.0.0.1", "CALLCENTER_AMI_PORT": str(sim_port),
        "CALLCENTER_AMI_SECRET": "fault-test", "CALLCENTER_AMI_PING_INTERVAL": "1",
        "CALLCENTER_SIMULATOR_PORT": str(sim_port), "CALLCENTER_SIMULATOR_AGENTS": "2",
        "CALLCENTER_SIMULATOR_CALLS_PER_DAY": "0", "CALLCENTER_SIMULATOR_ACCELERATION": "20",
        "CALLCENTER_SIMULATOR_RESIDENT_ANSWER_PROBABILITY": "1.0",
        "CALLCENTER_SIMULATOR_ORIGINATE_LOG": str(tmp_path / "originates.jsonl"),
        # Open around the clock, so the test does not depend on the time of day it runs at.
        "CALLCENTER_HOURS_OPEN": "00:00", "CALLCENTER_HOURS_CLOSE": "24:00",
        "CALLCENTER_HOURS_CLOSED_DATES": "", "CALLCENTER_HOURS_CHANGED": "",
        "CALLCENTER_CALLBACKS_ATTEMPT_TIMEOUT_MINUTES": "0.05", "CALLCENTER_CALLBACKS_RETRY_MINUTES_FAILED": "0.01",
        "CALLCENTER_CALLBACKS_SWEEP_SECONDS": "0.3", "CALLCENTER_LOGGING_FORMAT": "json",
    })
    processes = Processes(tmp_path, env, f"http://127.0.0.1:{http_port}", valkey, valkey_dir, valkey_port)
    processes.start("simulator", "simulate")
    processes.start("server", "serve")
    try:
        yield processes
    finally:
        for process in processes.children.values():
            process.send_signal(signal.SIGKILL)
            process.wait()
        processes.valkey.kill()


@pytest.fixture
async def session(procs: Processes) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        async def ready() -> bool:
            try:
                async with client.get(f"{procs.http}/readyz") as response:
                    return response.status == 200
            except aiohttp.ClientError:
                return False

        deadline = asyncio.get_running_loop().time() + 60
        while not await ready():
            assert asyncio.get_running_loop().time() < deadline, procs.logs()
            await asyncio.sleep(0.1)
        yield client


async def request_callback(session: aiohttp.ClientSession, procs: Processes, phone: str) -> str:
    async with session.post(f"{procs.http}/api/callbacks", json={"phone": phone}) as response:
        assert response.status == 201, await response.text()
        return str((await response.json())["id"])


def attempts_dialled(procs: Processes, callback_id: str) -> Counter[str]:
    return Counter(o["ActionID"] for o in procs.originates() if o.get("ActionID", "").startswith(f"cb-{callback_id}-"))


@pytest.mark.parametrize("point", ["after_claim", "after_originate"])
async def test_worker_killed_mid_attempt(procs: Processes, session: aiohttp.ClientSession, point: str) -> None:
    marker = procs.tmp / "fault"
    procs.start("worker", "worker", CALLCENTER_FAULT_PAUSE=point, CALLCENTER_FAULT_FILE=str(marker))
    callback_id = await request_callback(session, procs, "84951234567")
    await until(marker.exists, f"the worker to pause at {point}", procs)
    procs.kill("worker")
    dialled_before_restart = attempts_dialled(procs, callback_id)
    assert dialled_before_restart == (Counter() if point == "after_claim" else Counter({f"cb-{callback_id}-1": 1}))
    procs.start("worker", "worker")
    done = await until(lambda: (r := procs.record(callback_id)) and r["status"] == "done" and r, "done", procs)
    dialled = attempts_dialled(procs, callback_id)
    assert all(count == 1 for count in dialled.values()), dialled  # never the same attempt twice
    if point == "after_claim":
        # Attempt 1 was claimed but never dialled: closed by the timeout, the retry is attempt 2.
        assert dialled == Counter({f"cb-{callback_id}-2": 1})
        assert done["attempts"] == 2
    else:
        # Attempt 1 went out before the crash: its outcome is still matched to it; no second dial.
        assert dialled == Counter({f"cb-{callback_id}-1": 1})
        assert done["attempts"] == 1


async def test_store_killed_right_after_the_201(procs: Processes, session: aiohttp.ClientSession) -> None:
    procs.start("worker", "worker")
    callback_id = await request_callback(session, procs, "84957654321")
    procs.valkey.kill()  # SIGKILL: no shutdown save; only what was fsync'ed survives
    restarted = EmbeddedValkey(procs.valkey_dir, port=procs.valkey_port)
    restarted.start()
    procs.valkey = restarted
    record = procs.record(callback_id)
    assert record is not None, "the acknowledged callback was lost"
    done = await until(lambda: (r := procs.record(callback_id)) and r["status"] == "done" and r, "done", procs)
    dialled = attempts_dialled(procs, callback_id)
    assert sum(dialled.values()) == done["attempts"]
    assert all(count == 1 for count in dialled.values()), dialled

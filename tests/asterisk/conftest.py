"""Fixtures for the real-Asterisk tests: a fresh Asterisk 22 per test, the real service and worker beside it.

Every test here is skipped, with the reason, where no Asterisk is installed at ASTERISK_PREFIX.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from callcenter.pbx.protocol import Message
from tests.asterisk.certificates import make_server_certificate
from tests.asterisk.pbx import REPO, RealPbx, free_port, missing_reason, wait_for

MISSING = missing_reason()
QUEUE_SOUNDS = ("queue-youarenext", "queue-thereare", "queue-callswaiting", "queue-thankyou", "queue-holdtime",
                "queue-minutes", "queue-seconds", "queue-less-than", "queue-quantity1", "queue-quantity2")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    ours = [item for item in items if here in Path(str(item.fspath)).parents]
    # `make test` runs two pytest-xdist workers: the real-PBX tests stay one after another on one of them (each
    # starts an Asterisk, a service and often a browser; two at once would fight over the 2 cores and their
    # timers), while the other worker takes the rest of the suite.
    for item in ours:
        item.add_marker(pytest.mark.xdist_group("real-asterisk"))
    if MISSING is None:
        return
    skip = pytest.mark.skip(reason=f"real-PBX test: {MISSING}")
    for item in ours:
        item.add_marker(skip)


@pytest.fixture(scope="session")
def prompts_dir() -> Iterator[Path]:
    """The IVR's prompts, built once per test session the way an installer builds them."""
    from callcenter.prompts import build

    with tempfile.TemporaryDirectory(prefix="hotline-prompts-") as folder:
        build(folder, ("ru", "en"))
        # app_queue's own announcements come from Asterisk's core-sounds package on a real install; a tone of the
        # same role stands in, so that what callers hear in the queue (and what a key pressed meanwhile does) is
        # as it is there.
        for name in QUEUE_SOUNDS:
            subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(Path(folder) / "ru" / f"{name}.wav"),
                            "synth", "1.5", "sine", "600", "vol", "0.3"], check=True)
        yield Path(folder)


@pytest.fixture
async def pbx(tmp_path: Path, prompts_dir: Path, request: pytest.FixtureRequest) -> AsyncIterator[RealPbx]:
    """The harness's Asterisk; `@pytest.mark.browser_operators("103", ...)` adds the SIP WebSocket and those
    operators' webrtc endpoints for the dashboard's softphone, `@pytest.mark.sip_websocket_tls` serves it over
    TLS with a certificate made for the test (tests/asterisk/certificates.py), and
    `@pytest.mark.operator_codecs("opus,ulaw,alaw")` gives the operators' endpoints that codec order."""
    marker = request.node.get_closest_marker("browser_operators")
    browsers = tuple(marker.args) if marker else ()
    codecs = request.node.get_closest_marker("operator_codecs")
    tls = make_server_certificate(tmp_path / "tls") if request.node.get_closest_marker("sip_websocket_tls") else None
    test_pbx = RealPbx(tmp_path / "asterisk", prompts_dir, http_port=free_port(),
                       websocket_port=free_port() if browsers else 0, browser_operators=browsers, websocket_tls=tls,
                       operator_codecs=codecs.args[0] if codecs else None)
    await test_pbx.start()
    try:
        yield test_pbx
    finally:
        await test_pbx.stop()


@dataclass
class Service:
    """`callcenter serve` and `callcenter worker` as real processes, pointed at the test Asterisk."""

    pbx: RealPbx
    redis_url: str
    log_dir: Path
    overrides: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{self.pbx.bind_address}:{self.pbx.http_port}"

    def environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("CALLCENTER_")}
        env.update({
            "REDIS_URL": self.redis_url,
            "CALLCENTER_CONFIG": str(REPO / "config" / "callcenter.toml"),
            "CALLCENTER_HTTP_HOST": self.pbx.bind_address,
            "CALLCENTER_HTTP_PORT": str(self.pbx.http_port),
            "CALLCENTER_AMI_HOST": "127.0.0.1",
            "CALLCENTER_AMI_PORT": str(self.pbx.ami_port),
            "CALLCENTER_AMI_SECRET": self.pbx.ami_secret,
            "CALLCENTER_IVR_TOKEN": self.pbx.ivr_token,
            # Open whenever the tests run; the working-hours logic has its own tests.
            "CALLCENTER_HOURS_OPEN": "00:00",
            "CALLCENTER_HOURS_CLOSE": "24:00",
            "CALLCENTER_HOURS_CLOSED_DATES": "",
            "CALLCENTER_HOURS_CHANGED": "",
            "CALLCENTER_REPORTS_QUEUE_LOG": str(self.pbx.queue_log),
            "CALLCENTER_CALLBACKS_SWEEP_SECONDS": "1",
            "CALLCENTER_LOGGING_LEVEL": "info",
        })
        env.update(self.overrides)
        return env

    def start(self, name: str) -> None:
        command = "serve" if name == "serve" else "worker"
        log = (self.log_dir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen([sys.executable, "-m", "callcenter", command], cwd=REPO,
                                                env=self.environment(), stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, start_new_session=True)

    def stop(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is None:
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def log_text(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    async def ready(self, session: aiohttp.ClientSession, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            process = self.processes.get("serve")
            if process is not None and process.poll() is not None:
                raise AssertionError(f"callcenter serve exited: {self.log_text('serve')[-3000:]}")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{self.url}/readyz") as response:
                    if response.status == 200 and (await response.json()).get("ready"):
                        return
            if time.monotonic() > deadline:
                raise AssertionError(f"the service was not ready in {timeout:.0f} s: {self.log_text('serve')[-3000:]}")
            await asyncio.sleep(0.2)


@pytest.fixture
def store(redis: aioredis.Redis) -> aioredis.Redis:
    """The test session's store, emptied for this test (tests/conftest.py's `redis`)."""
    return redis


@pytest.fixture
async def service_factory(pbx: RealPbx, redis_url: str, store: aioredis.Redis, tmp_path: Path
                          ) -> AsyncIterator[Any]:
    services: list[Service] = []

    async def start(**overrides: str) -> Service:
        service = Service(pbx, redis_url, tmp_path, overrides)
        service.start("serve")
        service.start("worker")
        async with aiohttp.ClientSession() as session:
            await service.ready(session)
        services.append(service)
        return service

    try:
        yield start
    finally:
        for service in services:
            for name in list(service.processes):
                service.stop(name)


async def callback_record(store: aioredis.Redis, callback_id: str) -> dict[str, Any] | None:
    from callcenter.callbacks.store import CallbackStore, NotFound

    try:
        callback = await CallbackStore(store).get(callback_id)
    except NotFound:
        return None
    return json.loads(callback.to_json()) if hasattr(callback, "to_json") else vars(callback)


async def until_status(store: aioredis.Redis, callback_id: str, statuses: set[str], timeout: float,
                       service: Service | None = None) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    record: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        record = await callback_record(store, callback_id)
        if record is not None and record["status"] in statuses:
            return record
        await asyncio.sleep(0.2)
    detail = service.log_text("serve")[-2000:] + service.log_text("worker")[-2000:] if service else ""
    raise AssertionError(f"callback {callback_id} never reached {statuses}: {record}\n{detail}")


class Events:
    """Every AMI event the test Asterisk sends to the tests' own user, kept in order to be awaited."""

    def __init__(self) -> None:
        self.seen: list[Message] = []
        self._changed = asyncio.Event()

    def __call__(self, message: Message) -> None:
        self.seen.append(message)
        self._changed.set()

    async def wait(self, predicate: Any, timeout: float, what: str) -> Message:
        deadline = time.monotonic() + timeout
        index = 0
        while True:
            while index < len(self.seen):
                message = self.seen[index]
                index += 1
                if predicate(message):
                    return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                names = [m.name for m in self.seen[-30:]]
                raise AssertionError(f"timed out waiting for {what}; last events: {names}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)


@pytest.fixture
async def transcript(pbx: RealPbx, request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """With HOTLINE_RECORD_AMI=DIR, the service user's AMI stream of the test is saved as DIR/<test>.ami."""
    folder = os.environ.get("HOTLINE_RECORD_AMI")
    if not folder:
        yield
        return
    from tests.asterisk.pbx import AmiRecorder

    recorder = AmiRecorder(pbx)
    await recorder.start()
    yield
    await recorder.stop(Path(folder) / f"{request.node.name.removeprefix('test_')}.ami")


@pytest.fixture
async def desk(store: aioredis.Redis) -> AsyncIterator[Any]:
    """`await desk(service, "101", paused=True)`: an operator account, logged in, in the queue (unless
    joined=False); their HTTP sessions are closed after the test, passed or not."""
    from tests.asterisk.people import Operator

    seated: list[Operator] = []

    async def sit_down(service: Service, extension: str = "101", *, paused: bool = False,
                       joined: bool = True) -> Operator:
        operator = Operator(service.url, extension)
        seated.append(operator)
        await operator.log_in(store)
        if joined:
            await operator.join(paused=paused)
        return operator

    try:
        yield sit_down
    finally:
        for operator in seated:
            await operator.close()


@pytest.fixture
def events(pbx: RealPbx) -> Events:
    recorder = Events()
    assert pbx.ami is not None
    pbx.ami.on_event(recorder)
    return recorder


__all__ = ["Events", "Service", "callback_record", "until_status", "wait_for"]

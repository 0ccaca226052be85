"""`callcenter run` on a bad day, with real processes and ports on 127.0.0.1: a port already taken, the store
killed under load, a second run on the data a first one left, the run itself killed, the service, the worker and
the simulator killed, and the simulator's IVR callbacks reaching the service. Nothing is left running: each run's
processes are looked for by their environment and working directory, not only as descendants."""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import TimeoutError as RedisTimeoutError

from callcenter.supervisor import free_port, holds_listening_socket
from callcenter.web.errors import json_errors_middleware, request_id_middleware
from tests.test_run_command import descendants

STATUSES = "scheduled,queued,dialling,connected,done,failed,expired,cancelled"


def family(marker: bytes) -> list[int]:
    """Every live process started for one test's run, found by what only they have: children that outlived
    `run` are re-parented away from it, but keep their environment (`marker`, the data directory's setting)
    and their working directory (the test's own, or the data directory for the store, which writes its
    process title over its environment)."""
    data_dir = marker.split(b"=", 1)[1].decode()
    root = str(Path(data_dir).parent.parent)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            if (cwd == root or cwd.startswith(root + "/")
                    or marker in (entry / "environ").read_bytes().split(b"\0")) and comm(int(entry.name)):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


async def until(condition: Callable[[], Any], timeout: float, what: str, step: float = 0.05) -> Any:
    """Poll a condition with a deadline (for what no event can tell, e.g. another process exiting)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s: {what}"
        await asyncio.sleep(step)


@dataclass
class Run:
    """One `callcenter run` subprocess, its output read all the time (its children's logs go there too: a
    full pipe would stall them)."""

    process: asyncio.subprocess.Process
    marker: bytes
    base: str
    lines: list[str] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    reader: asyncio.Task[None] | None = None

    @property
    def output(self) -> str:
        return "".join(self.lines)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            async with self.changed:
                self.lines.append(line.decode(errors="replace"))
                self.changed.notify_all()
        async with self.changed:
            self.changed.notify_all()

    async def wait_for(self, text: str, timeout: float = 60.0) -> None:
        async with asyncio.timeout(timeout), self.changed:
            while text not in self.output:
                assert self.reader is not None and not self.reader.done(), \
                    f"callcenter run ended before {text!r}:\n{self.output[-4000:]}"
                await self.changed.wait()

    async def banner(self) -> dict[str, tuple[str, str]]:
        await self.wait_for("Press Ctrl-C to stop.")
        return {line.split()[0]: (line.split()[1], line.split()[2]) for line in self.output.splitlines()
                if line.strip().startswith(("operator ", "supervisor ", "interpreter "))}

    async def stop(self, signum: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        self.process.send_signal(signum)
        code = await asyncio.wait_for(self.process.wait(), timeout)
        if self.reader is not None:
            await asyncio.wait_for(self.reader, 10)
        return code


def run_env(tmp_path: Path, **settings: str) -> tuple[dict[str, str], bytes]:
    data_dir = str(tmp_path / "var" / "valkey")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_") and k != "REDIS_URL"}
    env.update({
        "CALLCENTER_HTTP_PORT": str(free_port()),
        "CALLCENTER_SIMULATOR_PORT": str(free_port()),
        "CALLCENTER_REDIS_DATA_DIR": data_dir,
        "CALLCENTER_LOGGING_FORMAT": "json",
        **settings,
    })
    return env, f"CALLCENTER_REDIS_DATA_DIR={data_dir}".encode()


@asynccontextmanager
async def callcenter_run(tmp_path: Path, env: dict[str, str], marker: bytes) -> AsyncIterator[Run]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callcenter", "run", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    run = Run(process, marker, f"http://127.0.0.1:{env['CALLCENTER_HTTP_PORT']}")
    run.reader = asyncio.create_task(run._read())
    try:
        yield run
    finally:
        if process.returncode is None:  # a failed test: never leave anything running
            process.send_signal(signal.SIGCONT)
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()
        left = await _gone(marker, 15)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        run.reader.cancel()
        assert not left, f"processes left running: {left}"


async def _gone(marker: bytes, timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := family(marker)) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return left


async def aof_rewritten(client: aioredis.Redis, timeout: float) -> None:
    """Until the store's AOF rewrite is done."""
    deadline = time.monotonic() + timeout
    while True:
        info = await client.info("persistence")
        if not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]:
            return
        assert time.monotonic() < deadline, "the AOF rewrite did not finish"
        await asyncio.sleep(0.05)


@asynccontextmanager
async def staff(base: str, login: tuple[str, str]) -> AsyncIterator[aiohttp.ClientSession]:
    # unsafe=True: aiohttp's client jar otherwise keeps no cookies from an IP address such as 127.0.0.1.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.post(f"{base}/api/login", json={"username": login[0], "password": login[1]}) as answer:
            assert answer.status == 200, await answer.text()
        yield session


# --- 1. a port taken by another program ------------------------------------------------------------------

@contextmanager
def another_instance() -> Iterator[int]:
    """A port held by something that answers every HTTP request 200, /readyz too, as another hotline would."""

    class Ok(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("section", ["HTTP", "SIMULATOR"])
async def test_a_taken_port_is_named_in_one_line_and_nothing_starts(tmp_path: Path, section: str) -> None:
    with another_instance() as port:
        env, marker = run_env(tmp_path, **{f"CALLCENTER_{section}_PORT": str(port)})
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "callcenter", "run", cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert process.returncode != 0
        assert "is up" not in stdout.decode(), "the other program's answers were taken for this run's"
        lines = [line for line in stderr.decode().splitlines() if line.strip()]
        assert len(lines) == 1, lines
        assert f"CALLCENTER_{section}_PORT" in lines[0] and f"port {port} " in lines[0], lines[0]
        assert "Traceback" not in lines[0]
        assert family(marker) == [], "a child was started, or left running"
        assert not (tmp_path / "var" / "valkey").exists(), "the store was started before the ports were checked"


def test_a_listener_counts_only_when_the_process_itself_holds_the_socket() -> None:
    """What makes "ready" this run's own child's answer: another program on the port is not the child."""
    with socket.create_server(("127.0.0.1", 0)) as mine:
        port = mine.getsockname()[1]
        assert holds_listening_socket(os.getpid(), port) is True
        assert holds_listening_socket(os.getppid(), port) is False
    assert holds_listening_socket(os.getpid(), port) is False


# --- 2. the store killed under load ----------------------------------------------------------------------

@dataclass
class Answer:
    sent: float
    done: float
    status: int
    body: dict[str, Any]
    retry_after: str | None
    phone: str


class Load:
    """A few residents asking for callbacks side by side, each number new, until told to stop."""

    def __init__(self, base: str, clients: int = 4, limit: int = 500) -> None:
        self.base = base
        self.clients = clients
        self.limit = limit  # a bound on the requests, whatever happens
        self.answers: list[Answer] = []
        self.stopped = asyncio.Event()
        self.arrived = asyncio.Condition()
        self._sent = 0

    async def _client(self, session: aiohttp.ClientSession, number: int) -> None:
        while not self.stopped.is_set() and self._sent < self.limit:
            self._sent += 1
            phone = f"+7495{number:02d}{self._sent:05d}"
            sent = time.monotonic()
            async with session.post(f"{self.base}/api/callbacks", json={"phone": phone}) as response:
                body = json.loads(await response.text())
                answer = Answer(sent, time.monotonic(), response.status, body, response.headers.get("Retry-After"),
                                phone)
            async with self.arrived:
                self.answers.append(answer)
                self.arrived.notify_all()

    async def until(self, condition: Callable[[list[Answer]], bool], timeout: float, what: str) -> None:
        async with asyncio.timeout(timeout), self.arrived:
            while not condition(self.answers):
                assert self._sent < self.limit, f"request budget spent before: {what}"
                await self.arrived.wait()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Load]:
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            tasks = [asyncio.create_task(self._client(session, n)) for n in range(self.clients)]
            try:
                yield self
            finally:
                self.stopped.set()
                await asyncio.gather(*tasks)


def created_after(moment: float) -> Callable[[list[Answer]], bool]:
    return lambda answers: any(a.status == 201 and a.sent > moment for a in answers)


def parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return 0


def valkey_server(run: Run) -> int:
    """The store: the valkey-server under `run` (not an AOF rewrite child of it)."""
    servers = [pid for pid in descendants(run.process.pid)
               if comm(pid) == "valkey-server" and comm(parent(pid)) != "valkey-server"]
    assert len(servers) == 1, servers
    return servers[0]


async def test_the_store_killed_under_load_comes_back_and_nothing_acknowledged_is_lost(tmp_path: Path) -> None:
    env, marker = run_env(tmp_path, CALLCENTER_CALLBACKS_PER_ADDRESS_DAILY_LIMIT="100000")
    async with callcenter_run(tmp_path, env, marker) as run:
        logins = await run.banner()
        load = Load(run.base)
        async with load.running():
            await load.until(lambda answers: sum(a.status == 201 for a in answers) >= 20, 20, "callbacks accepted")

            # A crash: the supervisor starts the store again at once; requests wait it out (the client's retries).
            first = valkey_server(run)
            killed = time.monotonic()
            os.kill(first, signal.SIGKILL)
            await load.until(created_after(killed), 15, "a callback accepted after the crash")
            back = min(a.done for a in load.answers if a.status == 201 and a.sent > killed) - killed
            await run.wait_for('"msg": "ready again", "child": "valkey"', 10)
            second = valkey_server(run)
            assert second != first

            # The store down for longer than the client's ~9 s of retries: the supervisor frozen (SIGSTOP) while
            # the store is killed again. Requests meanwhile get 503 with Retry-After; once it runs, 2xx again.
            run.process.send_signal(signal.SIGSTOP)
            try:
                os.kill(second, signal.SIGKILL)
                frozen = time.monotonic()
                # Sent once the store was down: refused only after the client's retries, not at once.
                await load.until(lambda answers: any(a.status == 503 and a.sent > frozen for a in answers), 25,
                                 "a 503 for a request sent while the store was down")
            finally:
                run.process.send_signal(signal.SIGCONT)
            resumed = time.monotonic()
            await load.until(created_after(resumed), 15, "a callback accepted once the store is back")
            back_after_freeze = min(a.done for a in load.answers if a.status == 201 and a.sent > resumed) - resumed
        down = [json.loads(line)["down_seconds"] for line in run.output.splitlines()
                if '"msg": "ready again", "child": "valkey"' in line]
        refused_at = min(a.done for a in load.answers if a.status == 503 and a.sent > frozen) - frozen
        print(f"\nstore killed under load: store down {down} s (supervisor's log); callbacks accepted again "
              f"{back:.3f} s after kill -9; held down "
              f"{resumed - frozen:.1f} s (first 503 for a request sent meanwhile at {refused_at:.1f} s), accepted "
              f"again {back_after_freeze:.3f} s after the supervisor ran again; {len(load.answers)} requests, "
              f"{sum(a.status == 201 for a in load.answers)} answered 201, "
              f"{sum(a.status == 503 for a in load.answers)} 503")

        statuses = {a.status for a in load.answers}
        # 200: the store died after running a request's write and before answering it; the client's retry found
        # the callback made (the writes are safe to repeat). Never a 500.
        assert statuses <= {200, 201, 503}, statuses
        for refused in (a for a in load.answers if a.status == 503):
            assert refused.retry_after is not None and int(refused.retry_after) > 0
            assert refused.body["error"] == "store_unavailable"
        assert back < 5.0, f"the store took {back:.1f} s to come back"
        output = run.output
        assert output.count('"msg": "valkey died (killed by SIGKILL); restarting it') == 2, output[-3000:]
        assert '"msg": "unhandled error"' not in output

        async with staff(run.base, logins["supervisor"]) as session, \
                session.get(f"{run.base}/api/callbacks", params={"status": STATUSES, "limit": "1000"}) as response:
            assert response.status == 200
            stored = await response.json()
        assert len(stored) < 1000
        lost = {a.body["id"] for a in load.answers if a.status == 201} - {c["id"] for c in stored}
        assert not lost, f"callbacks answered 201 are lost: {lost}"
        lost = {a.phone for a in load.answers if a.status in (200, 201)} - {c["phone"] for c in stored}
        assert not lost, f"callbacks acknowledged are lost: {lost}"
        assert await run.stop() == 0, run.output[-3000:]


async def test_a_store_error_is_503_with_retry_after_not_500() -> None:
    """A store that does not answer in time (a timeout, not a refused connection) is "try again" too."""

    async def stuck(request: web.Request) -> web.Response:
        raise RedisTimeoutError("Timeout reading from 127.0.0.1:6379")

    app = web.Application(middlewares=[request_id_middleware, json_errors_middleware])
    app.router.add_get("/stuck", stuck)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/stuck") as response:
            assert response.status == 503
            assert response.headers["Retry-After"] == "2"
            assert (await response.json())["error"] == "store_unavailable"
    finally:
        await runner.cleanup()


# --- 3. a second run on the data a first one left; the run itself killed --------------------------------

async def test_a_run_starts_on_the_data_a_stopped_one_left_and_a_killed_run_leaves_nothing(tmp_path: Path) -> None:
    env, marker = run_env(tmp_path)
    keys = 400_000  # enough that loading them takes a while: a store that has opened its port is not yet ready
    async with callcenter_run(tmp_path, env, marker) as run:
        await run.banner()
        record = json.loads((tmp_path / "var" / "run.json").read_text())
        client = aioredis.Redis.from_url(record["redis_url"])
        try:
            for batch in range(keys // 10_000):
                await client.mset({f"filler:{batch}:{n}": "x" * 20 for n in range(10_000)})
            # Into the AOF's RDB base, as a rewrite leaves it: loading that, the server answers -LOADING (while
            # replaying commands it answers nothing at all until done).
            await client.bgrewriteaof()
            await aof_rewritten(client, 10)
        finally:
            await client.aclose()
        assert await run.stop() == 0, run.output[-3000:]

    env["CALLCENTER_HTTP_PORT"], env["CALLCENTER_SIMULATOR_PORT"] = str(free_port()), str(free_port())
    async with callcenter_run(tmp_path, env, marker) as again:
        started = time.monotonic()
        logins = await again.banner()
        print(f"\nsecond run on {keys:,} keys: up in {time.monotonic() - started:.1f} s")
        assert "BusyLoadingError" not in again.output
        # The store accepted connections before its data was loaded (answering -LOADING): it was waited for.
        assert '"msg": "waiting for the store to load its data", "child": "valkey"' in again.output
        record = json.loads((tmp_path / "var" / "run.json").read_text())
        client = aioredis.Redis.from_url(record["redis_url"])
        try:
            assert await client.dbsize() >= keys
        finally:
            await client.aclose()
        async with staff(again.base, logins["supervisor"]):
            pass
        children = family(marker)
        assert len(children) >= 4, children
        # kill -9 of `run` itself: its children are told (a parent-death signal) and stop.
        killed = time.monotonic()
        assert await again.stop(signal.SIGKILL) == -signal.SIGKILL
        left = await _gone(marker, 20)
        assert left == [], f"children outlived a killed run: {[(pid, comm(pid)) for pid in left]}"
        print(f"kill -9 of run: its children gone {time.monotonic() - killed:.2f} s later")


# --- 4. the simulator's callers who press 2 reach the service --------------------------------------------

async def test_the_simulators_ivr_callbacks_reach_the_service(tmp_path: Path) -> None:
    env, marker = run_env(tmp_path, CALLCENTER_SIMULATOR_CALLBACK_SHARE="1", CALLCENTER_SIMULATOR_AGENTS="0",
                          CALLCENTER_SIMULATOR_ACCELERATION="30", CALLCENTER_SIMULATOR_CALLS_PER_DAY="20000",
                          CALLCENTER_SIMULATOR_MEAN_PATIENCE_SECONDS="5")
    async with callcenter_run(tmp_path, env, marker) as run:
        logins = await run.banner()
        async with staff(run.base, logins["supervisor"]) as session:

            async def ivr_callbacks() -> list[dict[str, Any]]:
                async with session.get(f"{run.base}/api/callbacks",
                                       params={"status": STATUSES, "limit": "1000"}) as response:
                    assert response.status == 200
                    return [c for c in await response.json() if c["channel"] == "ivr"]

            deadline = time.monotonic() + 20
            while not (found := await ivr_callbacks()):
                assert time.monotonic() < deadline, "no IVR callback reached the service:\n" + run.output[-3000:]
                await asyncio.sleep(0.2)
        assert found[0]["uniqueid"], found[0]
        assert await run.stop() == 0


# --- 5. the other children crash too ---------------------------------------------------------------------

async def test_a_crashed_service_worker_and_simulator_are_started_again(tmp_path: Path) -> None:
    env, marker = run_env(tmp_path)
    async with callcenter_run(tmp_path, env, marker) as run:
        await run.banner()
        parts = {comm_line(pid): pid for pid in descendants(run.process.pid) if parent(pid) == run.process.pid}
        victims = {name: parts[f"callcenter {name}"] for name in ("serve", "worker", "simulate")}
        # RQ's scheduler runs in a process of its own under the worker: it must go with it.
        worker_family = descendants(victims["worker"])
        for pid in victims.values():
            os.kill(pid, signal.SIGKILL)
        for name in ("server", "worker", "simulator"):
            await run.wait_for(f'"msg": "{name} died (killed by SIGKILL); restarting it now"', 10)
        # Ready again: the new service answers /readyz 200, so its PBX link is up with the new simulator.
        await run.wait_for('"msg": "ready again", "child": "server"', 30)
        await run.wait_for('"msg": "restarted", "child": "worker"', 10)
        async with aiohttp.ClientSession() as session, session.get(f"{run.base}/readyz") as response:
            assert response.status == 200
        await until(lambda: not any(comm(pid) for pid in worker_family), 10, "the dead worker's scheduler gone")
        assert await run.stop() == 0, run.output[-3000:]


def comm_line(pid: int) -> str:
    """'callcenter serve' for `python -m callcenter serve`."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return ""
    return " ".join(argv[2:4]) if argv[1:2] == ["-m"] else argv[0]

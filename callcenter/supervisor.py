"""`callcenter run`: the whole hotline on one machine, as separate processes under one supervisor.

Children: the embedded Valkey server (when no Redis URL is configured), the PBX simulator (when no Asterisk is
configured), the web service and an RQ worker. Each child runs in its own session, so a Ctrl-C on the terminal
reaches only the supervisor, which then stops the children in order (worker and service first, the store last)
and waits for each: nothing is left running and no child sees its store vanish under it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from callcenter.accounts.demo import ensure_demo_users
from callcenter.config import Settings

log = logging.getLogger(__name__)

STOP_TIMEOUT = 10.0
READY_TIMEOUT = 30.0


def run_file(settings: Settings) -> Path:
    return Path(settings.redis.data_dir).parent / "run.json"


def running_store_url(settings: Settings) -> str | None:
    """The Redis URL of a `callcenter run` still running on this machine, if there is one."""
    path = run_file(settings)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        os.kill(int(record["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return None
    return str(record["redis_url"])


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float, alive: Callable[[], bool]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"the process meant to listen on {host}:{port} exited")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on {host}:{port} within {timeout:.0f} s")


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Supervisor:
    def __init__(self, settings: Settings, config_path: str | None = None) -> None:
        self.settings = settings
        self.env = dict(os.environ)
        if config_path:
            self.env["CALLCENTER_CONFIG"] = str(Path(config_path).resolve())
        self.children: list[Child] = []
        self._stop_requested = False
        # Where `callcenter user ...` finds the store of a running `callcenter run` (never two servers on one
        # data directory).
        self.run_file = run_file(settings)

    def _spawn(self, name: str, *args: str) -> Child:
        child = Child(name, [sys.executable, "-m", "callcenter", *args])
        child.process = subprocess.Popen(child.argv, env=self.env, start_new_session=True)  # noqa: S603
        self.children.append(child)
        log.info("started", extra={"child": name, "pid": child.process.pid})
        return child

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        self._stop_requested = True

    def start_store(self) -> str:
        if self.settings.redis.url:
            return self.settings.redis.url
        port = free_port()
        store = self._spawn("valkey", "embedded-redis", "--port", str(port),
                            "--data-dir", self.settings.redis.data_dir)
        wait_for_port("127.0.0.1", port, 20.0, lambda: store.alive)
        return f"redis://127.0.0.1:{port}/0"

    def start_pbx(self) -> str:
        """Point the service at Asterisk, or start the simulator; returns a description for the banner."""
        if self.settings.ami.host:
            return f"Asterisk at {self.settings.ami.host}:{self.settings.ami.port}"
        sim = self.settings.simulator
        # The simulated PBX gets a fresh secret each run; it is never written anywhere.
        secret = secrets.token_urlsafe(16)
        self.env.update({
            "CALLCENTER_AMI_HOST": sim.host,
            "CALLCENTER_AMI_PORT": str(sim.port),
            "CALLCENTER_AMI_USERNAME": self.settings.ami.username,
            "CALLCENTER_AMI_SECRET": secret,
        })
        # The simulator keeps a queue_log as Asterisk does, and the reports read it to fill link gaps.
        queue_log = sim.queue_log or self.settings.reports.queue_log or \
            str(Path(self.settings.redis.data_dir).parent / "queue_log")
        Path(queue_log).parent.mkdir(parents=True, exist_ok=True)
        self.env.setdefault("CALLCENTER_SIMULATOR_QUEUE_LOG", queue_log)
        self.env.setdefault("CALLCENTER_REPORTS_QUEUE_LOG", queue_log)
        simulator = self._spawn("simulator", "simulate")
        wait_for_port(sim.host, sim.port, 20.0, lambda: simulator.alive)
        return f"built-in PBX simulator on {sim.host}:{sim.port}"

    def wait_until_ready(self, url: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        last = "no answer"
        while time.monotonic() < deadline and not self._stop_requested:
            dead = [c.name for c in self.children if not c.alive]
            if dead:
                raise RuntimeError(f"{', '.join(dead)} exited during start-up")
            try:
                with urllib.request.urlopen(url, timeout=1.0) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except urllib.error.HTTPError as exc:
                last = exc.read().decode(errors="replace")
            except OSError as exc:
                last = str(exc)
            time.sleep(0.1)
        raise TimeoutError(f"not ready within {READY_TIMEOUT:.0f} s: {last}")

    def stop_all(self) -> None:
        # Reverse start order: the worker and the service go before the simulator and the store.
        for child in reversed(self.children):
            if child.process is None or child.process.poll() is not None:
                continue
            child.process.send_signal(signal.SIGTERM)
            try:
                child.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                log.warning("did not stop in time; killing", extra={"child": child.name})
                child.process.kill()
                child.process.wait()
            log.info("stopped", extra={"child": child.name, "exit_code": child.process.returncode})

    def run(self, banner_extra: Callable[[], list[str]] | None = None) -> int:
        signal.signal(signal.SIGINT, self._request_stop)
        signal.signal(signal.SIGTERM, self._request_stop)
        http = self.settings.http
        base_url = f"http://{http.host}:{http.port}"
        try:
            redis_url = self.start_store()
            self.env["REDIS_URL"] = redis_url
            self.env.pop("CALLCENTER_REDIS_URL", None)
            logins = asyncio.run(ensure_demo_users(redis_url))
            self.run_file.parent.mkdir(parents=True, exist_ok=True)
            self.run_file.write_text(json.dumps({"redis_url": redis_url, "pid": os.getpid()}), encoding="utf-8")
            pbx = self.start_pbx()
            self._spawn("server", "serve")
            self._spawn("worker", "worker")
            self.wait_until_ready(f"{base_url}/readyz")
        except (RuntimeError, TimeoutError) as exc:
            log.error("start-up failed: %s", exc)
            self.stop_all()
            return 1
        if self._stop_requested:
            self.stop_all()
            return 0
        store = "embedded Valkey, data in " + self.settings.redis.data_dir if not self.settings.redis.url \
            else "Redis at the configured URL"
        lines = [
            "",
            f"  {self.settings.hotline.name} is up.",
            f"  Dashboard:  {base_url}/",
            f"  Callbacks:  {base_url}/callback  (the residents' page)",
            f"  Video:      {base_url}/video  (residents: sign-language interpreter or video with an operator)",
            f"  Reports:    {base_url}/reports/day  (supervisors)",
            f"  API docs:   {base_url}/api/docs",
            f"  Store:      {store}",
            f"  PBX:        {pbx}",
            "  Demo logins (new passwords each run):",
            *(f"    {role:<12} {username:<13} {password}" for username, password, role in logins),
            *(banner_extra() if banner_extra else []),
            "  Press Ctrl-C to stop.",
            "",
        ]
        print("\n".join(lines), flush=True)
        exit_code = 0
        while not self._stop_requested:
            dead = [c for c in self.children if not c.alive]
            if dead:
                log.error("a part of the service exited; stopping the rest",
                          extra={"child": dead[0].name, "exit_code": dead[0].process and dead[0].process.returncode})
                exit_code = 1
                break
            time.sleep(0.2)
        self.stop_all()
        self.run_file.unlink(missing_ok=True)
        return exit_code

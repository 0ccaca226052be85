"""`callcenter run`: the whole hotline on one machine, as separate processes under one supervisor.

Children: the embedded Valkey server (when no Redis URL is configured), the PBX simulator (when no Asterisk is
configured), the web service and an RQ worker. Each child runs in its own session, so a Ctrl-C on the terminal
reaches only the supervisor, which then stops the children in order (worker and service first, the store last)
and waits for each: nothing is left running and no child sees its store vanish under it.

A bad day, handled:

- Before anything starts, every port `run` needs is checked; one busy is reported in one line naming the
  setting that moves it, and nothing is started. A part counts as ready only once the process this run started
  holds the listening socket itself (Linux: /proc), so another program on the port can never answer for it.
- The store counts as ready when it answers commands (PING, and its data loaded), not when its port opens:
  a Valkey loading a large AOF accepts connections and answers `-LOADING` meanwhile.
- A child that dies (a crash, `kill -9`) is logged with its exit code or signal and started again, at once the
  first time and with a growing pause (1, 2, 4 ... 30 s) when it keeps dying; the service and the worker are
  started again only once the store answers. Nothing accepted is lost: the store writes with `appendfsync
  always`. Whatever a dead child left in its process group (a Valkey rewrite child) is killed with it.
- Children die with the supervisor: each is started with a parent-death signal (Linux `PR_SET_PDEATHSIG`), so
  even a `kill -9` of `run` leaves nothing running; SIGINT, SIGTERM and SIGHUP stop everything in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ipaddress
import json
import logging
import os
import secrets
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from callcenter.accounts.demo import ensure_demo_users
from callcenter.config import Settings
from callcenter.storage import probe, server_command

log = logging.getLogger(__name__)

STOP_TIMEOUT = 10.0
READY_TIMEOUT = 30.0
# Loading a large AOF takes a while; the store is waited for longer than the other parts.
STORE_READY_TIMEOUT = 120.0
# A child up this long before it died starts again at once, as after a first crash.
STABLE_SECONDS = 30.0
MAX_BACKOFF = 30.0
PR_SET_PDEATHSIG = 1


def run_file(settings: Settings) -> Path:
    return Path(settings.redis.data_dir).parent / "run.json"


def running_store_url(settings: Settings) -> str | None:
    """The Redis URL of a `callcenter run` still running on this machine, if there is one."""
    record = _run_record(settings)
    return str(record["redis_url"]) if record else None


def _run_record(settings: Settings) -> dict[str, Any] | None:
    """run.json of a `callcenter run` whose process is still there (not a stale file whose pid was reused)."""
    try:
        record = json.loads(run_file(settings).read_text(encoding="utf-8"))
        pid = int(record["pid"])
        os.kill(pid, 0)
        str(record["redis_url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        if b"callcenter" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return None
    except OSError:
        pass  # no /proc here: trust the pid
    return dict(record)


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


# --- who holds a port (Linux /proc; elsewhere these answer None, "unknown") ---------------------------------

def listening_inodes(port: int) -> set[int] | None:
    """The inodes of the TCP sockets listening on `port`, any address; None where /proc/net is not there."""
    found: set[int] = set()
    readable = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        readable = True
        for line in lines:
            fields = line.split()
            # sl local_address rem_address st ... inode; state 0A is LISTEN
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                found.add(int(fields[9]))
    return found if readable else None


def socket_holders(inodes: set[int], pids: Iterable[int] | None = None) -> list[int]:
    """The processes (of `pids`, or all that can be read) that have one of these sockets open."""
    targets = {f"socket:[{inode}]" for inode in inodes}
    if pids is None:
        pids = sorted(int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit())
    holders = []
    for pid in pids:
        try:
            descriptors = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                if os.readlink(f"/proc/{pid}/fd/{descriptor}") in targets:
                    holders.append(pid)
                    break
            except OSError:
                continue
    return holders


def holds_listening_socket(pid: int, port: int) -> bool | None:
    """Whether process `pid` itself listens on `port`; None when this cannot be known here."""
    inodes = listening_inodes(port)
    if inodes is None:
        return None
    return bool(inodes) and bool(socket_holders(inodes, [pid]))


def describe_process(pid: int) -> str:
    try:
        command = " ".join(Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").replace("\0", " ")
                           .split())
    except OSError:
        return f"pid {pid}"
    return f"pid {pid} ({command[:80]})" if command else f"pid {pid}"


def local_address(host: str) -> str:
    """Where this machine reaches a server bound to `host` (a wildcard address means loopback)."""
    if host in ("", "0.0.0.0"):  # noqa: S104 - a bind address read from the settings, not one we bind to
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True)
class PortNeed:
    """A port `run` must be able to listen on, and the setting that moves it."""

    what: str
    host: str
    port: int
    section: str

    @property
    def setting(self) -> str:
        return f"CALLCENTER_{self.section.upper()}_PORT"

    def problem(self) -> str | None:
        """None when the port is free to listen on; else one sentence saying who holds it and what to do."""
        try:
            family, kind, proto, _, address = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)[0]
        except OSError as exc:
            return (f"{self.what} cannot listen on {self.host}:{self.port} ({exc}): set "
                    f"CALLCENTER_{self.section.upper()}_HOST")
        with socket.socket(family, kind, proto) as sock:
            # As the servers themselves do, so that connections of an earlier run still in TIME_WAIT do not
            # count; a socket listening on the port still does.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
                sock.listen()
                return None
            except OSError as exc:
                reason = exc.strerror or str(exc)
        inodes = listening_inodes(self.port) or set()
        holders = [pid for pid in socket_holders(inodes) if pid != os.getpid()] if inodes else []
        by = f", held by {describe_process(holders[0])}" if holders else ""
        return (f"port {self.port} on {self.host} ({self.what}) is not free: {reason.lower()}{by}; "
                f"set {self.setting} (or {self.section}.port) to a free port")


def store_servers(data_dir: str) -> list[int]:
    """Valkey servers working in `data_dir` (an orphan of an earlier run, another run's): Linux only."""
    target = Path(data_dir).resolve()
    found: list[int] = []
    if not Path("/proc/self/cwd").exists():
        return found
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if Path(os.readlink(entry / "cwd")) == target and \
                    (entry / "comm").read_text(encoding="utf-8").startswith(("valkey", "redis")):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn that makes the child get SIGTERM when the supervisor dies, however it dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the supervisor died before the line above took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def exit_text(returncode: int | None) -> str:
    if returncode is None:
        return "running"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


class StartupError(RuntimeError):
    pass


class StartupAborted(Exception):
    """A stop was asked for during start-up."""


ReadyCheck = Callable[["Child"], str | None]


@dataclass
class Child:
    name: str
    argv: list[str]
    # None when the child is ready (answers as it should), else why not yet. No check: ready once started.
    ready_check: ReadyCheck | None = None
    ready_timeout: float = READY_TIMEOUT
    # The service and the worker read the store: they are (re)started only once it answers.
    needs_store: bool = False
    cwd: Path | None = None
    # The child's output goes to this file (the store's valkey.log) instead of the supervisor's.
    log_path: Path | None = None
    # The port it listens on, checked again when it dies (taken by another program meanwhile?).
    port: PortNeed | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    started_at: float = 0.0
    ready: bool = False
    starts: int = 0
    crashes: int = 0  # in a row: reset by a run of STABLE_SECONDS
    restart_at: float | None = None
    down_since: float | None = None
    log_offset: int = 0
    waiting_noted: bool = False

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def why_dead(self, returncode: int | None) -> str:
        """How it ended, with its last output and what holds its port now, if anything does."""
        text = exit_text(returncode)
        tail = self.log_tail(3)
        if tail:
            text += f"; its last output: {tail}"
        problem = self.port.problem() if self.port is not None else None
        if problem:
            text += f"; {problem}"
        return text

    def log_tail(self, lines: int = 5) -> str:
        if self.log_path is None:
            return ""
        try:
            with self.log_path.open("rb") as output:
                output.seek(self.log_offset)
                text = output.read().decode(errors="replace")
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


class Supervisor:
    def __init__(self, settings: Settings, config_path: str | None = None) -> None:
        self.settings = settings
        self.env = dict(os.environ)
        if config_path:
            self.env["CALLCENTER_CONFIG"] = str(Path(config_path).resolve())
        self.children: list[Child] = []
        self.store: Child | None = None
        self._stop_requested = False
        # Where `callcenter user ...` finds the store of a running `callcenter run` (never two servers on one
        # data directory).
        self.run_file = run_file(settings)
        self._wrote_run_file = False
        self._preexec = die_with_parent()
        self._wake_read: socket.socket | None = None
        self._wake_write: socket.socket | None = None
        self._saved_handlers: dict[int, Any] = {}
        self._saved_wakeup_fd = -1
        http = settings.http
        self.local_url = f"http://{url_host(local_address(http.host))}:{http.port}"

    # --- signals: a stop request or a child's death wakes the supervisor at once ----------------------------

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        self._stop_requested = True

    def _install_signals(self) -> None:
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._wake_write.setblocking(False)
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self._saved_handlers[signum] = signal.signal(signum, self._request_stop)
        # A handler (it need not do anything) so that SIGCHLD writes to the wake-up socket.
        self._saved_handlers[signal.SIGCHLD] = signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        self._saved_wakeup_fd = signal.set_wakeup_fd(self._wake_write.fileno(), warn_on_full_buffer=False)

    def _restore_signals(self) -> None:
        signal.set_wakeup_fd(self._saved_wakeup_fd)
        for signum, handler in self._saved_handlers.items():
            signal.signal(signum, handler)
        for sock in (self._wake_read, self._wake_write):
            if sock is not None:
                sock.close()

    def _pause(self, seconds: float) -> None:
        """Wait up to `seconds`, less when a signal comes (a child died, a stop was asked for)."""
        if self._wake_read is None:
            time.sleep(seconds)
            return
        readable, _, _ = select.select([self._wake_read], [], [], max(seconds, 0.0))
        if readable:
            try:
                while self._wake_read.recv(4096):
                    pass
            except (BlockingIOError, InterruptedError):
                pass

    # --- children -------------------------------------------------------------------------------------------

    def _spawn(self, name: str, *args: str, ready_check: ReadyCheck | None = None,
               needs_store: bool = False, port: PortNeed | None = None) -> Child:
        child = Child(name, [sys.executable, "-m", "callcenter", *args], ready_check=ready_check,
                      needs_store=needs_store, port=port)
        self.children.append(child)
        self._launch(child)
        return child

    def _launch(self, child: Child) -> None:
        output = child.log_path.open("ab") if child.log_path else None
        try:
            if output is not None:
                child.log_offset = output.tell()
            child.process = subprocess.Popen(  # noqa: S603 - our own interpreter and the bundled server
                child.argv, env=self.env, cwd=child.cwd, stdout=output,
                stderr=subprocess.STDOUT if output is not None else None,
                start_new_session=True, preexec_fn=self._preexec)
        finally:
            if output is not None:
                output.close()
        child.starts += 1
        child.started_at = time.monotonic()
        child.ready = child.ready_check is None
        child.restart_at = None
        child.waiting_noted = False
        extra: dict[str, Any] = {"child": child.name, "pid": child.process.pid}
        if child.starts > 1:
            extra["start"] = child.starts
        log.info("started" if child.starts == 1 else "restarted", extra=extra)

    def _kill_group(self, child: Child) -> None:
        """Whatever the child left in its process group (its session): e.g. a Valkey AOF rewrite child, which
        must not go on writing beside the next server."""
        if child.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.process.pid, signal.SIGKILL)

    def _check_ready(self, child: Child) -> str | None:
        assert child.ready_check is not None
        try:
            return child.ready_check(child)
        except Exception as exc:  # a check must never bring the supervisor down
            return f"{type(exc).__name__}: {exc}"

    def _listening(self, child: Child, host: str, port: int) -> str | None:
        """None once `child` itself listens on the port (not merely someone)."""
        held = holds_listening_socket(child.pid, port)
        if held is None:  # no /proc here: at least a connection must succeed
            try:
                socket.create_connection((local_address(host), port), timeout=0.5).close()
            except OSError as exc:
                return f"nothing listens on {host}:{port}: {exc}"
            return None
        return None if held else f"{child.name} does not listen on port {port} yet"

    def _store_ready(self) -> bool:
        return self.store is None or (self.store.alive and self.store.ready)

    def _await_ready(self, child: Child) -> None:
        """Start-up: wait until `child` is ready; any child dying meanwhile fails the start-up."""
        deadline = time.monotonic() + child.ready_timeout
        announced = ""
        while True:
            if self._stop_requested:
                raise StartupAborted
            for other in self.children:
                if other.process is not None and not other.alive:
                    raise StartupError(f"{other.name} exited during start-up: "
                                       f"{other.why_dead(other.process.returncode)}")
            why = self._check_ready(child)
            if why is None:
                child.ready = True
                log.info("ready", extra={"child": child.name,
                                         "seconds": round(time.monotonic() - child.started_at, 3)})
                return
            if why.startswith("loading") and announced != why:
                log.info("waiting for the store to load its data", extra={"child": child.name})
                announced = why
            if time.monotonic() > deadline:
                raise StartupError(f"{child.name} not ready within {child.ready_timeout:.0f} s: {why}")
            self._pause(0.05)

    def _tend(self, child: Child, now: float) -> None:
        """One look at a child while running: notice a death, restart when due, notice it ready again."""
        process = child.process
        if process is not None and process.poll() is not None:
            self._kill_group(child)
            uptime = now - child.started_at
            child.crashes = 1 if uptime >= STABLE_SECONDS else child.crashes + 1
            delay = 0.0 if child.crashes == 1 else min(2.0 ** (child.crashes - 2), MAX_BACKOFF)
            child.process = None
            child.ready = False
            child.down_since = child.down_since or now
            child.restart_at = now + delay
            extra: dict[str, Any] = {"child": child.name, "pid": process.pid, "how": exit_text(process.returncode),
                                     "uptime_seconds": round(uptime, 3), "restart_in_seconds": delay,
                                     "crashes_in_a_row": child.crashes}
            details = child.why_dead(process.returncode)
            if details != extra["how"]:
                extra["details"] = details
            log.error("%s died (%s); restarting it %s", child.name, exit_text(process.returncode),
                      "now" if delay == 0 else f"in {delay:.0f} s", extra=extra)
        if child.process is None and child.restart_at is not None and now >= child.restart_at:
            if child.needs_store and not self._store_ready():
                if not child.waiting_noted:
                    log.info("waiting for the store before restarting", extra={"child": child.name})
                    child.waiting_noted = True
                return
            try:
                self._launch(child)
            except OSError as exc:  # e.g. the data directory removed under it: try again later
                child.crashes += 1
                child.restart_at = now + min(2.0 ** (child.crashes - 2), MAX_BACKOFF)
                log.error("could not start %s again: %s", child.name, exc, extra={"child": child.name})
                return
        if child.alive and not child.ready:
            why = self._check_ready(child)
            if why is None:
                child.ready = True
                extra = {"child": child.name, "seconds": round(now - child.started_at, 3)}
                if child.down_since is not None:
                    extra["down_seconds"] = round(now - child.down_since, 3)
                log.info("ready again" if child.starts > 1 else "ready", extra=extra)
                child.down_since = None
            elif now - child.started_at > child.ready_timeout:
                log.error("not ready in time; killing it to start it again",
                          extra={"child": child.name, "why": why})
                self._kill_group(child)

    def _busy(self) -> bool:
        """Whether a child needs looking at soon (starting, or waiting to start again)."""
        return any((child.process is None and child.restart_at is not None) or (child.alive and not child.ready)
                   for child in self.children)

    def watch(self) -> None:
        """Keep every child running until a stop is asked for."""
        while not self._stop_requested:
            now = time.monotonic()
            for child in self.children:
                self._tend(child, now)
            self._pause(0.05 if self._busy() else 1.0)

    def stop_all(self) -> None:
        # Reverse start order: the worker and the service go before the simulator and the store.
        for child in reversed(self.children):
            process = child.process
            if process is None:
                continue
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    log.warning("did not stop in time; killing", extra={"child": child.name})
                    self._kill_group(child)
                    process.wait()
            self._kill_group(child)
            child.process = None
            log.info("stopped", extra={"child": child.name, "exit_code": process.returncode})

    # --- start-up -------------------------------------------------------------------------------------------

    def preflight(self) -> list[str]:
        """What stands in the way of starting, each in a sentence; nothing is started here."""
        needs = [PortNeed("the web service", self.settings.http.host, self.settings.http.port, "http")]
        if not self.settings.ami.host:
            sim = self.settings.simulator
            needs.append(PortNeed("the PBX simulator's AMI", sim.host, sim.port, "simulator"))
        problems = [problem for need in needs if (problem := need.problem()) is not None]
        if not self.settings.redis.url:
            data_dir = self.settings.redis.data_dir
            other = _run_record(self.settings)
            users = [other["pid"]] if other and int(other["pid"]) != os.getpid() else store_servers(data_dir)
            if users:
                problems.append(f"the store's data directory {data_dir} is in use by "
                                f"{describe_process(int(users[0]))}; stop it, or set CALLCENTER_REDIS_DATA_DIR "
                                "to another directory")
        return problems

    def start_store(self) -> str:
        if self.settings.redis.url:
            return self.settings.redis.url
        port = free_port()
        command = server_command(self.settings.redis.data_dir, port)

        def answers(child: Child) -> str | None:
            return self._listening(child, "127.0.0.1", port) or probe("127.0.0.1", port, timeout=0.5)

        store = Child("valkey", command.argv, ready_check=answers, ready_timeout=STORE_READY_TIMEOUT,
                      cwd=command.cwd, log_path=command.log_path)
        self.children.append(store)
        self.store = store
        self._launch(store)
        self._await_ready(store)
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
        # Callers who press 2 (simulator.callback_share) ask this service for their callback, as the dialplan's
        # CURL does; the simulator sends no X-IVR-Token, so it is let in by its address.
        self.env["CALLCENTER_SIMULATOR_CALLBACK_URL"] = sim.callback_url or f"{self.local_url}/api/ivr/callback"
        self._warn_if_ivr_refused()

        def listens(child: Child) -> str | None:
            return self._listening(child, sim.host, sim.port)

        simulator = self._spawn("simulator", "simulate", ready_check=listens,
                                port=PortNeed("the PBX simulator's AMI", sim.host, sim.port, "simulator"))
        self._await_ready(simulator)
        return f"built-in PBX simulator on {sim.host}:{sim.port}"

    def _warn_if_ivr_refused(self) -> None:
        if self.settings.simulator.callback_share <= 0:
            return
        try:
            source = ipaddress.ip_address(local_address(self.settings.http.host))
        except ValueError:  # a host name: where the requests come from is not known here
            return
        allowed = [ipaddress.ip_network(entry, strict=False) for entry in self.settings.ivr.allowed_addresses]
        if not any(source in network for network in allowed):
            log.warning("the simulator's IVR callback requests will be refused: it sends no X-IVR-Token; add "
                        f"{source} to ivr.allowed_addresses", extra={"source": str(source)})

    def start_service(self) -> None:
        def answers(child: Child) -> str | None:
            why = self._listening(child, self.settings.http.host, self.settings.http.port)
            if why:
                return why
            try:
                with urllib.request.urlopen(f"{self.local_url}/readyz", timeout=1.0) as response:  # noqa: S310
                    return None if response.status == 200 else f"/readyz answered {response.status}"
            except urllib.error.HTTPError as exc:
                return exc.read().decode(errors="replace")[:300]
            except OSError as exc:
                return str(exc)

        http = self.settings.http
        server = self._spawn("server", "serve", ready_check=answers, needs_store=True,
                             port=PortNeed("the web service", http.host, http.port, "http"))
        self._spawn("worker", "worker", needs_store=True)
        self._await_ready(server)

    def run(self, banner_extra: Callable[[], list[str]] | None = None) -> int:
        self._install_signals()
        try:
            problems = self.preflight()
            if problems:
                print("callcenter run cannot start: " + "; ".join(problems), file=sys.stderr, flush=True)
                return 1
            try:
                logins, pbx = self._start()
            except StartupAborted:
                return 0
            except StartupError as exc:
                log.error("start-up failed: %s", exc)
                return 1
            except Exception as exc:  # whatever it was, the children must not outlive it
                log.exception("start-up failed: %s", exc)
                return 1
            self._print_banner(logins, pbx, banner_extra)
            self.watch()
            return 0
        finally:
            self.stop_all()
            if self._wrote_run_file:
                self.run_file.unlink(missing_ok=True)
            self._restore_signals()

    def _start(self) -> tuple[list[tuple[str, str, str]], str]:
        redis_url = self.start_store()
        self.env["REDIS_URL"] = redis_url
        self.env.pop("CALLCENTER_REDIS_URL", None)
        logins = asyncio.run(ensure_demo_users(redis_url))
        self.run_file.parent.mkdir(parents=True, exist_ok=True)
        self.run_file.write_text(json.dumps({"redis_url": redis_url, "pid": os.getpid()}), encoding="utf-8")
        self._wrote_run_file = True
        pbx = self.start_pbx()
        self.start_service()
        if self._stop_requested:
            raise StartupAborted
        return logins, pbx

    def _print_banner(self, logins: list[tuple[str, str, str]], pbx: str,
                      banner_extra: Callable[[], list[str]] | None) -> None:
        http = self.settings.http
        base_url = f"http://{url_host(http.host)}:{http.port}"
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

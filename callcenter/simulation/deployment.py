"""The deployment a day simulation runs: the embedded Redis-compatible server, the PBX simulator, the service
and a worker, each its own process with its own log, on one simulated clock; and the faults done to them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from callcenter.supervisor import free_port, wait_for_port

log = logging.getLogger(__name__)


@dataclass
class Process:
    name: str
    args: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0
    expected_exits: int = 0

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


@dataclass(frozen=True)
class Usage:
    """One process's CPU time and memory, as the kernel counts them."""

    cpu_seconds: float
    rss_mb: float
    peak_rss_mb: float


def _own_usage(pid: int) -> tuple[int, Usage] | None:
    """One process's parent and figures, from /proc; None where there is no /proc or the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces: count the fields after its closing parenthesis.
    fields = stat[stat.rindex(")") + 2:].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime and stime: fields 14, 15
    memory = {line.split(":")[0]: int(line.split()[1]) for line in status.splitlines()
              if line.startswith(("VmRSS:", "VmHWM:"))}
    return int(fields[1]), Usage(cpu, memory.get("VmRSS", 0) / 1024, memory.get("VmHWM", 0) / 1024)


def process_table() -> dict[int, tuple[int, Usage]]:
    """Every process's parent and figures now."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (found := _own_usage(int(entry.name))):
            table[int(entry.name)] = found
    return table


def read_usage(pid: int, table: dict[int, tuple[int, Usage]] | None = None) -> Usage | None:
    """A process with its descendants (the embedded store's valkey-server, the worker's RQ scheduler).

    A day's run wants each part's own figures, not the machine's (two cores shared by four processes and the
    driver). The peak is the sum of each process's own peak: an upper bound, the peaks need not coincide."""
    table = process_table() if table is None else table
    if pid not in table:
        return None
    tree, grew = {pid}, True
    while grew:
        grown = tree | {child for child, (parent, _) in table.items() if parent in tree}
        grew, tree = grown != tree, grown
    members = [table[p][1] for p in tree]
    return Usage(sum(u.cpu_seconds for u in members), sum(u.rss_mb for u in members),
                 sum(u.peak_rss_mb for u in members))


@dataclass
class Deployment:
    workdir: Path
    env: dict[str, str]
    processes: dict[str, Process] = field(default_factory=dict)

    def start(self, name: str, *args: str) -> Process:
        process = self.processes.get(name) or Process(name, list(args), self.workdir / f"{name}.log")
        self.processes[name] = process
        with process.log_path.open("ab") as output:
            process.popen = subprocess.Popen(  # noqa: S603 - our own command
                [sys.executable, "-m", "callcenter", *process.args], env=self.env, stdout=output,
                stderr=subprocess.STDOUT, start_new_session=True)
        process.starts += 1
        log.info("started", extra={"child": name, "pid": process.popen.pid})
        return process

    def stop(self, name: str, timeout: float = 20.0) -> None:
        process = self.processes[name]
        if not process.alive or process.popen is None:
            return
        process.expected_exits += 1
        process.popen.send_signal(signal.SIGTERM)
        try:
            process.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            process.popen.kill()
            process.popen.wait()

    def kill(self, name: str) -> None:
        """kill -9: no goodbye, nothing flushed."""
        process = self.processes[name]
        if process.popen is not None and process.alive:
            process.expected_exits += 1
            process.popen.kill()
            process.popen.wait()

    def restart(self, name: str) -> None:
        self.stop(name)
        self.start(name)

    def unexpected_exits(self) -> list[str]:
        return [name for name, process in self.processes.items()
                if process.popen is not None and process.popen.poll() is not None and process.popen.returncode
                not in (0, -signal.SIGTERM, -signal.SIGKILL)]

    def stop_all(self) -> None:
        for name in reversed(list(self.processes)):
            self.stop(name)

    def usage(self) -> dict[str, Usage]:
        """Each live process's figures now, with its children's (a restarted process counts from its restart)."""
        found, table = {}, process_table()
        for name, process in self.processes.items():
            if process.popen is not None and process.alive and (usage := read_usage(process.popen.pid, table)):
                found[name] = usage
        return found

    def logs(self) -> dict[str, str]:
        return {name: p.log_path.read_text(encoding="utf-8", errors="replace") for name, p in self.processes.items()
                if p.log_path.exists()}


def start_store(deployment: Deployment) -> str:
    port = free_port()
    store = deployment.start("valkey", "embedded-redis", "--port", str(port),
                             "--data-dir", str(deployment.workdir / "valkey"))
    wait_for_port("127.0.0.1", port, 20.0, lambda: store.alive)
    return f"redis://127.0.0.1:{port}/0"


class LinkCutter:
    """A TCP relay between the service and the PBX: cutting it drops the AMI link, as a network fault would."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.refusing = False
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}

    async def drop(self, seconds: float) -> None:
        self.refusing = True
        for writer in list(self._writers):
            writer.transport.abort()
        await asyncio.sleep(seconds)
        self.refusing = False

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()


def wait_ready(url: str, timeout: float, deployment: Deployment) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = deployment.unexpected_exits()
        if dead:
            raise RuntimeError(f"{', '.join(dead)} exited during start-up")
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:  # noqa: S310 - our own service
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"the service was not ready within {timeout:.0f} s")


def base_env(redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_") or k == "CALLCENTER_CONFIG"}
    env["REDIS_URL"] = redis_url
    return env

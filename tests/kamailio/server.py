"""Kamailio (Debian's package, with its WebSocket module) as the SIP registrar and proxy between browsers in the
softphone tests: started per test on a free loopback port, its passwords the ones the service derives."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from callcenter.softphone.identity import sip_password

HERE = Path(__file__).resolve().parent
KAMAILIO = shutil.which("kamailio") or "/usr/sbin/kamailio"
MODULES = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")


def missing() -> str:
    """Why these tests cannot run here ("" when they can)."""
    if not Path(KAMAILIO).exists():
        return "kamailio is not installed (apt-get install kamailio kamailio-websocket-modules)"
    if not (MODULES / "websocket.so").exists():
        return "Kamailio's WebSocket module is not installed (apt-get install kamailio-websocket-modules)"
    return ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Kamailio:
    root: Path
    secret: str
    extensions: list[str]
    domain: str = "hotline.test"
    port: int = field(default_factory=free_port)
    # Where browsers connect: a veth address when the operator's browser has a network of its own (tests/netns.py).
    host: str = "127.0.0.1"
    process: subprocess.Popen[bytes] | None = None

    @property
    def websocket_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    @property
    def log(self) -> Path:
        return self.root / "kamailio.log"

    def config(self) -> str:
        checks = "\n".join(f'    if ($au == "{ext}") {{ $var(pw) = "{sip_password(self.secret, ext)}"; }}'
                           for ext in self.extensions)
        text = (HERE / "kamailio.cfg").read_text(encoding="utf-8")
        return (text.replace("@HOST@", self.host).replace("@PORT@", str(self.port)).replace("@DOMAIN@", self.domain)
                .replace("@MODULES@", f"{MODULES}/").replace("@PASSWORDS@", checks))

    async def start(self, timeout: float = 10.0) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        cfg = self.root / "kamailio.cfg"
        cfg.write_text(self.config(), encoding="utf-8")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [KAMAILIO, "-DD", "-E", "-f", str(cfg), "-Y", str(self.root), "-w", str(self.root), "-m", "64",
                 "-M", "8"], stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"kamailio exited with {self.process.returncode}: {self.tail()}")
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection(self.host, self.port)
                writer.close()
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"kamailio did not listen in {timeout} s: {self.tail()}")
            await asyncio.sleep(0.05)  # polling a port that has no event to await

    async def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.to_thread(self.process.wait), 5)
        except TimeoutError:
            os.killpg(self.process.pid, signal.SIGKILL)
            await asyncio.to_thread(self.process.wait)
        self.process = None

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""

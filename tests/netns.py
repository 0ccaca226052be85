"""A browser on its own network: a Linux network namespace joined to this host by a veth pair, for tests that
change the browser's network under a live call (ICE restart).

The host side of the pair has HOST_SUFFIX (.1) of a free 10.200.N.0/24; the namespace side starts at .2 with a
default route through the host, so everything the host listens on is one hop away. `renumber()` is the network
change: the link goes down, the old address goes, and after the outage the link comes up with a new address.
Needs root and iproute2's `ip netns`; `missing()` says why not, for a skip.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

IP = shutil.which("ip") or "/usr/sbin/ip"


def missing() -> str:
    """Why no namespace can be made here ("" when it can)."""
    if not Path(IP).exists():
        return "iproute2's `ip` is not installed"
    if os.geteuid() != 0:
        return "network namespaces need root (the test moves the browser onto its own veth link)"
    probe = subprocess.run([IP, "netns", "list"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"`ip netns` is unavailable: {probe.stderr.strip()}"
    return ""


def _ip(*args: str) -> None:
    done = subprocess.run([IP, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def _free_subnet() -> str:
    """A 10.200.N prefix no interface of this host uses (two test runs side by side pick different ones)."""
    used = subprocess.run([IP, "-o", "-4", "addr", "show"], capture_output=True, text=True).stdout
    for _ in range(200):
        prefix = f"10.200.{secrets.randbelow(250) + 1}"
        if f" {prefix}." not in used:
            return prefix
    raise RuntimeError("no free 10.200.N.0/24 on this host")


@dataclass
class BrowserNetwork:
    """One namespace and its veth pair, named uniquely for this run; `close()` removes both."""

    name: str
    host_if: str
    inner_if: str
    prefix: str
    inner_suffix: int = 2

    @classmethod
    def create(cls) -> BrowserNetwork:
        tag = f"{os.getpid() % 100000}{secrets.token_hex(2)}"
        net = cls(f"hotline-ice-{tag}", f"hlh{tag}", f"hln{tag}", _free_subnet())
        try:
            _ip("netns", "add", net.name)
            _ip("link", "add", net.host_if, "type", "veth", "peer", "name", net.inner_if)
            _ip("link", "set", net.inner_if, "netns", net.name)
            _ip("addr", "add", f"{net.host_address}/24", "dev", net.host_if)
            _ip("link", "set", net.host_if, "up")
            _ip("-n", net.name, "link", "set", "lo", "up")
            net._bring_up()
        except Exception:
            net.close()
            raise
        return net

    @property
    def host_address(self) -> str:
        """Where the host (the service, Asterisk, Kamailio) is reachable from inside the namespace."""
        return f"{self.prefix}.1"

    @property
    def inner_address(self) -> str:
        """The browser's address now."""
        return f"{self.prefix}.{self.inner_suffix}"

    def _bring_up(self) -> None:
        _ip("-n", self.name, "addr", "add", f"{self.inner_address}/24", "dev", self.inner_if)
        _ip("-n", self.name, "link", "set", self.inner_if, "up")
        _ip("-n", self.name, "route", "replace", "default", "via", self.host_address)

    def go_down(self) -> None:
        """The link goes down and the browser's address goes with it (the Wi-Fi is gone)."""
        _ip("-n", self.name, "link", "set", self.inner_if, "down")
        _ip("-n", self.name, "addr", "flush", "dev", self.inner_if)

    def come_up(self) -> None:
        """The link is back, with the next address (a new network hands out a new lease)."""
        self.inner_suffix += 1
        self._bring_up()

    async def renumber(self, outage: float) -> None:
        self.go_down()
        await asyncio.sleep(outage)  # the outage itself is the stimulus: a fixed length is the point
        self.come_up()

    def wrapper(self, folder: Path, executable: str) -> Path:
        """An executable that starts `executable` inside the namespace, for Playwright's executable_path."""
        script = folder / f"{self.name}-browser"
        script.write_text(f'#!/bin/sh\nexec {IP} netns exec {self.name} {executable} "$@"\n', encoding="utf-8")
        script.chmod(0o755)
        return script

    def close(self) -> None:
        # Deleting the host's end deletes the pair; deleting the namespace deletes whatever is left in it.
        subprocess.run([IP, "link", "del", self.host_if], capture_output=True)
        subprocess.run([IP, "netns", "del", self.name], capture_output=True)


def browser_args(host: str, secure_origins: str) -> list[str]:
    """The softphone tests' Chromium flags (tests/test_softphone_browser.py's ARGS) for pages served from the veth's
    host address: its resolver lets that address through (nothing but 127.0.0.1 resolves there, not even a bare
    address), and the microphone is allowed on these plain-HTTP origins (comma-separated), as a certificate
    would allow it in production."""
    from tests.test_softphone_browser import ARGS

    return [*(f"{arg} , EXCLUDE {host}" if arg.startswith("--host-resolver-rules=") else arg for arg in ARGS),
            f"--unsafely-treat-insecure-origin-as-secure={secure_origins}"]

"""100 dashboards on one server while the simulator runs a busy hour: the server's CPU and memory and the push
delay (from the PBX event's own time to the dashboard receiving the change).

Every part a real process: Valkey, the simulator (real time, calls at several times the hotline's peak rate),
`callcenter serve`; the dashboards are WebSocket clients logged in as a supervisor, in this process.

    python benchmarks/dashboard_fanout.py [--dashboards 100] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp

from callcenter.storage import EmbeddedValkey
from callcenter.supervisor import free_port

PASSWORD = "fan-out benchmark password"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start(env: dict[str, str], command: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("w") as output:
        return subprocess.Popen([sys.executable, "-m", "callcenter", command], env=env,
                                stdout=subprocess.DEVNULL, stderr=output)


async def dashboard(base: str, seconds: float, delays: list[float], counts: list[int]) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.post(f"{base}/api/login", json={"username": "bench", "password": PASSWORD}) as response:
            response.raise_for_status()
        async with session.ws_connect(f"{base.replace('http', 'ws', 1)}/api/queue/stream") as ws:
            received = 0
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                try:
                    message = await ws.receive_json(timeout=max(0.1, deadline - time.monotonic()))
                except (TimeoutError, TypeError):
                    break
                received += 1
                if message.get("type") == "caller_joined":
                    delays.append(time.time() - message["caller"]["joined_at"])
            counts.append(received)


async def measure(base: str, server: int, dashboards: int, seconds: float) -> None:
    cpu_before, wall_before = cpu_seconds(server), time.monotonic()
    delays: list[float] = []
    counts: list[int] = []
    await asyncio.gather(*(dashboard(base, seconds, delays, counts) for _ in range(dashboards)))
    cpu = (cpu_seconds(server) - cpu_before) / (time.monotonic() - wall_before)
    delays.sort()
    print(f"{dashboards} dashboards for {seconds:.0f} s: {sum(counts):,} messages pushed "
          f"({statistics.mean(counts):.0f} each, {sum(counts) / seconds:,.0f}/s in all)")
    print(f"server: {100 * cpu:.0f} % of one core, RSS {rss_mib(server):.0f} MiB")
    if delays:
        print(f"push delay, PBX event to dashboard (caller_joined, {len(delays):,} samples): "
              f"p50 {1000 * delays[len(delays) // 2]:.0f} ms, p99 {1000 * delays[int(0.99 * len(delays))]:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dashboards", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fanout-"))
    valkey = EmbeddedValkey(tmp / "valkey")
    url = valkey.start()
    http_port, sim_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")} | {
        "REDIS_URL": url, "CALLCENTER_HTTP_PORT": str(http_port), "CALLCENTER_AMI_HOST": "127.0.0.1",
        "CALLCENTER_AMI_PORT": str(sim_port), "CALLCENTER_AMI_SECRET": "bench",
        "CALLCENTER_SIMULATOR_PORT": str(sim_port), "CALLCENTER_SIMULATOR_AGENTS": "40",
        # About five times the hotline's peak hour, in real time, so that waits and pushes are real seconds.
        "CALLCENTER_SIMULATOR_CALLS_PER_DAY": "60000", "CALLCENTER_SIMULATOR_ANY_HOUR": "true",
        "CALLCENTER_LOGGING_LEVEL": "WARNING",
    }
    subprocess.run([sys.executable, "-m", "callcenter", "user", "add", "bench", "--role", "supervisor",
                    "--password-stdin"], input=PASSWORD + "\n", text=True, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    processes = {"simulator": start(env, "simulate", tmp / "sim.log"), "server": start(env, "serve", tmp / "serve.log")}
    base = f"http://127.0.0.1:{http_port}"
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"{base}/readyz", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        asyncio.run(measure(base, processes["server"].pid, args.dashboards, args.seconds))
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
            process.wait(10)
        valkey.stop()


if __name__ == "__main__":
    main()

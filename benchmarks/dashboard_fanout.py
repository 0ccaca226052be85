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
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from harness import cpu_seconds, percentile, rss_mib, start, stop, wait_ready

from callcenter.storage import EmbeddedValkey
from callcenter.supervisor import free_port

PASSWORD = "fan-out benchmark password"


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
    print(f"{dashboards} dashboards for {seconds:.0f} s: {sum(counts):,} messages pushed "
          f"({statistics.mean(counts):.0f} each, {sum(counts) / seconds:,.0f}/s in all)")
    print(f"server: {100 * cpu:.0f} % of one core, RSS {rss_mib(server):.0f} MiB")
    if delays:
        print(f"push delay, PBX event to dashboard (caller_joined, {len(delays):,} samples): "
              f"p50 {1000 * percentile(delays, 0.5):.0f} ms, p99 {1000 * percentile(delays, 0.99):.0f} ms")


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
    processes = {"simulator": start(env, "simulate", tmp), "server": start(env, "serve", tmp)}
    base = f"http://127.0.0.1:{http_port}"
    try:
        wait_ready(base)
        asyncio.run(measure(base, processes["server"].pid, args.dashboards, args.seconds))
    finally:
        stop(processes.values())
        valkey.stop()


if __name__ == "__main__":
    main()

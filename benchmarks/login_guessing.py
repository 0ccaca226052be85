"""/healthz latency while clients guess passwords (issue 16, point 1): the event loop must not wait for Argon2.

Before the fix, six guessing clients pushed /healthz from 4 ms to 443 ms median, delaying AMI events and IVR
answers as well. Prints the idle and the loaded latency measured in the same run, and what the guessers got
(401 while their tries are free, 429 once the lockout holds them).

    python benchmarks/login_guessing.py [--guessers 6] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp
from harness import percentile, start, stop, wait_ready

from callcenter.storage import EmbeddedValkey
from callcenter.supervisor import free_port

REPO = Path(__file__).resolve().parents[1]


async def health_latencies(base: str, seconds: float) -> list[float]:
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            async with session.get(f"{base}/healthz") as response:
                await response.read()
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.02)
    return latencies


async def guess(base: str, seconds: float, number: int, answers: Counter[int]) -> None:
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:
        tries = 0
        while time.monotonic() < deadline:
            tries += 1
            # A new address and name for every try (the service trusts the benchmark as its proxy): no lockout
            # applies, so every try costs a full Argon2 check, the worst case for the event loop.
            async with session.post(f"{base}/api/login", json={"username": f"guess{number}x{tries}",
                                                               "password": f"p{tries}"},
                                    headers={"X-Forwarded-For": f"10.{number}.{tries // 250}.{tries % 250}"}) \
                    as response:
                answers[response.status] += 1
                await response.read()


async def measure(base: str, guessers: int, seconds: float) -> tuple[list[float], list[float], Counter[int]]:
    idle = await health_latencies(base, seconds / 2)
    answers: Counter[int] = Counter()
    loaded, *_ = await asyncio.gather(health_latencies(base, seconds),
                                      *(guess(base, seconds, n, answers) for n in range(guessers)))
    return idle, loaded, answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--guessers", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="login-bench-"))
    valkey = EmbeddedValkey(tmp / "valkey")
    url = valkey.start()
    sim_port, http_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")} | {
        "REDIS_URL": url, "CALLCENTER_LOGGING_LEVEL": "WARNING", "CALLCENTER_HTTP_PORT": str(http_port),
        "CALLCENTER_HTTP_TRUSTED_PROXIES": "127.0.0.1", "CALLCENTER_AMI_HOST": "127.0.0.1",
        "CALLCENTER_AMI_PORT": str(sim_port), "CALLCENTER_AMI_SECRET": "bench",
        "CALLCENTER_SIMULATOR_PORT": str(sim_port), "CALLCENTER_SIMULATOR_CALLS_PER_DAY": "0"}
    for number in range(args.guessers):
        subprocess.run([sys.executable, "-m", "callcenter", "user", "add", f"guess{number}", "--password-stdin"],
                       input=b"a long enough password\n", env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    processes = [start(env, "simulate", tmp), start(env, "serve", tmp)]
    base = f"http://127.0.0.1:{http_port}"
    try:
        wait_ready(base)
        idle, loaded, answers = asyncio.run(measure(base, args.guessers, args.seconds))
    finally:
        stop(processes)
        valkey.stop()
    print(f"/healthz idle:   p50 {1000 * percentile(idle, 0.5):6.1f} ms  max {1000 * max(idle):6.1f} ms "
          f"({len(idle)} requests)")
    print(f"/healthz loaded: p50 {1000 * percentile(loaded, 0.5):6.1f} ms  max {1000 * max(loaded):6.1f} ms "
          f"({len(loaded)} requests, {args.guessers} guessers) = "
          f"{percentile(loaded, 0.5) / percentile(idle, 0.5):.1f}x "
          "idle (limit: p50 under 50 ms; before the fix, Argon2 on the loop: 443 ms)")
    print("guessers' answers: " + ", ".join(f"{status}: {count}" for status, count in sorted(answers.items())))


if __name__ == "__main__":
    main()

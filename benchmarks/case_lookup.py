"""Case look-ups with 100,000 cases loaded: the import rate (rows/s, through `callcenter import-cases`), then
look-ups per second and their latency through the HTTP API (the residents' endpoint: verification, lockout
bookkeeping and the audit record included), 50 concurrent clients, a share of them with a wrong factor.

    python benchmarks/case_lookup.py [--cases 100000] [--lookups 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from harness import percentile, start, stop, wait_ready

from callcenter.storage import EmbeddedValkey
from callcenter.supervisor import free_port

REPO = Path(__file__).resolve().parents[1]
STATUSES = ["received", "in_review", "documents_missing", "decision_due", "approved", "package_complete"]


def write_cases(path: Path, count: int) -> list[tuple[str, str]]:
    rng = random.Random(1)
    known = []
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["number", "kind", "applicant_name", "birth_date", "phones", "pin", "status", "status_date"])
        for index in range(count):
            number = f"{100_000_000 + index}"
            born = f"{rng.randint(1930, 2005)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            writer.writerow([number, "Ежемесячное пособие", "Заявитель Тестовый", born, f"+7495{index:07d}",
                             f"{rng.randint(1000, 9999)}", rng.choice(STATUSES), "2026-11-01"])
            known.append((number, born))
    return known


async def run_lookups(base: str, known: list[tuple[str, str]], total: int, clients: int) -> tuple[float, list[float]]:
    rng = random.Random(2)
    latencies: list[float] = []
    remaining = [total]

    async def client(session: aiohttp.ClientSession) -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            number, born = rng.choice(known)
            wrong = rng.random() < 0.05
            started = time.perf_counter()
            async with session.post(f"{base}/api/cases/lookup", json={"case": number,
                                    "birth_date": "1900-01-01" if wrong else born}) as response:
                body = await response.json()
            latencies.append(time.perf_counter() - started)
            if response.status != 200 or body["result"] != ("not_verified" if wrong else "ok"):
                raise RuntimeError(f"unexpected answer {response.status} {body}")

    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as session:
        await asyncio.gather(*(client(session) for _ in range(clients)))
    return time.perf_counter() - started, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=50)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="case-bench-"))
    valkey = EmbeddedValkey(tmp / "valkey")
    url = valkey.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")} | {
        "REDIS_URL": url, "CALLCENTER_LOGGING_LEVEL": "WARNING"}
    known = write_cases(tmp / "cases.csv", args.cases)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "callcenter", "import-cases", str(tmp / "cases.csv")], env=env, cwd=REPO,
                   check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    print(f"import: {args.cases:,} rows in {elapsed:.1f} s = {args.cases / elapsed:,.0f} rows/s "
          "(whole command: start, check every row, one transaction, fsync)")
    sim_port, http_port = free_port(), free_port()
    env |= {"CALLCENTER_HTTP_PORT": str(http_port), "CALLCENTER_AMI_HOST": "127.0.0.1",
            "CALLCENTER_AMI_PORT": str(sim_port), "CALLCENTER_AMI_SECRET": "bench",
            "CALLCENTER_SIMULATOR_PORT": str(sim_port), "CALLCENTER_SIMULATOR_CALLS_PER_DAY": "0",
            # All the benchmark's clients share one address: a limit the 5 % wrong answers never reach.
            "CALLCENTER_CASES_MAX_FAILURES": "1000000"}
    processes = [start(env, "simulate", tmp), start(env, "serve", tmp)]
    base = f"http://127.0.0.1:{http_port}"
    try:
        wait_ready(base)
        elapsed, latencies = asyncio.run(run_lookups(base, known, args.lookups, args.clients))
        print(f"look-ups: {args.lookups:,} in {elapsed:.1f} s = {args.lookups / elapsed:,.0f}/s with {args.clients} "
              f"clients; p50 {1000 * percentile(latencies, 0.5):.1f} ms, "
              f"p99 {1000 * percentile(latencies, 0.99):.1f} ms (5 % with a wrong date of birth; each one audited)")
    finally:
        stop(processes)
        valkey.stop()


if __name__ == "__main__":
    main()

"""Callbacks under load, every part a real process: the embedded Valkey server (AOF, fsync on every write),
the PBX simulator, `callcenter serve` and `callcenter worker`.

Prints: requests accepted per second through the HTTP API (50 concurrent clients, durable writes); then, with
10,000 callbacks pending, the delay from a callback falling due to its Originate reaching the PBX (p50/p99,
target p99 under 1 s); and the memory of the server and the store.

    python benchmarks/callbacks.py [--pending 10000] [--probes 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
import redis
from harness import percentile, rss_mib, start, stop, wait_ready

from callcenter.storage import EmbeddedValkey
from callcenter.supervisor import free_port


async def post_many(base: str, bodies: list[dict[str, object]], concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def client(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            started = time.perf_counter()
            async with session.post(f"{base}/api/callbacks", json=body) as response:
                if response.status != 201:
                    raise RuntimeError(f"{response.status}: {await response.text()}")
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pending", type=int, default=10_000)
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--spacing", type=float, default=0.25,
                        help="seconds between probes falling due (the hotline's peak is under one a second)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cb-bench-"))
    valkey = EmbeddedValkey(tmp / "valkey")
    url = valkey.start()
    http_port, sim_port = free_port(), free_port()
    log_path = tmp / "originates.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")} | {
        "REDIS_URL": url, "CALLCENTER_HTTP_PORT": str(http_port), "CALLCENTER_AMI_HOST": "127.0.0.1",
        "CALLCENTER_AMI_PORT": str(sim_port), "CALLCENTER_AMI_SECRET": "bench",
        "CALLCENTER_SIMULATOR_PORT": str(sim_port),
        "CALLCENTER_SIMULATOR_AGENTS": "0", "CALLCENTER_SIMULATOR_CALLS_PER_DAY": "0",
        "CALLCENTER_SIMULATOR_ORIGINATE_LOG": str(log_path), "CALLCENTER_HOURS_OPEN": "00:00",
        "CALLCENTER_HOURS_CLOSE": "24:00", "CALLCENTER_HOURS_CLOSED_DATES": "", "CALLCENTER_HOURS_CHANGED": "",
        "CALLCENTER_CALLBACKS_PER_ADDRESS_DAILY_LIMIT": "1000000", "CALLCENTER_LOGGING_LEVEL": "WARNING",
    }
    procs = {name: start(env, command, tmp) for name, command in
             (("simulator", "simulate"), ("server", "serve"), ("worker", "worker"))}
    base = f"http://127.0.0.1:{http_port}"
    try:
        await asyncio.to_thread(wait_ready, base)
        later = time.time() + 6 * 3600  # pending: due in six hours
        bodies: list[dict[str, object]] = [{"phone": f"+7495{i:07d}", "not_before": later}
                                           for i in range(args.pending)]
        elapsed, latencies = await post_many(base, bodies, args.concurrency)
        print(f"accepted {args.pending:,} callbacks over HTTP in {elapsed:.1f} s: {args.pending / elapsed:,.0f}/s "
              f"({args.concurrency} clients; p50 {1000 * percentile(latencies, 0.5):.1f} ms, "
              f"p99 {1000 * percentile(latencies, 0.99):.1f} ms; each one fsync'ed before its 201)")
        # Probes fall due a few seconds from now, `spacing` apart, while the others stay pending.
        first_due = time.time() + 5
        probes = [{"phone": f"+7496{i:07d}", "not_before": first_due + i * args.spacing} for i in range(args.probes)]
        await post_many(base, probes, 10)
        due = {str(p["phone"]): float(p["not_before"]) for p in probes}  # type: ignore[arg-type]
        deadline = time.time() + 60 + args.probes * args.spacing
        delays: dict[str, float] = {}
        while len(delays) < len(due) and time.time() < deadline:
            await asyncio.sleep(0.5)
            if log_path.exists():
                for line in log_path.read_text().splitlines():
                    record = json.loads(line)
                    if record.get("Exten") in due:
                        delays[record["Exten"]] = record["at"] - due[record["Exten"]]
        values = list(delays.values())
        print(f"due -> Originate with {args.pending:,} pending, one falling due every {args.spacing:g} s: "
              f"{len(values)}/{len(due)} dialled; "
              f"p50 {1000 * statistics.median(values):.0f} ms, p99 {1000 * percentile(values, 0.99):.0f} ms, "
              f"max {1000 * max(values):.0f} ms (target p99 < 1000 ms)")
        info = redis.Redis.from_url(url).info("memory")
        print(f"memory: server RSS {rss_mib(procs['server'].pid):.0f} MiB, worker RSS "
              f"{rss_mib(procs['worker'].pid):.0f} MiB, store used {info['used_memory'] / 2**20:.0f} MiB "
              f"for {args.pending + args.probes:,} callbacks")
    finally:
        stop(procs.values())
        valkey.stop()

if __name__ == "__main__":
    asyncio.run(main())

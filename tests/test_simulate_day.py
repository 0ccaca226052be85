"""A short simulated day, end to end with real processes: the invariants hold with and without faults.

The full-size days (3,000 and 300,000 requests) are in benchmarks/simulate_day.py, not here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from callcenter.simulation.deployment import process_table, read_usage
from tests.conftest import REPO


def test_a_process_usage_counts_its_children() -> None:
    burn = sum(i * i for i in range(300_000))  # some CPU time of our own to see
    assert burn > 0
    own = read_usage(os.getpid(), {pid: entry for pid, entry in process_table().items() if pid == os.getpid()})
    assert own is not None
    assert own.cpu_seconds > 0 and 10 < own.rss_mb <= own.peak_rss_mb
    # A child holding 64 MB (as the embedded store's server is the wrapper's child) counts with its parent.
    child = subprocess.Popen([sys.executable, "-c", "import sys, time; held = bytearray(64 << 20); "
                              "print('ready', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        with_child = read_usage(os.getpid())
        assert with_child is not None and with_child.rss_mb >= own.rss_mb + 60
    finally:
        child.kill()
        child.wait()
    assert read_usage(2**22 + 1) is None  # above Linux's largest pid: no such process


def simulate(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callcenter", "simulate-day", "--requests", "240", "--acceleration", "1440",
         "--video-sessions", "1", "--seed", "7", "--workdir", str(tmp_path / "day"), *extra],
        cwd=REPO, capture_output=True, text=True, timeout=240, check=False)


@pytest.mark.timeout(300)
def test_a_short_day_keeps_every_invariant(tmp_path: Path) -> None:
    result = simulate(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "INVARIANTS HOLD" in result.stdout
    day = json.loads((tmp_path / "day" / "simulator.json").read_text())["daily"]["2026-11-24"]
    # Without faults the service saw every call of the day, and the day really happened.
    assert day["observed_offered"] == day["offered"] > 100 and day["observed_answered"] == day["answered"]
    assert "served with operator" in result.stdout
    originates = (tmp_path / "day" / "originates.jsonl").read_text().splitlines()
    assert originates, "callbacks were dialled"
    # Each process's CPU and memory were followed through the day, and the summary gives the service's.
    samples = [json.loads(line) for line in (tmp_path / "day" / "usage.jsonl").read_text().splitlines()]
    assert samples and all(sample["server"]["rss_mb"] > 10 for sample in samples if "server" in sample)
    assert "processes: " in result.stdout and "server CPU " in result.stdout


@pytest.mark.timeout(300)
def test_a_short_day_with_faults_keeps_every_invariant(tmp_path: Path) -> None:
    result = simulate(tmp_path, "--faults", "--link-drop-seconds", "0.5")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "INVARIANTS HOLD" in result.stdout
    for fault in ("worker killed (-9) and restarted", "store restarted", "AMI link dropped", "service restarted"):
        assert fault in result.stdout
    # The link was down for some calls (or their ends): the report still equals the PBX's count, from the
    # queue_log. Without the queue_log read this run fails the totals invariant.
    day = json.loads((tmp_path / "day" / "simulator.json").read_text())["daily"]["2026-11-24"]
    missed = sum(day.get(name, 0) - day.get(f"observed_{name}", 0) for name in ("offered", "answered", "abandoned"))
    assert missed > 0, day
    logs = {p.name for p in (tmp_path / "day").glob("*.log")}
    assert {"server.log", "worker.log", "simulator.log", "valkey.log"} <= logs

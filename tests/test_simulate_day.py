"""A short simulated day, end to end with real processes: the invariants hold with and without faults.

The full-size days (3,000 and 300,000 requests) are in benchmarks/simulate_day.py, not here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


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

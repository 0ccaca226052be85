"""How fast a simulated day can run while its invariants hold, at scale 1 and 100, and where the time goes.

    python benchmarks/simulate_day.py --scale 1 --accelerations 120,480,1440
    python benchmarks/simulate_day.py --scale 100 --until 09:00 --accelerations 2,4,8 [--faults]

Each run is `callcenter simulate-day` (separate processes: store, PBX simulator, service, worker); this script
records its wall time, whether the invariants held, the service's CPU use, and the top of the service's
and the PBX simulator's profiles (cProfile, by cumulative and own time) for the fastest run that held.
"""

from __future__ import annotations

import argparse
import pstats
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(scale: float, acceleration: float, until: str, faults: bool, workdir: Path,
        drain_minutes: float) -> tuple[bool, float, str]:
    command = [sys.executable, "-m", "callcenter", "simulate-day", "--scale", str(scale), "--acceleration",
               str(acceleration), "--until", until, "--workdir", str(workdir), "--profile",
               "--drain-minutes", str(drain_minutes)]
    if faults:
        command += ["--faults", "--link-drop-seconds", "10"]
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    report = result.stdout[result.stdout.find("Simulated day"):]
    return result.returncode == 0, elapsed, report


def top(profile: Path, count: int = 12) -> str:
    if not profile.exists():
        return "(no profile)"
    out = Path(tempfile.mktemp())
    with out.open("w") as stream:
        stats = pstats.Stats(str(profile), stream=stream)
        stats.sort_stats("tottime").print_stats(count)
    text = out.read_text()
    out.unlink()
    return "\n".join(line for line in text.splitlines() if re.match(r"\s+\d", line) or "ncalls" in line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--accelerations", default="120,480,1440")
    parser.add_argument("--until", default="20:00")
    parser.add_argument("--faults", action="store_true")
    parser.add_argument("--drain-minutes", type=float, default=45.0)
    args = parser.parse_args()
    fastest: Path | None = None
    for acceleration in (float(a) for a in args.accelerations.split(",")):
        workdir = Path(tempfile.mkdtemp(prefix=f"day-x{acceleration:g}-"))
        held, elapsed, report = run(args.scale, acceleration, args.until, args.faults, workdir, args.drain_minutes)
        print(f"scale {args.scale:g}, acceleration {acceleration:g}: {'HELD' if held else 'FAILED'} "
              f"in {elapsed:.0f} s real")
        print("  " + report.replace("\n", "\n  "))
        if held:
            fastest = workdir
    if fastest is not None:
        for process in ("server", "simulator"):
            print(f"Where the {process}'s time went in the fastest run that held ({fastest}), by own time:")
            print(top(fastest / f"{process}.prof"))


if __name__ == "__main__":
    main()

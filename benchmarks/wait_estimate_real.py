"""The wait told to each caller on joining, scored on a real call centre's days (benchmarks/data, the
Technion "Anonymous Bank" log of February 1999) replayed through the PBX simulator and the service's tracker.

Each day is played on a virtual clock (callcenter/simulation/trace_replay.py): the log's arrivals, service
times, patience, agents' shifts and after-call pauses; the tracker sees every event in the AMI wire format, one
tracker through the days as in a service that keeps running (--cold: a new one each day). Scored: the callers
served in the replay, against the wait they had there (the estimate sees that queue); the error against the
wait the log recorded is shown beside it. Priority customers jump ahead (app_queue's QUEUE_PRIO) and are
scored with everyone.

    python benchmarks/wait_estimate_real.py              # days 1-14, for development
    python benchmarks/wait_estimate_real.py --holdout    # days 15-28, reported once, never tuned on
"""

from __future__ import annotations

import argparse
import statistics
from datetime import date
from pathlib import Path

from callcenter.pbx.tracker import QueueTracker
from callcenter.simulation.trace import day_calls, read_trace
from callcenter.simulation.trace_replay import PRIORITY, Told, play_day

TRACE = Path(__file__).resolve().parent / "data" / "anonymous-bank-1999-02.tsv.gz"


def errors(rows: list[Told], pick: str) -> list[float]:
    return [abs((getattr(r, pick) or 0.0) - (r.replay_wait or 0.0)) for r in rows]


def line(label: str, rows: list[Told], offered: int, abandoned: int, real_abandoned: int) -> str:
    ours, formula, app = errors(rows, "ours"), errors(rows, "formula"), errors(rows, "app_queue")
    real = [abs((r.ours or 0.0) - r.call.wait) for r in rows if r.call.outcome == "served"]
    real_app = [abs(r.app_queue - r.call.wait) for r in rows if r.call.outcome == "served"]
    mean_app = statistics.fmean(app) if app else 0.0
    waited = statistics.fmean(r.replay_wait or 0.0 for r in rows)
    logged = statistics.fmean(r.call.wait for r in rows)
    return (f"{label:>8} {offered:>6} {len(rows):>6} {abandoned / max(offered, 1):>6.1%}"
            f" {real_abandoned / max(offered, 1):>6.1%} {waited:>6.1f} {logged:>6.1f}"
            f" | {statistics.fmean(ours):>6.1f} {sum(e <= 60 for e in ours) / len(ours):>6.1%}"
            f" | {statistics.fmean(formula):>7.1f} | {mean_app:>6.1f} {sum(e <= 60 for e in app) / len(app):>6.1%}"
            f" | {statistics.fmean(ours) / mean_app if mean_app else float('nan'):>5.2f}"
            f" | {statistics.fmean(real) if real else 0:>6.1f} {statistics.fmean(real_app) if real_app else 0:>6.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--holdout", action="store_true", help="days 15-28 instead of 1-14")
    parser.add_argument("--days", type=int, nargs="+", help="days of February 1999 (default 1-14, or 15-28)")
    parser.add_argument("--cold", action="store_true",
                        help="a new tracker each day (default: one for the run, as the service keeps running, "
                             "so what it learnt yesterday is its prior this morning)")
    args = parser.parse_args()
    days = args.days or (list(range(15, 29)) if args.holdout else list(range(1, 15)))
    calls = read_trace(TRACE)
    tracker = QueueTracker()
    if not args.cold and days[0] > 1:
        # The service was running the day before too: it starts the first day with what that day taught it
        # (day 14 for the held-out days: the past, not tuned on them).
        before = date(1999, 2, days[0] - 1)
        play_day(day_calls(calls, before), before, tracker=tracker)
    print("Estimate told on joining vs the wait had in the replay (callers served there); MAE in seconds.")
    print(f"{'day':>8} {'queued':>6} {'scored':>6} {'aband':>6} {'real':>6} {'wait':>6} {'real':>6}"
          f" | {'ours':>6} {'<=60s':>6} | {'formula':>7} | {'app_q':>6} {'<=60s':>6} | {'ratio':>5}"
          f" | {'vs log: ours':>6} {'app_q':>6}")
    everyone: list[Told] = []
    offered = abandoned = real_abandoned = 0
    for number in days:
        day = date(1999, 2, number)
        today = day_calls(calls, day)
        played = play_day(today, day, tracker=QueueTracker() if args.cold else tracker)
        rows = [r for r in played.told if r.replay_outcome == "served"]
        lost = sum(c.outcome != "served" for c in today)
        print(line(day.strftime("%y%m%d"), rows, played.offered, played.abandoned, lost))
        everyone += played.told
        offered += played.offered
        abandoned += played.abandoned
        real_abandoned += lost
    served = [r for r in everyone if r.replay_outcome == "served"]
    print(line("all", served, offered, abandoned, real_abandoned))
    for label, part in (("prio 2", [r for r in served if r.call.priority == PRIORITY]),
                        ("others", [r for r in served if r.call.priority != PRIORITY])):
        print(line(label, part, len(part), 0, 0))
    costs = sorted(r.cost for r in everyone)
    per_caller = sorted(r.cost / r.waiting for r in everyone)
    p99 = int(0.99 * (len(costs) - 1))
    print(f"estimate cost per snapshot (CPU, every waiting caller's estimate): mean "
          f"{statistics.fmean(costs) * 1000:.3f} ms, p99 {costs[p99] * 1000:.3f} ms, max {costs[-1] * 1000:.3f} ms; "
          f"per waiting caller: mean {statistics.fmean(per_caller) * 1000:.3f} ms, p99 {per_caller[p99] * 1000:.3f}"
          f" ms; {statistics.fmean(r.waiting for r in everyone):.1f} waiting on average")
    print("target: ours at most half of app_queue's MAE (ratio <= 0.50)")


if __name__ == "__main__":
    main()

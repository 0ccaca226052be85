"""How good is the wait told to each caller? Scores the service's position-aware estimate against the wait
each answered caller really had, over simulated working days, next to Asterisk app_queue's own estimate.

A whole day runs on a virtual clock through the same simulator and tracker the service uses (no sockets, no
sleeping). The estimate scored is the one a caller hears when joining the queue.

    python benchmarks/wait_estimate.py [--days 3] [--agents 16 18 20] [--calls 3000]
"""

from __future__ import annotations

import argparse
import statistics
from datetime import datetime
from zoneinfo import ZoneInfo

from callcenter.hotline.view import caller_estimate, position_estimates, serving_and_free
from callcenter.pbx.clock import VirtualClock
from callcenter.pbx.protocol import Message
from callcenter.pbx.simulator import PbxSimulator, SimConfig
from callcenter.pbx.tracker import QueueTracker
from callcenter.pbx.traffic import TrafficModel

MSK = ZoneInfo("Europe/Moscow")


Row = tuple[float, float, float, float]


def one_day(seed: int, agents: int, calls: int) -> tuple[list[Row], int, int]:
    """(this service's estimate, the closed-form queue-length estimate, app_queue's, the real wait) for every
    answered caller; calls offered; calls abandoned."""
    start = datetime(2026, 11, 23, 8, 0, tzinfo=MSK).timestamp()
    clock = VirtualClock(start)
    sim = PbxSimulator(SimConfig(agents=agents, secret="x", seed=seed, timestamps=True,
                                 traffic=TrafficModel(calls_per_day=calls)), start_time=start, clock=clock)
    tracker = QueueTracker()
    told: dict[str, tuple[float, float, float]] = {}
    scored: list[Row] = []

    def observe(message: Message) -> None:
        tracker.apply(message, clock.now())
        if message.name == "QueueCallerJoin":
            queue = tracker.queues["hotline"]
            caller = queue.caller(message["Uniqueid"])
            if caller is None:
                return
            serving, free = serving_and_free(queue)
            formula = caller_estimate(caller.position, serving, free, queue.stats.handle.value,
                                      queue.stats.abandon.theta)
            ours = position_estimates(queue, clock.now(), caller.position)[-1]
            told[caller.uniqueid] = (ours if ours is not None else 0.0, formula if formula is not None else 0.0,
                                     queue.stats.app_queue.holdtime)
        elif message.name == "AgentConnect":
            estimate = told.pop(message["Uniqueid"], None)
            if estimate is not None:
                scored.append((*estimate, float(message["HoldTime"])))

    sim.event_hooks.append(observe)
    sim.open_day()
    clock.run_until(start + 13 * 3600)
    return scored, sim.offered, sim.abandoned


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--agents", type=int, nargs="+", default=[12, 14, 16, 18, 20])
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()
    print("Each caller's estimate when joining the queue against the wait they had (answered callers).")
    print(f"{'agents':>6} {'answered':>8} {'abandon':>7} {'mean wait':>9} | {'ours MAE':>8} {'<=60s':>6} | "
          f"{'formula MAE':>11} | {'app_queue MAE':>13} {'<=60s':>6} | ours/app_queue")
    ratios = []
    for agents in args.agents:
        rows: list[Row] = []
        offered = abandoned = 0
        for day in range(args.days):
            scored, day_offered, day_abandoned = one_day(seed=day, agents=agents, calls=args.calls)
            rows += scored
            offered += day_offered
            abandoned += day_abandoned
        ours = [abs(row[0] - row[3]) for row in rows]
        formula = [abs(row[1] - row[3]) for row in rows]
        app = [abs(row[2] - row[3]) for row in rows]
        ratio = statistics.fmean(ours) / statistics.fmean(app)
        ratios.append(ratio)
        print(f"{agents:>6} {len(rows):>8} {abandoned / offered:>7.1%} {statistics.fmean(r[3] for r in rows):>8.0f}s"
              f" | {statistics.fmean(ours):>7.1f}s {sum(e <= 60 for e in ours) / len(ours):>6.1%}"
              f" | {statistics.fmean(formula):>10.1f}s"
              f" | {statistics.fmean(app):>12.1f}s {sum(e <= 60 for e in app) / len(app):>6.1%} | {ratio:.2f}")
    print(f"target: ours at most half of app_queue's mean absolute error (<= 0.50); worst {max(ratios):.2f}, "
          f"best {min(ratios):.2f}")


if __name__ == "__main__":
    main()

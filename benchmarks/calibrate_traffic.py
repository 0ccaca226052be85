"""The simulator's traffic model against a real call centre's month (benchmarks/data): fits the shapes
callcenter/pbx/traffic.py holds, says whether they still match, and draws the real and the simulated side by
side in docs/traffic-real-vs-simulated.svg.

    python benchmarks/calibrate_traffic.py [--days 20] [--out docs/traffic-real-vs-simulated.svg]

Four panels: calls per half hour on a weekday; the distribution of call lengths; the callers' patience (the
share still willing to wait after t seconds, served callers' patience censored at their wait); the share of
callers abandoning by hour. For the last, the model's callers (arrivals, call lengths, patience) are played on
the log's own floors (its agents' shifts and after-call pauses, simulation/trace_replay.py) day by day, so the
comparison is of the callers, not of the staffing. "Old model" is the traffic model before this calibration:
two Gaussian peaks, log-normal calls (sigma 0.6), exponential patience of mean 240 s.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.svgplot import Panel, figure_svg
from callcenter.hotline.hazard import HazardCurve
from callcenter.pbx import traffic
from callcenter.pbx.traffic import TrafficModel
from callcenter.simulation.trace import Call, day_calls, read_trace
from callcenter.simulation.trace_replay import play_day

TRACE = Path(__file__).resolve().parent / "data" / "anonymous-bank-1999-02.tsv.gz"
OUT = Path(__file__).resolve().parent.parent / "docs" / "traffic-real-vs-simulated.svg"
REAL, NEW, OLD = "#222222", "#d62728", "#1f77b4"
FRIDAY, SATURDAY = 4, 5  # the centre's short days (Python's weekday numbers)
OPENS, CLOSES = 6.5, 24.0  # the centre's hours on a weekday


def weekdays(calls: list[Call]) -> list[date]:
    return sorted({c.day for c in calls if c.day.weekday() not in (FRIDAY, SATURDAY)})


def patience_curve(calls: list[Call]) -> HazardCurve:
    curve = HazardCurve()
    for call in calls:
        if call.outcome != "phantom":
            curve.add(call.wait, ended=call.patience_observed)
    return curve


def check_tables(calls: list[Call]) -> list[str]:
    """What the log says now against the constants in traffic.py (empty: they match)."""
    days = weekdays(calls)
    per_slot = Counter(int(c.arrival % 86_400 // 1800) for c in calls if c.day in days)
    arrivals = tuple(round(per_slot[slot] / len(days), 1) for slot in range(48))
    served = sorted(c.service for c in calls if c.outcome == "served")
    talk = tuple(served[round(i / 50 * (len(served) - 1))] for i in range(50))
    curve = patience_curve(calls)
    patience = tuple((t, round(curve.survival(t), 4)) for t, _ in traffic.PATIENCE)
    problems = []
    if arrivals != traffic.ARRIVALS:
        problems.append(f"ARRIVALS = {arrivals}")
    if talk != traffic.TALK[:-1]:
        problems.append(f"TALK = {(*talk, traffic.TALK[-1])}")
    if patience != traffic.PATIENCE:
        problems.append(f"PATIENCE = {patience}")
    return problems


def old_shape(hour: float) -> float:
    """The intensity before this calibration (two Gaussian peaks over a floor)."""
    return 0.45 + math.exp(-(((hour - 10.5) / 1.3) ** 2)) + 0.8 * math.exp(-(((hour - 15.0) / 1.5) ** 2))


def old_talk(rng: random.Random) -> float:
    return max(15.0, rng.lognormvariate(math.log(180.0) - 0.18, 0.6))


def old_patience(rng: random.Random) -> float:
    return rng.expovariate(1 / 240.0)


def arrival_hours(model: TrafficModel, rng: random.Random) -> Iterator[float]:
    """One simulated day's arrivals, as hours of the day."""
    hour = OPENS
    while True:
        gap = model.next_arrival(rng, hour)
        hour += gap / 3600
        if gap == math.inf or hour >= CLOSES:
            return
        yield hour


def arrival_panel(calls: list[Call], days: list[date], rng: random.Random) -> Panel:
    per_day = len([c for c in calls if c.day in days]) / len(days)
    model = TrafficModel(calls_per_day=round(per_day), opens=OPENS, closes=CLOSES)
    simulated: Counter[int] = Counter()
    for _ in days:
        for hour in arrival_hours(model, rng):
            simulated[int(hour * 2)] += 1
    real = Counter(int(c.arrival % 86_400 // 1800) for c in calls if c.day in days)
    slots = range(int(OPENS * 2), int(CLOSES * 2))
    old_mean = statistics.fmean(old_shape(s / 2 + 0.25) for s in range(16, 40))
    panel = Panel("Calls per half hour, weekdays", "hour of the day", "calls", x_ticks=[8, 12, 16, 20, 24])
    panel.line("real (20 days' mean)", [(s / 2 + 0.25, real[s] / len(days)) for s in slots], REAL)
    panel.line("model", [(s / 2 + 0.25, simulated[s] / len(days)) for s in slots], NEW)
    # The old model had the hotline's hours only: scaled to the log's calls between 08:00 and 20:00.
    hotline = range(16, 40)
    old_scale = sum(real[s] for s in hotline) / len(days) / len(hotline)
    panel.line("old model (08-20 only)", [(s / 2 + 0.25, old_scale * old_shape(s / 2 + 0.25) / old_mean)
                                          for s in hotline], OLD, dashed=True)
    return panel


def cdf(values: list[float], grid: list[float]) -> list[tuple[float, float]]:
    ordered = sorted(values)
    return [(x, sum(1 for v in ordered if v <= x) / len(ordered)) for x in grid]


def talk_panel(calls: list[Call], rng: random.Random) -> Panel:
    real = [c.service for c in calls if c.outcome == "served"]
    model = TrafficModel(mean_handle=statistics.fmean(real))
    grid = [10 ** (i / 20) for i in range(0, 73)]
    panel = Panel("Call length", "seconds (log scale)", "share of calls this short", log_x=True,
                  x_ticks=[1, 10, 30, 100, 300, 1000, 3000], y_range=(0.0, 1.0), y_percent=True, legend_below=True)
    panel.line("real", cdf(real, grid), REAL)
    panel.line("model", cdf([model.handle_time(rng) for _ in range(len(real))], grid), NEW)
    panel.line("old model (log-normal)", cdf([old_talk(rng) for _ in range(len(real))], grid), OLD, dashed=True)
    return panel


def patience_panel(calls: list[Call], rng: random.Random) -> Panel:
    curve = patience_curve(calls)
    model = TrafficModel()
    draws = sorted(model.patience(rng) for _ in range(20_000))
    grid = [float(t) for t in range(0, 901, 15)]
    panel = Panel("Patience (censored for served callers)", "seconds waited", "share still willing to wait",
                  y_range=(0.0, 1.0), y_percent=True, x_ticks=[0, 120, 240, 360, 480, 600, 720, 840])
    panel.line("real (hazard per 10 s)", [(t, curve.survival(t)) for t in grid], REAL)
    panel.line("model", [(t, 1 - sum(1 for d in draws if d <= t) / len(draws)) for t in grid], NEW)
    panel.line("old model (exponential)", [(t, math.exp(-t / 240)) for t in grid], OLD, dashed=True)
    return panel


def synthetic(day: date, count: int, rng: random.Random, old: bool) -> tuple[list[Call], dict[str, float]]:
    """A day of the model's callers (or the old model's call lengths and patience) for the log's floor."""
    model = TrafficModel(calls_per_day=count, opens=OPENS, closes=CLOSES)
    callers: list[Call] = []
    patience: dict[str, float] = {}
    for hour in arrival_hours(model, rng):
        talk = old_talk(rng) if old else model.handle_time(rng)
        call = Call(f"s{len(callers)}", day, hour * 3600, 0, "PS", "served", 0.0, talk, "")
        callers.append(call)
        patience[call.call_id] = old_patience(rng) if old else model.patience(rng)
    return callers, patience


def abandon_panel(calls: list[Call], days: list[date], rng: random.Random) -> tuple[Panel, dict[str, float]]:
    def nothing(queue: object, now: float, positions: int) -> list[float | None]:
        return [None] * positions  # no estimates needed here: only what became of the callers

    tallies: dict[str, Counter[tuple[int, bool]]] = {"real": Counter(), "model": Counter(), "old": Counter()}
    for day in days:
        real = day_calls(calls, day)
        for call in real:
            tallies["real"][(int(call.arrival // 3600), call.outcome != "served")] += 1
        for name, old in (("model", False), ("old", True)):
            callers, patience = synthetic(day, len(real), rng, old)
            played = play_day(callers, day, floor=real, patience=patience, estimate=nothing)
            for told in played.told:
                tallies[name][(int(told.call.arrival // 3600), told.replay_outcome != "served")] += 1
    hours = range(7, 24)

    def share(name: str, hour: int) -> float:
        tally = tallies[name]
        total = tally[(hour, True)] + tally[(hour, False)]
        return tally[(hour, True)] / total if total else 0.0

    panel = Panel("Callers abandoning, on the log's floors", "hour of the day", "share abandoning",
                  y_percent=True, x_ticks=[8, 12, 16, 20, 24])
    panel.line("real", [(h + 0.5, share("real", h)) for h in hours], REAL)
    panel.line("model", [(h + 0.5, share("model", h)) for h in hours], NEW)
    panel.line("old model's callers", [(h + 0.5, share("old", h)) for h in hours], OLD, dashed=True)
    overall = {name: sum(n for (_, gave_up), n in tally.items() if gave_up) / max(1, sum(tally.values()))
               for name, tally in tallies.items()}
    return panel, overall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=20, help="weekdays played for the abandonment panel")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    calls = read_trace(TRACE)
    rng = random.Random(19)
    problems = check_tables(calls)
    print("traffic.py's tables match the log" if not problems else
          "traffic.py's tables differ from the log; fitted now:\n" + "\n".join(problems))
    days = weekdays(calls)
    abandon, overall = abandon_panel(calls, days[: args.days], rng)
    panels = [arrival_panel(calls, days, rng), talk_panel(calls, rng), patience_panel(calls, rng), abandon]
    args.out.write_text(figure_svg(panels, title="A real call centre's month (Anonymous Bank, February 1999) "
                                                 "and the simulator's traffic model"), encoding="utf-8")
    served = [c.service for c in calls if c.outcome == "served"]
    print(f"call length: real mean {statistics.fmean(served):.0f} s, median {statistics.median(served):.0f} s; "
          f"model mean {traffic.TALK_TABLE_MEAN:.0f} s")
    print(f"patience: mean of the real curve {patience_curve(calls).mean():.0f} s, model {traffic.PATIENCE_MEAN:.0f}"
          f" s; still waiting after 60 s: real {patience_curve(calls).survival(60):.1%}, old model "
          f"{math.exp(-60 / 240):.1%}")
    print(f"share abandoning on the log's floors ({min(args.days, len(days))} weekdays): real {overall['real']:.1%}, "
          f"model {overall['model']:.1%}, old model's callers {overall['old']:.1%}")
    print(f"picture: {args.out}")


if __name__ == "__main__":
    main()

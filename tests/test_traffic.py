"""The simulated traffic, shaped as the real centre's month (benchmarks/calibrate_traffic.py checks the tables)."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from callcenter.pbx import traffic
from callcenter.pbx.traffic import TrafficModel, patience_quantile, talk_quantile


def test_call_lengths_follow_the_logs_quantiles_scaled_to_the_mean() -> None:
    assert talk_quantile(0.5) == traffic.TALK[25] == 109.0
    assert talk_quantile(0.0) == 1.0 and talk_quantile(1.0) == traffic.TALK[-1]
    assert talk_quantile(0.51) == pytest.approx(math.sqrt(109.0 * 114.0))  # log-interpolated
    assert abs(traffic.TALK_TABLE_MEAN - 179) < 1
    rng = random.Random(5)
    lengths = [TrafficModel(mean_handle=360.0).handle_time(rng) for _ in range(40_000)]
    assert statistics.fmean(lengths) == pytest.approx(360, rel=0.03)
    # The shape is the log's: a tenth of calls under 25 s (scaled: 50 s), which a log-normal of sigma 0.6 never
    # gives (its 10 % point is at 46 % of the median).
    assert sum(1 for x in lengths if x < 50.3) / len(lengths) == pytest.approx(0.10, abs=0.01)


def test_patience_follows_the_logs_survival_curve() -> None:
    assert patience_quantile(1.0) == 0.0
    assert patience_quantile(0.8209) == pytest.approx(60.0)
    assert patience_quantile(0.2422) == pytest.approx(600.0)
    assert patience_quantile(0.2422 * math.exp(-0.3)) == pytest.approx(700.0)  # the tail: 0.003 a second
    rng = random.Random(6)
    draws = [TrafficModel().patience(rng) for _ in range(40_000)]
    assert statistics.fmean(draws) == pytest.approx(traffic.PATIENCE_MEAN, rel=0.04)
    assert sum(1 for d in draws if d > 60) / len(draws) == pytest.approx(0.82, abs=0.01)
    # Not exponential: with the same mean, an exponential would keep 86 % past a minute and 46 % past 5.
    assert sum(1 for d in draws if d > 300) / len(draws) == pytest.approx(0.48, abs=0.01)


def test_arrivals_follow_the_logs_day_within_the_hours() -> None:
    model = TrafficModel(calls_per_day=1200)
    assert model.rate(7.9) == 0.0 and model.rate(20.0) == 0.0
    # The log's weekday: the 10:00 peak over the 12:30 dip over the evening.
    assert model.rate(10.25) > model.rate(12.75) > model.rate(19.75) > 0
    rng = random.Random(7)
    counts = []
    for _ in range(20):
        hour, count = 8.0, 0
        while True:
            gap = model.next_arrival(rng, hour)
            hour += gap / 3600
            if hour >= 20.0:
                break
            count += 1
        counts.append(count)
    assert statistics.fmean(counts) == pytest.approx(1200, rel=0.03)
    at_night = TrafficModel(calls_per_day=1200, any_hour=True)
    assert at_night.rate(3.0) == pytest.approx(at_night.mean_rate)

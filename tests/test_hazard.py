"""Durations with no shape assumed (patience, pauses), and what the estimate does with them."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from callcenter.hotline.estimate import Breaks, LogNormalFit, simulated_waits
from callcenter.hotline.hazard import BAND_SECONDS, DEFAULT_RATE, HazardCurve
from callcenter.pbx.protocol import Message
from callcenter.pbx.tracker import QueueTracker


def test_with_nothing_learnt_the_curve_is_the_prior_exponential() -> None:
    curve = HazardCurve()
    assert curve.survival(240) == pytest.approx(math.exp(-1))
    assert curve.mean() == pytest.approx(1 / DEFAULT_RATE, rel=0.01)


def test_censored_durations_count_as_time_at_risk_only() -> None:
    # Exponential data, mean 100 s, half of it censored at its value: the estimate is the exponential MLE.
    rng = random.Random(1)
    curve = HazardCurve()
    ended = seconds = 0.0
    for index in range(4000):
        value = rng.expovariate(1 / 100)
        curve.add(value, ended=index % 2 == 0)
        ended += index % 2 == 0
        seconds += value
    assert curve.overall_rate == pytest.approx(ended / seconds, rel=0.05)
    # Dropping the censored ones instead would have doubled the rate; counting them as endings too.
    assert curve.survival(100) == pytest.approx(math.exp(-100 * ended / seconds), rel=0.1)


def test_a_falling_hazard_is_learnt_and_remaining_time_grows_with_time_already_spent() -> None:
    # Half the pauses end within 10 s, the others last about ten minutes: not exponential at all.
    rng = random.Random(2)
    curve = HazardCurve()
    for _ in range(3000):
        curve.add(rng.uniform(0, BAND_SECONDS) if rng.random() < 0.5 else rng.uniform(500, 700), ended=True)
    assert curve.survival(BAND_SECONDS) == pytest.approx(0.5, abs=0.03)
    sampler = curve.sampler()
    fresh = statistics.median(sampler.remaining(rng, 0.0) for _ in range(2000))
    seasoned = statistics.median(sampler.remaining(rng, 60.0) for _ in range(2000))
    # Just started: a coin between "now" and "in ten minutes"; a minute in, it is a long one.
    assert fresh < 300 < seasoned and seasoned > 400
    assert curve.mean() == pytest.approx(0.5 * 5 + 0.5 * 600, rel=0.1)


def test_paused_operators_coming_back_and_after_call_pauses_change_the_wait() -> None:
    fit = LogNormalFit(mu=math.log(100), sigma=0.05)  # calls of 100 s, nearly fixed
    no_patience = HazardCurve(prior_rate=1e-9).sampler()
    quick = HazardCurve()
    for _ in range(500):
        quick.add(20.0, ended=True)  # every pause takes 20 s
    sampler = quick.sampler()
    # One operator on a call just begun, one paused: without breaks only the call's end frees anyone.
    alone = simulated_waits([0.0], 0, 2, fit, 0.0, 0.0, patience=no_patience)
    assert alone[0] == pytest.approx(100, abs=5) and alone[1] == pytest.approx(200, abs=10)
    back = simulated_waits([0.0], 0, 2, fit, 0.0, 0.0, patience=no_patience,
                           breaks=Breaks([5.0], sampler, 0.0, quick.mean()))
    assert back[0] == pytest.approx(15, abs=2)  # the paused one is back in 15 s
    # Every call followed by a 20 s pause: the second caller waits for the call and the pause after it.
    slow = simulated_waits([0.0], 0, 2, fit, 0.0, 0.0, patience=no_patience,
                           breaks=Breaks([], sampler, 1.0, quick.mean()))
    assert slow[0] == pytest.approx(120, abs=5)


def test_the_callers_ahead_give_up_by_how_long_they_have_waited() -> None:
    fit = LogNormalFit(mu=math.log(300), sigma=0.05)
    curve = HazardCurve()
    for _ in range(2000):
        curve.add(30.0, ended=True)  # everyone who gives up does it at 30 s
        curve.add(600.0, ended=False)  # the others wait as long as it takes
    sampler = curve.sampler()
    # The caller ahead has waited 5 minutes: past the point where people give up, they stay.
    stays = simulated_waits([0.0], 0, 2, fit, 0.0, 0.0, patience=sampler, waited=[300.0, 0.0])
    leaves = simulated_waits([0.0], 0, 2, fit, 0.0, 0.0, patience=sampler, waited=[0.0, 0.0])
    assert stays[1] == pytest.approx(600, abs=30)  # behind a whole call of the caller ahead
    assert leaves[1] < stays[1]


def event(name: str, **headers: str) -> Message:
    return Message("event", name, [("Event", name), ("Queue", "hotline"), *headers.items()])


def test_the_tracker_learns_pause_lengths_and_the_share_of_calls_followed_by_one() -> None:
    tracker = QueueTracker()
    member = {"Interface": "Local/1@agents", "MemberName": "op1"}
    tracker.apply(event("QueueMemberAdded", **member, Status="1", Paused="0"), 1000.0)
    tracker.apply(event("QueueCallerJoin", Uniqueid="c1", Channel="Local/s@hotline-queue-1;2", Position="1",
                        Count="1"), 1000.0)
    tracker.apply(event("AgentCalled", **member, Uniqueid="c1"), 1000.0)
    tracker.apply(event("QueueCallerLeave", Uniqueid="c1", Position="1", Count="0"), 1003.0)
    tracker.apply(event("AgentConnect", **member, Uniqueid="c1", HoldTime="3", RingTime="3"), 1003.0)
    tracker.apply(event("AgentComplete", **member, Uniqueid="c1", HoldTime="3", TalkTime="100"), 1103.0)
    tracker.apply(event("QueueMemberPause", **member, Paused="1", PausedReason="wrap-up"), 1103.5)
    q = tracker.queues["hotline"]
    assert q.stats.completions == 1 and q.stats.pauses_after_call == 1
    assert q.members["Local/1@agents"].paused_at == 1103.5
    tracker.apply(event("QueueMemberPause", **member, Paused="0"), 1143.5)
    assert q.stats.pauses.count == 1 and q.members["Local/1@agents"].paused_at is None
    # A pause long after the last call is a break, not after-call work.
    tracker.apply(event("QueueMemberPause", **member, Paused="1", PausedReason="lunch"), 2000.0)
    assert q.stats.pauses_after_call == 1

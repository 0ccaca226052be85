from __future__ import annotations

import math
import random

import pytest

from callcenter.hotline.estimate import (
    MAX_SIMULATED_POSITIONS,
    RING_SECONDS,
    AbandonRate,
    AppQueueEstimate,
    LogNormalFit,
    agents_needed,
    erlang_c,
    erlang_c_wait,
    queue_length_wait,
    service_level,
    simulated_waits,
)


def erlang_c_by_definition(agents: int, load: float) -> float:
    """The textbook closed form, to check the recurrence against."""
    top = load**agents / math.factorial(agents) * agents / (agents - load)
    bottom = sum(load**k / math.factorial(k) for k in range(agents)) + top
    return top / bottom


@pytest.mark.parametrize(("agents", "load"), [(1, 0.5), (5, 3.0), (12, 10.0), (30, 27.5)])
def test_erlang_c_matches_the_closed_form(agents: int, load: float) -> None:
    assert erlang_c(agents, load) == pytest.approx(erlang_c_by_definition(agents, load), rel=1e-9)


def test_erlang_c_edges() -> None:
    assert erlang_c(10, 0.0) == 0.0
    assert erlang_c(10, 10.0) == 1.0
    assert math.isinf(erlang_c_wait(10, 10 / 180, 180))


def test_staffing_for_the_textbook_case() -> None:
    # 100 calls in 30 minutes, 180 s handle time: 10 Erlangs. The classic table value for 12 operators is a
    # 44.94 % chance to wait; 80 % within 20 s needs 14 operators (13 reach only 79.6 %).
    rate = 100 / 1800
    assert erlang_c(12, 10.0) == pytest.approx(0.4494, abs=1e-4)
    assert service_level(13, rate, 180, 20) == pytest.approx(0.7956, abs=1e-4)
    assert agents_needed(rate, 180, 20, 0.8) == 14
    assert service_level(13, rate, 180, 20) < 0.8 <= service_level(14, rate, 180, 20)
    assert agents_needed(0.0, 180, 20, 0.8) == 0


def test_queue_length_wait_grows_with_position() -> None:
    waits = [queue_length_wait(k, serving=4, handle_seconds=240) for k in range(1, 6)]
    assert waits == pytest.approx([60.0, 120.0, 180.0, 240.0, 300.0])  # k * AHT / s


def test_abandonment_shortens_the_wait_of_those_further_back() -> None:
    patient = queue_length_wait(10, serving=4, handle_seconds=240, theta=0.0)
    impatient = queue_length_wait(10, serving=4, handle_seconds=240, theta=1 / 120)
    assert patient is not None and impatient is not None
    assert impatient < patient
    # By hand: sum over j=0..9 of 1/(4/240 + j/120).
    assert impatient == pytest.approx(sum(1 / (4 / 240 + j / 120) for j in range(10)))


def test_free_operators_take_the_first_callers_at_once() -> None:
    assert queue_length_wait(2, serving=3, handle_seconds=240, free_operators=2) == RING_SECONDS
    assert queue_length_wait(3, serving=3, handle_seconds=240, free_operators=2) == pytest.approx(80.0)
    assert queue_length_wait(1, serving=0, handle_seconds=240) is None
    with pytest.raises(ValueError, match="positions start at 1"):
        queue_length_wait(0, serving=1, handle_seconds=1)


def test_abandon_rate_estimator() -> None:
    rate = AbandonRate()
    assert rate.theta == 0.0
    rate.add_wait(100, abandoned=True)
    rate.add_wait(300, abandoned=False)
    assert rate.theta == pytest.approx(1 / 400)


def test_app_queue_estimate_is_the_same_for_every_position() -> None:
    estimate = AppQueueEstimate()
    for hold in (40, 80, 120):
        estimate.answered(hold)
    assert estimate.holdtime == pytest.approx(((0 * 3 + 40) / 4 * 3 + 80) / 4 * 3 / 4 + 120 / 4)
    assert estimate.estimate(1) == estimate.estimate(12)


def nearly_fixed(mean: float) -> LogNormalFit:
    fit = LogNormalFit()
    fit.mu, fit.sigma = math.log(mean), 0.01
    return fit


def test_simulated_waits_follow_the_operators_completions() -> None:
    waits = simulated_waits([0.0, 0.0], free_operators=0, waiting=4, fit=nearly_fixed(100), theta=0.0,
                            ring_seconds=3)
    assert waits[0] == pytest.approx(103, abs=2) and waits[1] == pytest.approx(103, abs=2)
    assert waits[2] == pytest.approx(206, abs=4) and waits[3] == pytest.approx(206, abs=4)


def test_a_call_nearly_over_frees_its_operator_sooner() -> None:
    fresh = simulated_waits([0.0], 0, 1, nearly_fixed(100), 0.0, 3)[0]
    nearly_done = simulated_waits([95.0], 0, 1, nearly_fixed(100), 0.0, 3)[0]
    assert nearly_done < 15 < 90 < fresh


def test_free_operators_mean_only_the_ring_and_giving_up_shortens_later_waits() -> None:
    assert simulated_waits([], 2, 2, nearly_fixed(100), 0.0, 4) == [4, 4]
    patient = simulated_waits([0.0], 0, 6, nearly_fixed(100), 0.0, 3)
    impatient = simulated_waits([0.0], 0, 6, nearly_fixed(100), 1 / 60, 3)
    assert impatient[0] == pytest.approx(patient[0], abs=2)  # nobody ahead to give up
    assert impatient[5] < patient[5] / 2
    assert simulated_waits([], 0, 2, nearly_fixed(100), 0.0, 3) == [math.inf, math.inf]


def test_far_back_positions_continue_the_played_ones_at_the_floors_rate() -> None:
    floor = [float(e) for e in range(0, 400, 2)]  # 200 operators on calls of about 100 s
    played = simulated_waits(floor, 0, MAX_SIMULATED_POSITIONS, nearly_fixed(100), 0.0, 3)
    long = simulated_waits(floor, 0, 3 * MAX_SIMULATED_POSITIONS, nearly_fixed(100), 0.0, 3)
    assert long[:MAX_SIMULATED_POSITIONS] == played
    # 200 operators finishing a 100 s call each: two callers a second leave the queue, so each further
    # position adds half a second.
    step = (long[-1] - long[MAX_SIMULATED_POSITIONS - 1]) / (2 * MAX_SIMULATED_POSITIONS)
    assert step == pytest.approx(0.5, rel=0.01)
    impatient = simulated_waits(floor, 0, 3 * MAX_SIMULATED_POSITIONS, nearly_fixed(100), 1 / 60, 3)
    assert impatient[-1] - impatient[MAX_SIMULATED_POSITIONS - 1] < long[-1] - long[MAX_SIMULATED_POSITIONS - 1]


def test_estimates_are_reused_for_a_moment_and_aged_by_the_queue_clock() -> None:
    from callcenter.hotline.view import position_estimate, position_estimates
    from callcenter.pbx.tracker import QueueTracker
    from tests.test_tracker import T0, event, join

    tracker = QueueTracker()
    tracker.apply(event("QueueMemberAdded", Interface="Local/1@agents", MemberName="op1", Status="1"), T0)
    tracker.apply(event("AgentCalled", Uniqueid="0", Interface="Local/1@agents"), T0)
    tracker.apply(event("AgentConnect", Uniqueid="0", Interface="Local/1@agents", HoldTime="0"), T0)
    for uid in ("1", "2", "3"):
        join(tracker, uid, T0)
    queue = tracker.queues["hotline"]
    real = [100.0]
    first = position_estimates(queue, T0 + 10, 3, fresh_for=1.0, clock=lambda: real[0])
    real[0] += 0.5
    again = position_estimates(queue, T0 + 20, 2, fresh_for=1.0, clock=lambda: real[0])
    assert again == [pytest.approx(w - 10) for w in first[:2]]  # reused, ten (queue) seconds on
    assert position_estimate(queue, T0 + 20, 2, fresh_for=1.0, clock=lambda: real[0]) == again[1]
    real[0] += 1.0
    queue.stats.handle_fit.mu += 1.0  # calls got longer: a fresh estimate must see it
    later = position_estimates(queue, T0 + 20, 2, fresh_for=1.0, clock=lambda: real[0])
    assert later[1] > again[1] + 60


def test_a_caller_who_jumps_ahead_of_one_being_rung_does_not_get_that_operator() -> None:
    """A priority customer put ahead of a caller whose operator's phone already rings waits for a call to
    end: the ringing operator is the rung caller's (it was told the ring alone before)."""
    from callcenter.hotline.view import position_estimates
    from callcenter.pbx.tracker import QueueTracker
    from tests.test_tracker import T0, event, join

    tracker = QueueTracker()
    for n in ("1", "2"):
        tracker.apply(event("QueueMemberAdded", Interface=f"Local/{n}@agents", MemberName=f"op{n}", Status="1"), T0)
    tracker.apply(event("AgentCalled", Uniqueid="0", Interface="Local/1@agents"), T0)
    tracker.apply(event("AgentConnect", Uniqueid="0", Interface="Local/1@agents", HoldTime="0"), T0)
    join(tracker, "1", T0 + 5)
    tracker.apply(event("AgentCalled", Uniqueid="1", Interface="Local/2@agents"), T0 + 5)
    tracker.apply(event("QueueCallerJoin", Uniqueid="2", CallerIDNum="5552", Channel="c2", Position="1"), T0 + 6)
    queue = tracker.queues["hotline"]
    assert [c.uniqueid for c in queue.waiting] == ["2", "1"]
    jumper, rung, behind = position_estimates(queue, T0 + 6, 3)
    assert rung == pytest.approx(queue.stats.ring.value)
    assert jumper is not None and jumper > 30  # a call has to end first
    assert behind is not None and behind > jumper


def test_the_estimate_is_repeatable() -> None:
    args = ([10.0, 50.0, 120.0], 0, 5, LogNormalFit(), 1 / 200, 5)
    assert simulated_waits(*args) == simulated_waits(*args)  # type: ignore[arg-type]


def test_log_normal_fit_learns_the_calls() -> None:
    rng = random.Random(1)
    fit = LogNormalFit()
    for _ in range(3000):
        fit.add(rng.lognormvariate(math.log(300), 0.4))
    assert fit.mu == pytest.approx(math.log(300), abs=0.05)
    assert fit.sigma == pytest.approx(0.4, abs=0.05)

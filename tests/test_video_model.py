"""Video sessions' rules without a network: states, routing, the interpreters' pool."""

from __future__ import annotations

import pytest

from callcenter.video.model import InvalidTransition, VideoSession, routes
from callcenter.video.pool import InterpreterPool


def test_a_sign_language_session_walks_its_states_with_timestamps() -> None:
    session = VideoSession.start("sign", now=100.0)
    assert session.state == "waiting_interpreter" and not session.needs_operator()
    session.interpreter_joins("ivanova", 130.0)
    assert session.state == "with_interpreter" and session.present() == {"resident", "interpreter"}
    session.request_operator(140.0)
    assert session.needs_operator()
    session.operator_joins("petrov", 190.0)
    assert session.state == "with_operator" and not session.needs_operator()
    session.end("finished", 600.0)
    assert [state for state, _, _ in session.history] == [
        "waiting_interpreter", "with_interpreter", "with_interpreter", "with_operator", "ended"]
    assert session.entered("with_interpreter") == 130.0 and session.entered("with_operator") == 190.0
    assert VideoSession.from_json(session.to_json()) == session


def test_messages_out_of_order_are_refused_and_change_nothing() -> None:
    session = VideoSession.start("sign", now=0.0)
    with pytest.raises(InvalidTransition) as error:
        session.operator_joins("petrov", 1.0)
    assert error.value.code == "not_ready" and session.state == "waiting_interpreter"
    with pytest.raises(InvalidTransition):
        session.request_operator(1.0)
    session.interpreter_joins("ivanova", 2.0)
    with pytest.raises(InvalidTransition) as error:
        session.interpreter_joins("sidorova", 3.0)
    assert error.value.code == "taken" and session.interpreter == "ivanova"
    session.end("finished", 4.0)
    with pytest.raises(InvalidTransition) as error:
        session.operator_joins("petrov", 5.0)
    assert error.value.code == "session_ended"
    with pytest.raises(InvalidTransition):
        VideoSession.start("telepathy", now=0.0)


def test_a_participant_gone_for_good_moves_the_session_back_a_step() -> None:
    session = VideoSession.start("sign", now=0.0)
    session.interpreter_joins("ivanova", 1.0)
    session.operator_joins("petrov", 2.0)
    session.participant_left("operator", 3.0)
    assert session.state == "with_interpreter" and session.needs_operator()
    session.participant_left("interpreter", 4.0)
    assert session.state == "waiting_interpreter" and session.interpreter is None
    session.participant_left("resident", 5.0)
    assert session.state == "ended" and session.ended_reason == "resident_left"
    consultation = VideoSession.start("operator", now=0.0)
    assert consultation.needs_operator()
    consultation.operator_joins("petrov", 1.0)
    consultation.participant_left("operator", 2.0)
    assert consultation.state == "waiting_operator"


def test_routing_gives_each_participant_what_the_issue_says() -> None:
    everyone = {"resident", "interpreter", "operator"}
    sign = routes("sign", everyone)
    assert sign[("resident", "main")] == ("interpreter", "video")
    assert sign[("resident", "side")] == ("operator", "video")
    assert sign[("interpreter", "main")] == ("resident", "video")
    assert sign[("interpreter", "audio")] == ("operator", "audio")
    assert sign[("operator", "main")] == ("resident", "video")
    assert sign[("operator", "audio")] == ("interpreter", "audio")
    # Before the operator joins, nobody is given a slot from them.
    early = routes("sign", {"resident", "interpreter"})
    assert early[("resident", "side")] is None and early[("interpreter", "audio")] is None
    assert ("operator", "main") not in early
    consultation = routes("operator", {"resident", "operator"})
    assert consultation[("resident", "main")] == ("operator", "video")
    assert consultation[("operator", "audio")] == ("resident", "audio")


def test_the_longest_idle_interpreter_gets_the_earliest_session() -> None:
    pool = InterpreterPool(offer_seconds=20)
    pool.set_status("anna", "available", now=10)
    pool.set_status("boris", "available", now=5)
    pool.add_session("s1")
    pool.add_session("s2")
    offers = pool.assign(now=30)
    assert [(o.session, o.username) for o in offers] == [("s1", "boris"), ("s2", "anna")]
    pool.accept("s1", "boris")
    assert pool.interpreters["boris"].status == "busy" and pool.position("s2") == 1
    with pytest.raises(LookupError):
        pool.accept("s2", "boris")


def test_a_declined_or_unanswered_offer_goes_to_the_next_interpreter() -> None:
    pool = InterpreterPool(offer_seconds=20)
    pool.set_status("anna", "available", now=1)
    pool.set_status("boris", "available", now=2)
    pool.add_session("s1")
    (offer,) = pool.assign(now=10)
    assert offer.username == "anna"
    pool.decline("s1", "anna")
    (offer,) = pool.assign(now=11)
    assert offer.username == "boris"
    assert pool.expire(now=30) == []
    late = pool.expire(now=31)
    assert [o.username for o in late] == ["boris"]
    assert pool.interpreters["boris"].status == "paused" and pool.interpreters["boris"].reason == "no answer"
    # Anna declined, but she is the only one left: the session is offered to her again rather than wait forever.
    (offer,) = pool.assign(now=32)
    assert offer.username == "anna"


def test_a_released_interpreter_queues_behind_those_idle_longer() -> None:
    pool = InterpreterPool()
    pool.set_status("anna", "available", now=0)
    pool.set_status("boris", "available", now=50)
    pool.add_session("s1")
    pool.assign(now=60)
    pool.accept("s1", "anna")
    pool.release("anna", now=100)
    pool.add_session("s2")
    (offer,) = pool.assign(now=101)
    assert offer.username == "boris"
    with pytest.raises(ValueError):
        pool.set_status("boris", "busy", now=102)

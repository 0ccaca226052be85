"""The AMI client and the PBX link over real TCP: against the simulator, a recorded session, and a proxy that
breaks the link on purpose."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from callcenter.config import Settings
from callcenter.pbx.ami import AmiActionError, AmiAuthError, AmiClient
from callcenter.pbx.link import LINK_EVENTS, PbxLink
from callcenter.pbx.simulator import PbxSimulator, SimConfig
from callcenter.pbx.tracker import Change
from tests.amitools import FaultyProxy, TranscriptServer
from tests.conftest import TRANSCRIPTS

SECRET = "test-secret"
LONG = 10_000.0  # simulated seconds: callers that neither give up nor finish during a test


def sim_config(agents: int = 0) -> SimConfig:
    return SimConfig(agents=agents, secret=SECRET, generate_traffic=False, agent_no_answer=0.0)


@pytest.fixture
async def simulator() -> AsyncIterator[PbxSimulator]:
    sim = PbxSimulator(sim_config())
    await sim.start()
    yield sim
    await sim.stop()


def client_for(port: int, **options: object) -> AmiClient:
    defaults: dict[str, object] = {"backoff_initial": 0.01, "backoff_max": 0.05, "ping_interval": 5.0,
                                   "wanted_events": LINK_EVENTS}
    defaults.update(options)
    return AmiClient("127.0.0.1", port, "callcenter", SECRET, **defaults)  # type: ignore[arg-type]


async def next_change(queue: asyncio.Queue[Change], kind: str, timeout: float = 5.0) -> Change:
    async with asyncio.timeout(timeout):
        while True:
            change = await queue.get()
            if change["type"] == kind:
                return change


@pytest.mark.parametrize("auth", ["plain", "md5"])
async def test_login_actions_and_event_lists(simulator: PbxSimulator, auth: str) -> None:
    client = client_for(simulator.port, auth=auth)
    await client.connect()
    try:
        assert client.version == "11.0.0"
        assert await client.ping() >= 0
        await client.send_action("QueueAdd", [("Queue", "hotline"), ("Interface", "Local/7@agents"),
                                              ("MemberName", "op7")])
        with pytest.raises(AmiActionError, match="Already there"):
            await client.send_action("QueueAdd", [("Queue", "hotline"), ("Interface", "Local/7@agents")])
        simulator.caller_arrives("5551234", "Тест", patience=LONG, handle=LONG)
        status = await client.send_action("QueueStatus", [("Queue", "hotline")])
        names = [event.name for event in status.events]
        assert names[0] == "QueueParams" and names[-1] == "QueueStatusComplete"
        assert status.events[-1]["ListItems"] == str(len(names) - 1)
        assert {"QueueMember", "QueueEntry"} <= set(names)
    finally:
        await client.close()
    assert simulator.actions[-1].name == "Logoff"


async def test_wrong_secret_is_a_clear_error(simulator: PbxSimulator) -> None:
    client = AmiClient("127.0.0.1", simulator.port, "callcenter", "wrong")
    with pytest.raises(AmiAuthError, match="login as 'callcenter' refused: Authentication failed"):
        await client.connect()
    assert not client.connected


async def test_recorded_login_failure_from_a_real_asterisk() -> None:
    server = TranscriptServer((TRANSCRIPTS / "login_failure.ami").read_bytes())
    await server.start()
    try:
        with pytest.raises(AmiAuthError, match="Authentication failed"):
            await AmiClient("127.0.0.1", server.port, "callcenter", "bad").connect()
    finally:
        await server.stop()


async def test_recorded_late_join_session_drives_the_link_like_the_offline_replay() -> None:
    server = TranscriptServer((TRANSCRIPTS / "late_join_mid_call.ami").read_bytes())
    await server.start()
    link = PbxLink(Settings(), client=client_for(server.port))
    changes = link.feed.listen()
    try:
        await link.client.connect()
        assert link.resyncs == 1
        snapshot = link.tracker.snapshot()["queues"]["hotline"]
        assert [c["callerid"] for c in snapshot["waiting"]] == ["5551021"]
        # The recording goes on after QueueStatus only when the client sends its next action.
        await link.client.send_action("CoreShowChannels")
        await next_change(changes, "call_connected")
    finally:
        await link.client.close()
        await server.stop()


async def test_events_arrive_in_order_with_their_headers(simulator: PbxSimulator) -> None:
    client = client_for(simulator.port)
    subscription = client.subscribe({"QueueCallerJoin"})
    await client.connect()
    try:
        simulator.caller_arrives("5550001", "Иванов Иван", patience=LONG, handle=LONG)
        event = await asyncio.wait_for(anext(subscription), 5)
        assert event["CallerIDName"] == "Иванов Иван"
        assert event.keys()[:3] == ["Event", "Privilege", "Timestamp"]
        assert event["Position"] == "1"
    finally:
        await client.close()


async def test_slow_consumer_never_blocks_the_tracker(simulator: PbxSimulator) -> None:
    link = PbxLink(Settings(), client=client_for(simulator.port))
    idle = link.client.subscribe(maxsize=5)  # never read
    changes = link.feed.listen()
    await link.client.connect()
    try:
        for index in range(40):
            simulator.caller_arrives(f"555{index:04d}", "x", patience=LONG, handle=LONG)
        for _ in range(40):
            await next_change(changes, "caller_joined")
        assert idle.dropped >= 35
        assert link.tracker.queues["hotline"].counters.offered == 40
    finally:
        await link.client.close()


async def test_drop_and_reconnect_resyncs_without_doubling_counts(simulator: PbxSimulator) -> None:
    proxy = FaultyProxy(simulator.port)
    await proxy.start()
    link = PbxLink(Settings(), client=client_for(proxy.port))
    changes = link.feed.listen()
    told: list[str] = []  # what the report's recorder is told: each loss, then each resync
    link.sinks.append(lambda batch, at: told.extend(c["type"] for c in batch if c["type"] in ("link_lost", "resync")))
    link.client.start()
    try:
        await link.client.wait_until(lambda: link.resyncs == 1, 5)
        stays = simulator.caller_arrives("5550001", "a", patience=LONG, handle=LONG)
        leaves = simulator.caller_arrives("5550002", "b", patience=LONG, handle=LONG)
        await next_change(changes, "caller_joined")
        await next_change(changes, "caller_joined")
        proxy.cut_mid_frame()
        await link.client.wait_until(lambda: link.client.connections == 2 and link.resyncs == 2, 5)
        # While the link was down (between the cut and the reconnect nothing was seen), change the PBX:
        # one caller gives up, one new caller arrives, and the link is cut again.
        proxy.cut_mid_frame()
        simulator._abandon(leaves)
        simulator.caller_arrives("5550003", "c", patience=LONG, handle=LONG)
        await link.client.wait_until(lambda: link.client.connections == 3 and link.resyncs == 3, 5)
        queue = link.tracker.queues["hotline"]
        assert [c.callerid for c in queue.waiting] == ["5550001", "5550003"]
        assert [c.position for c in queue.waiting] == [1, 2]
        assert queue.counters.offered == simulator.offered == 3
        assert queue.counters.abandoned == simulator.abandoned == 1
        assert queue.counters.unknown_outcome == 0
        assert stays in simulator.waiting
        assert told == ["resync", "link_lost", "resync", "link_lost", "resync"]
    finally:
        await link.client.close()
        await proxy.stop()


async def test_garbage_is_skipped_and_the_link_survives(simulator: PbxSimulator) -> None:
    proxy = FaultyProxy(simulator.port)
    await proxy.start()
    link = PbxLink(Settings(), client=client_for(proxy.port))
    changes = link.feed.listen()
    await link.client.connect()
    try:
        proxy.inject(b"this is not AMI at all\r\n\r\n\x00\xff\xfe binary\r\n\r\n")
        simulator.caller_arrives("5550009", "z", patience=LONG, handle=LONG)
        await next_change(changes, "caller_joined")
        assert link.client.malformed_frames == 2
        assert link.connected and link.client.connections == 1
    finally:
        await link.client.close()
        await proxy.stop()


async def test_a_stalled_pbx_is_detected_by_ping_and_reconnected(simulator: PbxSimulator) -> None:
    proxy = FaultyProxy(simulator.port)
    await proxy.start()
    client = client_for(proxy.port, ping_interval=0.2)
    client.start()
    try:
        await client.wait_until(lambda: client.connected, 5)
        proxy.stall()
        await client.wait_until(lambda: not client.connected, 5)
        assert "Ping" in client.last_error
        await client.wait_until(lambda: client.connected and client.connections == 2, 5)
    finally:
        await client.close()
        await proxy.stop()


async def test_pbx_restart_is_resynced(simulator: PbxSimulator) -> None:
    link = PbxLink(Settings(), client=client_for(simulator.port))
    changes = link.feed.listen()
    link.client.start()
    port = simulator.port
    try:
        await link.client.wait_until(lambda: link.resyncs == 1, 5)
        simulator.caller_arrives("5550001", "a", patience=LONG, handle=LONG)
        await next_change(changes, "caller_joined")
        await simulator.stop()
        restarted = PbxSimulator(sim_config(agents=2), start_time=simulator.boot + 100)
        await restarted.start(port=port)
        try:
            restarted.caller_arrives("5550002", "b", patience=LONG, handle=LONG)
            await link.client.wait_until(lambda: link.resyncs == 2, 10)
            queue = link.tracker.queues["hotline"]
            # The old caller vanished with the restart; the new PBX's caller and members are what is shown.
            assert [c.callerid for c in queue.waiting] == ["5550002"]
            assert len(queue.members) == 2
            assert queue.counters.offered == 2
            assert queue.counters.unknown_outcome == 1
        finally:
            await link.client.close()
            await restarted.stop()
    finally:
        await link.client.close()

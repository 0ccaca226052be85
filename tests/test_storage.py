from __future__ import annotations

import socket
from pathlib import Path

import pytest
import redis

from callcenter.storage import EmbeddedValkey, probe


def test_embedded_server_starts_stops_and_keeps_data_across_restarts(tmp_path: Path) -> None:
    server = EmbeddedValkey(tmp_path / "valkey")
    url = server.start()
    try:
        client = redis.Redis.from_url(url)
        client.set("accepted", "callback-1")
        client.close()
    finally:
        server.stop()
    assert not server.is_running()
    again = EmbeddedValkey(tmp_path / "valkey")
    url = again.start()
    try:
        client = redis.Redis.from_url(url)
        assert client.get("accepted") == b"callback-1"
        client.close()
    finally:
        again.stop()


def test_an_acknowledged_write_survives_a_kill_9(tmp_path: Path) -> None:
    server = EmbeddedValkey(tmp_path / "valkey")
    url = server.start()
    client = redis.Redis.from_url(url)
    client.set("accepted", "callback-2")  # the reply means fsync'ed (appendfsync always)
    client.close()
    server.kill()
    assert not server.is_running()
    again = EmbeddedValkey(tmp_path / "valkey")
    url = again.start()
    try:
        client = redis.Redis.from_url(url)
        assert client.get("accepted") == b"callback-2"
        assert client.config_get("appendfsync") == {"appendfsync": "always"}
        client.close()
    finally:
        again.stop()


def test_a_server_without_a_port_moves_on_when_its_port_is_taken_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parallel test workers start their servers at the same moment: the port chosen can be gone by the bind."""
    import callcenter.storage as storage

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    ports = iter([taken.getsockname()[1]])
    monkeypatch.setattr(storage, "ephemeral_port", lambda host="127.0.0.1": next(ports, 0) or free_port())
    server = EmbeddedValkey(durable=False)
    try:
        server.start()
        assert server.port != taken.getsockname()[1]
        assert probe("127.0.0.1", server.port) is None
    finally:
        server.stop()
        taken.close()


def free_port() -> int:
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        return int(spare.getsockname()[1])

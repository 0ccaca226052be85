from __future__ import annotations

from pathlib import Path

import redis

from callcenter.storage import EmbeddedValkey


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

"""The resident's address behind a trusted reverse proxy, and only behind one."""

from __future__ import annotations

from callcenter.web.remote import client_address, networks

PROXIES = networks(["10.0.0.2", "192.168.0.0/24"])


def test_the_right_most_untrusted_hop_is_the_resident() -> None:
    assert client_address("10.0.0.2", ["203.0.113.7"], PROXIES) == "203.0.113.7"
    # The resident's own (forgeable) claims sit to the left of what our proxies appended.
    assert client_address("10.0.0.2", ["1.1.1.1, 203.0.113.7, 192.168.0.9"], PROXIES) == "203.0.113.7"
    assert client_address("10.0.0.2", ["1.1.1.1", "203.0.113.7"], PROXIES) == "203.0.113.7"


def test_the_header_counts_only_from_a_trusted_proxy() -> None:
    assert client_address("203.0.113.7", ["1.1.1.1"], PROXIES) == "203.0.113.7"
    assert client_address("10.0.0.2", [], PROXIES) == "10.0.0.2"
    assert client_address("10.0.0.2", ["1.1.1.1"], []) == "10.0.0.2"


def test_a_malformed_header_leaves_the_proxys_address() -> None:
    assert client_address("10.0.0.2", ["not-an-address, 203.0.113.7"], PROXIES) == "10.0.0.2"
    assert client_address("10.0.0.2", ["192.168.0.3"], PROXIES) == "192.168.0.3"  # proxies all the way

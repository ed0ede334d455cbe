"""The limits' settings (each bad value names its variable) and how a client is told apart
(the connection's peer, or a trusted proxy's X-Forwarded-For)."""

from __future__ import annotations

import ipaddress

import pytest
from aiohttp.test_utils import make_mocked_request

from gateway.client_address import client_address
from gateway.env_values import GatewaySettingsError
from gateway.limit_settings import LimitSettings, Rate
from gateway.settings import GatewaySettings


def test_defaults_and_forms() -> None:
    assert LimitSettings.from_env({}) == LimitSettings(
        header_timeout_seconds=15, body_timeout_seconds=10, sessions=Rate(30, 60),
        sockets=Rate(120, 60), max_sockets_per_client=50, trusted_proxies=())
    limits = LimitSettings.from_env({
        "PARLEY_HEADER_TIMEOUT_SECONDS": "2.5", "PARLEY_BODY_TIMEOUT_SECONDS": "30",
        "PARLEY_RATE_LIMIT_SESSIONS": "20/90s", "PARLEY_RATE_LIMIT_SOCKETS": "OFF",
        "PARLEY_MAX_SOCKETS_PER_CLIENT": "0",
        "PARLEY_TRUSTED_PROXIES": " 10.0.0.5, 192.168.0.0/16 ,fd00::/8"})
    assert limits == LimitSettings(
        header_timeout_seconds=2.5, body_timeout_seconds=30, sessions=Rate(20, 90),
        sockets=None, max_sockets_per_client=0, trusted_proxies=(
            ipaddress.ip_network("10.0.0.5/32"), ipaddress.ip_network("192.168.0.0/16"),
            ipaddress.ip_network("fd00::/8")))
    for text, rate in (("5/second", Rate(5, 1)), ("30/minute", Rate(30, 60)),
                       ("100 / hour", Rate(100, 3600)), ("1000/day", Rate(1000, 86400))):
        assert LimitSettings.from_env({"PARLEY_RATE_LIMIT_SOCKETS": text}).sockets == rate


def test_the_gateway_settings_carry_them() -> None:
    settings = GatewaySettings.from_env({"PARLEY_REDIS_URL": "redis://127.0.0.1:6379/0",
                                         "PARLEY_RATE_LIMIT_SESSIONS": "3/minute"})
    assert settings.limits.sessions == Rate(3, 60)
    assert GatewaySettings(redis_url="redis://x").limits == LimitSettings()


@pytest.mark.parametrize(("name", "value"), [
    ("PARLEY_HEADER_TIMEOUT_SECONDS", "0"),
    ("PARLEY_HEADER_TIMEOUT_SECONDS", "soon"),
    ("PARLEY_BODY_TIMEOUT_SECONDS", "601"),
    ("PARLEY_RATE_LIMIT_SESSIONS", "30"),
    ("PARLEY_RATE_LIMIT_SESSIONS", "0/minute"),
    ("PARLEY_RATE_LIMIT_SESSIONS", "30/fortnight"),
    ("PARLEY_RATE_LIMIT_SOCKETS", "30/0s"),
    ("PARLEY_RATE_LIMIT_SOCKETS", "30/86401s"),
    ("PARLEY_RATE_LIMIT_SOCKETS", "-1/minute"),
    ("PARLEY_MAX_SOCKETS_PER_CLIENT", "-1"),
    ("PARLEY_MAX_SOCKETS_PER_CLIENT", "many"),
    ("PARLEY_TRUSTED_PROXIES", "10.0.0.5,proxy.internal"),
    ("PARLEY_TRUSTED_PROXIES", "10.0.0.0/33"),
])
def test_a_bad_value_names_its_variable(name: str, value: str) -> None:
    with pytest.raises(GatewaySettingsError, match=name):
        GatewaySettings.from_env({"PARLEY_REDIS_URL": "redis://127.0.0.1:6379/0",
                                  name: value})


def _client(peer: str, *forwarded: str, trusted: str = "") -> str:
    request = make_mocked_request("GET", "/", headers=[("X-Forwarded-For", value)
                                                       for value in forwarded])
    networks = LimitSettings.from_env({"PARLEY_TRUSTED_PROXIES": trusted}).trusted_proxies
    return client_address(request.clone(remote=peer), networks)


def test_the_peer_is_the_client_unless_it_is_a_trusted_proxy() -> None:
    assert _client("203.0.113.7", "198.51.100.1") == "203.0.113.7"  # header not believed
    assert _client("10.0.0.2", "198.51.100.1", trusted="10.0.0.0/8") == "198.51.100.1"
    # Right to left, past every trusted proxy; what the client wrote further left is ignored.
    assert _client("10.0.0.2", "1.2.3.4, 198.51.100.1, 10.0.0.9",
                   trusted="10.0.0.0/8") == "198.51.100.1"
    assert _client("10.0.0.2", "1.2.3.4", "198.51.100.1", trusted="10.0.0.0/8") == \
        "198.51.100.1"  # two headers are one list
    # Only proxies: the farthest one; no header: the proxy itself.
    assert _client("10.0.0.2", "10.0.0.3", trusted="10.0.0.0/8") == "10.0.0.3"
    assert _client("10.0.0.2", trusted="10.0.0.0/8") == "10.0.0.2"
    # Garbage where an address should be: the last trusted hop is the client.
    assert _client("10.0.0.2", "1.2.3.4, nonsense", trusted="10.0.0.0/8") == "10.0.0.2"


def test_ipv6_clients_count_per_64_and_mapped_ipv4_as_ipv4() -> None:
    assert _client("2001:db8:1:2::5") == _client("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    assert _client("2001:db8:1:3::5") != _client("2001:db8:1:2::5")
    assert _client("::ffff:203.0.113.7") == "203.0.113.7"
    assert _client("not-an-ip") == "local"

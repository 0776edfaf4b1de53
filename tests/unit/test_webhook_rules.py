"""Webhooks without a network: which URLs and addresses are refused, the signature, and the
request the sending path builds (through an injected resolver and transport)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.actions import webhooks
from shared.actions.webhooks import (
    Delivery,
    IPAddress,
    WebhookFailed,
    WebhookRefused,
    checked_addresses,
    deliver,
    is_public,
    parse_target,
    sign,
    verify,
)

ALLOWED = ("hooks.example.com", "8.8.8.8", "2606:4700:4700::1111")


# --- URLs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "host", "port", "path"),
    [
        ("https://hooks.example.com/in", "hooks.example.com", 443, "/in"),
        ("https://HOOKS.example.com./in?x=1&y=2", "hooks.example.com", 443, "/in?x=1&y=2"),
        ("https://hooks.example.com:8443", "hooks.example.com", 8443, "/"),
        ("https://hooks.example.com/a#fragment", "hooks.example.com", 443, "/a"),
        ("https://8.8.8.8/x", "8.8.8.8", 443, "/x"),
        ("https://[2606:4700:4700::1111]/x", "2606:4700:4700::1111", 443, "/x"),
    ],
)
def test_accepted_urls(url: str, host: str, port: int, path: str) -> None:
    target = parse_target(url, ALLOWED)
    assert (target.host, target.port, target.path) == (host, port, path)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.com/in", "https"),
        ("ftp://hooks.example.com/in", "https"),
        ("hooks.example.com/in", "https"),
        ("https://user:pw@hooks.example.com/in", "credentials"),
        ("https://user@hooks.example.com/in", "credentials"),
        ("https:///in", "needs a host"),
        ("https://other.example.com/in", "not in WEBHOOK_ALLOWED_HOSTS"),
        ("https://hooks.example.com.evil.net/in", "not in WEBHOOK_ALLOWED_HOSTS"),
        ("https://evil.net/hooks.example.com", "not in WEBHOOK_ALLOWED_HOSTS"),
        ("https://hooks.example.com:99999/in", "not a valid URL"),
        ("https://hooks.exämple.com/in", "punycode"),
        ("https://127.0.0.1/in", "private"),
        ("https://10.1.2.3/in", "private"),
        ("https://172.16.0.1/in", "private"),
        ("https://192.168.1.1/in", "private"),
        ("https://169.254.169.254/computeMetadata/v1/", "private"),
        ("https://100.64.0.1/in", "private"),
        ("https://0.0.0.0/in", "private"),
        ("https://[::1]/in", "private"),
        ("https://[fe80::1]/in", "private"),
        ("https://[fc00::1]/in", "private"),
        ("https://[::ffff:127.0.0.1]/in", "private"),
        ("https://[::ffff:169.254.169.254]/in", "private"),
        ("https://224.0.0.1/in", "private"),
    ],
)
def test_refused_urls(url: str, reason: str) -> None:
    with pytest.raises(WebhookRefused, match=reason):
        parse_target(url, (*ALLOWED, "127.0.0.1", "10.1.2.3", "169.254.169.254"))


def test_an_empty_allowlist_refuses_every_host() -> None:
    with pytest.raises(WebhookRefused, match="WEBHOOK_ALLOWED_HOSTS is empty"):
        parse_target("https://hooks.example.com/in", ())


# --- addresses -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "127.8.9.10", "10.0.0.1", "172.31.255.255", "192.168.0.1", "169.254.169.254",
        "100.64.0.1", "0.0.0.0", "255.255.255.255", "224.0.0.251", "240.0.0.1", "192.0.2.1",
        "198.18.0.1", "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1",
        "::ffff:10.0.0.1", "2002:7f00:1::", "2002:a00:1::", "64:ff9b::a00:1", "2001::1",
        "2001:db8::1",
    ],
)  # fmt: skip
def test_non_public_addresses(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e"]
)
def test_public_addresses(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        [st.ip_addresses(v=4, network=n) for n in ("10.0.0.0/8", "127.0.0.0/8", "192.168.0.0/16")]
        + [st.ip_addresses(v=6, network="fe80::/10")]
    )
)
def test_private_ranges_are_never_public(address: IPAddress) -> None:
    assert not is_public(address)
    # ... nor when hidden in an IPv4-mapped IPv6 address
    if isinstance(address, ipaddress.IPv4Address):
        assert not is_public(ipaddress.IPv6Address(f"::ffff:{address}"))


def test_every_resolved_address_is_checked() -> None:
    assert checked_addresses("h", ["8.8.8.8", "1.1.1.1"]) == ["8.8.8.8", "1.1.1.1"]
    # one private answer among public ones refuses the host (DNS answers can be mixed)
    with pytest.raises(WebhookRefused, match=r"10\.0\.0\.7"):
        checked_addresses("h", ["8.8.8.8", "10.0.0.7"])
    with pytest.raises(WebhookRefused, match="not a public"):
        checked_addresses("h", ["::1"])
    with pytest.raises(WebhookFailed, match="no address"):
        checked_addresses("h", [])


# --- signature -------------------------------------------------------------------------------


def test_signature_matches_rfc4231_test_case_2() -> None:
    """HMAC-SHA256 with key "Jefe" over "what do ya want for nothing?" (RFC 4231, 4.3)."""
    expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert sign(b"Jefe", b"what do ya want for nothing?") == f"sha256={expected}"


def test_verify_refuses_another_body_or_key() -> None:
    body = b'{"runId":"r1"}'
    signature = sign(b"k1", body)
    assert verify(b"k1", body, signature)
    assert not verify(b"k2", body, signature)
    assert not verify(b"k1", body + b" ", signature)


# --- sending, with an injected resolver and transport -----------------------------------------


class FakeTransport:
    def __init__(self, status: int = 204) -> None:
        self.status = status
        self.sent: list[Delivery] = []

    def __call__(self, delivery: Delivery) -> int:
        self.sent.append(delivery)
        return self.status


def resolver(answers: dict[str, list[str]]) -> webhooks.Resolver:
    return lambda host, _port: answers[host]


def send(transport: FakeTransport, url: str = "https://hooks.example.com/in",
         answers: list[str] | None = None) -> int:  # fmt: skip
    return deliver(
        url,
        b'{"rowIds":["a"]}',
        idempotency_key="run-1",
        key=b"secret",
        allowed_hosts=ALLOWED,
        resolver=resolver({"hooks.example.com": answers or ["8.8.4.4", "1.0.0.1"]}),
        transport=transport,
    )


def test_a_delivery_is_signed_keyed_and_pinned_to_a_checked_address() -> None:
    transport = FakeTransport()
    assert send(transport) == 204
    (delivery,) = transport.sent
    assert delivery.address == "8.8.4.4"
    assert delivery.fallbacks == ("1.0.0.1",)
    assert delivery.target.host == "hooks.example.com"
    assert delivery.target.path == "/in"
    assert delivery.timeout <= 10
    headers = delivery.headers
    assert headers["Idempotency-Key"] == "run-1"
    assert headers["Content-Type"] == "application/json"
    digest = hmac.new(b"secret", delivery.body, hashlib.sha256).hexdigest()
    assert headers["X-Slices-Signature"] == f"sha256={digest}"
    assert json.loads(delivery.body) == {"rowIds": ["a"]}


def test_a_host_resolving_to_a_private_address_is_never_contacted() -> None:
    transport = FakeTransport()
    with pytest.raises(WebhookRefused, match=r"169\.254\.169\.254"):
        send(transport, answers=["8.8.4.4", "169.254.169.254"])
    assert transport.sent == []


def test_a_refused_url_is_never_resolved() -> None:
    def no_dns(host: str, port: int) -> list[str]:
        raise AssertionError("resolved a refused host")

    with pytest.raises(WebhookRefused):
        deliver("http://hooks.example.com/in", b"{}", idempotency_key="r", key=b"k",
                allowed_hosts=ALLOWED, resolver=no_dns, transport=FakeTransport())  # fmt: skip


@pytest.mark.parametrize(("status", "message"), [(301, "redirects are not followed"),
                                                 (307, "redirects"), (400, "HTTP 400"),
                                                 (500, "HTTP 500"), (101, "HTTP 101")])  # fmt: skip
def test_redirects_and_errors_fail_the_delivery(status: int, message: str) -> None:
    with pytest.raises(WebhookFailed, match=message):
        send(FakeTransport(status))


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_any_2xx_is_accepted(status: int) -> None:
    assert send(FakeTransport(status)) == status


def test_the_real_transport_fails_cleanly_when_no_address_answers() -> None:
    """Only loopback, on a port nobody listens on: every checked address is tried, then a
    WebhookFailed (never an unhandled socket error)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends
    delivery = Delivery(
        target=webhooks.Target("hooks.example.com", port, "/in"),
        address="127.0.0.1",
        fallbacks=("127.0.0.1",),
        headers={},
        body=b"{}",
        timeout=2,
    )
    with pytest.raises(WebhookFailed, match=r"hooks\.example\.com"):
        webhooks.https_transport(delivery)

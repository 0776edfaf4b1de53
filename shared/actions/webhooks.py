"""Webhooks: which URLs an action may call, and signed, pinned, redirect-free delivery.

A webhook URL must be ``https``, name a host on the allowlist (``WEBHOOK_ALLOWED_HOSTS``,
exact host names), carry no credentials, and never be an IP literal outside the public
internet. At delivery the host is resolved and **every** address it resolves to must be public
(no private, loopback, link-local, shared, reserved, multicast or unspecified address, also
when embedded in IPv4-mapped, 6to4 or NAT64 IPv6 addresses); the connection then goes to one of
those checked addresses, with TLS verified against the host name, so a second DNS answer cannot
swap in another address (DNS rebinding).

Each request is ``POST`` with a JSON body, an ``Idempotency-Key`` header (the run id: a
retried run sends the same key) and ``X-Slices-Signature: sha256=<hex HMAC-SHA256 of the body
with the signing key>``. Timeouts are short and redirects are never followed: a 3xx is a
failure, as is any status outside 2xx.

Resolution and the HTTP transport are parameters, so the checks and the request can be tested
without a network.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from shared.errors import FailedPrecondition

SIGNATURE_HEADER = "X-Slices-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
USER_AGENT = "slices-actions/1"
TIMEOUT_SECONDS = 10.0
MAX_RESPONSE_BYTES = 64 * 1024

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class WebhookRefused(FailedPrecondition):
    """The URL, or an address its host resolves to, may not be called (a permanent error)."""


class WebhookFailed(Exception):
    """The receiver did not accept the delivery (connection, TLS, timeout or non-2xx)."""


@dataclass(frozen=True)
class Target:
    """A checked webhook URL."""

    host: str  # lower-case, no trailing dot; an IP literal without brackets
    port: int
    path: str  # path and query, as sent in the request line

    @property
    def url(self) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{shown}{'' if self.port == 443 else f':{self.port}'}{self.path}"


@dataclass(frozen=True)
class Delivery:
    """One request, bound to the checked address it must be sent to."""

    target: Target
    address: str
    headers: Mapping[str, str]
    body: bytes
    timeout: float = TIMEOUT_SECONDS
    fallbacks: tuple[str, ...] = field(default=())  # further checked addresses of the host


Resolver = Callable[[str, int], list[str]]
Transport = Callable[[Delivery], int]


def is_public(address: IPAddress) -> bool:
    """True only for addresses on the public internet."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and not is_public(embedded):
            return False
        if address.teredo is not None:
            return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def parse_target(url: str, allowed_hosts: Collection[str]) -> Target:
    """Check a webhook URL against the rules above (no DNS); :class:`WebhookRefused` if not."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or 443
    except ValueError as bad:
        raise WebhookRefused(f"not a valid URL: {bad}") from None
    if parts.scheme.lower() != "https":
        raise WebhookRefused("a webhook URL must use https")
    if parts.username is not None or parts.password is not None:
        raise WebhookRefused("a webhook URL must not carry credentials")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise WebhookRefused("a webhook URL needs a host")
    if not host.isascii():
        raise WebhookRefused("write an internationalized host name in its xn-- (punycode) form")
    literal = _ip_literal(host)
    if literal is not None and not is_public(literal):
        raise WebhookRefused(f"{host} is a private, loopback, link-local or reserved address")
    if host not in {h.rstrip(".").lower() for h in allowed_hosts}:
        raise WebhookRefused(
            f"host {host!r} is not in WEBHOOK_ALLOWED_HOSTS"
            if allowed_hosts
            else "no webhook host is allowed (WEBHOOK_ALLOWED_HOSTS is empty)"
        )
    path = parts.path or "/"
    return Target(host, port, f"{path}?{parts.query}" if parts.query else path)


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def resolve(host: str, port: int) -> list[str]:
    """Every address the host resolves to (system resolver), in its order, deduplicated."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise WebhookFailed(f"cannot resolve {host}: {error}") from error
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def checked_addresses(host: str, addresses: list[str]) -> list[str]:
    """The addresses, if every one of them is public; otherwise :class:`WebhookRefused`."""
    if not addresses:
        raise WebhookFailed(f"{host} resolves to no address")
    for text in addresses:
        try:
            address = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            raise WebhookRefused(f"{host} resolves to {text!r}, not an IP address") from None
        if not is_public(address):
            raise WebhookRefused(f"{host} resolves to {address}, which is not a public address")
    return addresses


def sign(key: bytes, body: bytes) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify(key: bytes, body: bytes, signature: str) -> bool:
    """What a receiver does: compare in constant time."""
    return hmac.compare_digest(sign(key, body), signature)


def deliver(
    url: str,
    body: bytes,
    *,
    idempotency_key: str,
    key: bytes,
    allowed_hosts: Collection[str],
    resolver: Resolver = resolve,
    transport: Transport | None = None,
) -> int:
    """Send one signed POST to a checked URL at a checked address; its (2xx) HTTP status."""
    target = parse_target(url, allowed_hosts)
    addresses = checked_addresses(target.host, resolver(target.host, target.port))
    delivery = Delivery(
        target=target,
        address=addresses[0],
        fallbacks=tuple(addresses[1:]),
        body=body,
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            IDEMPOTENCY_HEADER: idempotency_key,
            SIGNATURE_HEADER: sign(key, body),
        },
    )
    status = (transport or https_transport)(delivery)
    if 300 <= status < 400:
        raise WebhookFailed(f"{target.url} answered HTTP {status}; redirects are not followed")
    if not 200 <= status < 300:
        raise WebhookFailed(f"{target.url} answered HTTP {status}")
    return status


class _PinnedConnection(http.client.HTTPSConnection):
    """HTTPS to a given address, with SNI and certificate checks for the host name."""

    def __init__(self, delivery: Delivery, address: str, context: ssl.SSLContext) -> None:
        super().__init__(
            delivery.target.host, delivery.target.port, timeout=delivery.timeout, context=context
        )
        self._address = address
        self._tls = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def https_transport(delivery: Delivery) -> int:
    """The real transport. Connects to the checked addresses in turn until one answers the
    TLS handshake; once a request is sent it is never sent to another address."""
    context = ssl.create_default_context()
    last: Exception | None = None
    for address in (delivery.address, *delivery.fallbacks):
        connection = _PinnedConnection(delivery, address, context)
        try:
            connection.connect()
        except OSError as error:
            connection.close()
            last = error
            continue
        try:
            connection.request(
                "POST", delivery.target.path, body=delivery.body, headers=dict(delivery.headers)
            )
            response = connection.getresponse()
            response.read(MAX_RESPONSE_BYTES)
            return int(response.status)
        except (OSError, http.client.HTTPException) as error:
            raise WebhookFailed(f"{delivery.target.url}: {error}") from error
        finally:
            connection.close()
    raise WebhookFailed(f"{delivery.target.url}: {last}")

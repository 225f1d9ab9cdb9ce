"""The one address guard for every URL the server fetches on someone else's behalf.

Webhook deliveries, provider result downloads and any other server-side request go through it,
so a user cannot point the server at its own network (SSRF: loopback services, the cloud
metadata endpoint, databases on a private subnet).

The API is small:

    allow = AllowList.parse(settings.WEBHOOK_ALLOWED_HOSTS)  # operator exceptions, may be empty
    await check_url(url, allow, field="url")   # at registration: raises OutboundRefused
    async with guarded_client(allow, timeout=10) as client:
        await client.post(url, ...)             # at request time: checked again at connect

`guarded_client` resolves the host itself when it connects, refuses the connection if *any*
resolved address is not public, and connects to the very address it checked (TLS still uses
the host name for SNI and certificate checks), so DNS rebinding between check and connect has
no window. Redirects are not followed and proxies from the environment are ignored.

Every refusal carries the same text, whatever the reason (bad scheme, private address, a name
that does not resolve): a caller learns nothing about the server's network, and no connection
is ever attempted to a refused address, so open and closed ports look the same.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx

from videofoundry.core import tls
from videofoundry.core.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

REFUSED_TEXT = "is not an allowed destination: use an http or https URL of a public host"
SCHEMES = frozenset({"http", "https"})
# NAT64 (RFC 6052) carries an IPv4 address in its low 32 bits; the gateway would reach it.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class OutboundRefused(InvalidInput):
    """A URL the guard will not fetch. The message is the same for every reason."""

    def __init__(self, field: str = "url") -> None:
        super().__init__(f"{field} {REFUSED_TEXT}", field)


@dataclass(frozen=True)
class AllowList:
    """Operator exceptions: `host` (any port) or `host:port`, matched on the URL's host as
    written (lower case, without a trailing dot or IPv6 brackets). An allowed host skips the
    address check entirely, so list exact receivers, not whole networks."""

    entries: frozenset[tuple[str, int | None]] = field(default_factory=frozenset)

    @classmethod
    def parse(cls, spec: str | Iterable[str]) -> AllowList:
        items = spec.split(",") if isinstance(spec, str) else list(spec)
        entries: set[tuple[str, int | None]] = set()
        for raw in items:
            item = raw.strip()
            if not item:
                continue
            host, port = item, None
            if item.startswith("["):  # [v6] or [v6]:port
                host, _, rest = item[1:].partition("]")
                port = int(rest[1:]) if rest.startswith(":") else None
            elif item.count(":") == 1:
                host, _, port_text = item.partition(":")
                port = int(port_text)
            entries.add((_canonical_host(host), port))
        return cls(frozenset(entries))

    def allows(self, host: str, port: int) -> bool:
        host = _canonical_host(host)
        return (host, None) in self.entries or (host, port) in self.entries


def _canonical_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def literal_address(host: str) -> IPAddress | None:
    """The address a host string names by itself, in any spelling a resolver accepts: dotted,
    short (`127.1`), decimal (`2130706433`), hex (`0x7f.1`), octal, IPv6 with or without
    brackets and zone. None for a name that needs DNS."""
    text = _canonical_host(host).split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    try:
        # inet_aton is what the C resolver applies to numeric hosts, legacy forms included.
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


def is_public(address: IPAddress) -> bool:
    """True only for globally routable unicast addresses, looking inside IPv6 forms that carry
    an IPv4 address (mapped, NAT64, 6to4, Teredo)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded: list[IPAddress] = []
        if address.ipv4_mapped is not None:
            embedded.append(address.ipv4_mapped)
        if address in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.sixtofour is not None:
            embedded.append(address.sixtofour)
        if address.teredo is not None:
            embedded.extend(address.teredo)
        if any(not is_public(inner) for inner in embedded):
            return False
        if address.ipv4_mapped is not None:
            return True
        if address.is_site_local:
            return False
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the host resolves to (or the literal it spells). Raises OSError."""
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(_canonical_host(host), port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


async def public_addresses(host: str, port: int, allow: AllowList) -> list[IPAddress] | None:
    """The addresses to connect to, all checked; None when the host is on the allowlist (the
    caller connects normally). Raises OutboundRefused when any address is not public."""
    if allow.allows(host, port):
        return None
    try:
        addresses = await resolve(host, port)
    except (OSError, UnicodeError, ValueError) as exc:
        raise OutboundRefused() from exc
    if not addresses or not all(is_public(a) for a in addresses):
        raise OutboundRefused()
    return addresses


def parse_url(url: str, field: str = "url") -> httpx.URL:
    """Parse with the same parser the client uses; refuse schemes other than http(s), userinfo
    (a classic way to disguise the real host) and URLs without a host."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise OutboundRefused(field) from exc
    if parsed.scheme not in SCHEMES or not parsed.host or parsed.userinfo:
        raise OutboundRefused(field)
    return parsed


def _port_of(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


async def check_url(url: str, allow: AllowList | None = None, field: str = "url") -> httpx.URL:
    """Refuse (OutboundRefused naming `field`) a URL the guarded client would refuse; returns
    it parsed. Use at registration for an early 422; the client checks again at connect."""
    parsed = parse_url(url, field)
    try:
        await public_addresses(parsed.host, _port_of(parsed), allow or AllowList())
    except OutboundRefused as exc:
        raise OutboundRefused(field) from exc
    return parsed


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves and checks at connect time, then connects to the checked address itself."""

    def __init__(self, allow: AllowList) -> None:
        self._allow = allow
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await public_addresses(host, port, self._allow)
        if addresses is None:
            return await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise OutboundRefused()

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """An httpx transport whose every connection passes the guard."""

    def __init__(self, allow: AllowList | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("trust_env", False)
        kwargs.setdefault("verify", tls.client_context())  # not a new one per transport
        super().__init__(**kwargs)
        limits: httpx.Limits = kwargs.get("limits", httpx.Limits())
        # httpx builds its connection pool without a way to pass a network backend; this is
        # the same pool it builds, plus the guarded backend.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=kwargs["verify"]),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            retries=0,
            network_backend=_GuardedBackend(allow or AllowList()),
        )


def guarded_client(allow: AllowList | None = None, **kwargs: Any) -> httpx.AsyncClient:
    """An AsyncClient that only reaches public addresses (or the allowlist), follows no
    redirects and ignores proxy settings from the environment. `kwargs` go to AsyncClient
    (timeout, headers, ...)."""
    kwargs.setdefault("follow_redirects", False)
    return httpx.AsyncClient(transport=GuardedTransport(allow), trust_env=False, **kwargs)

"""The outbound address guard: spellings of private addresses, the allowlist, and the check at
connect time (no DNS rebinding, no connection attempted to a refused address)."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator

import httpx
import pytest

from videofoundry.core import outbound
from videofoundry.core.outbound import AllowList, OutboundRefused, check_url, guarded_client

REFUSED_SPELLINGS = [
    "http://127.0.0.1/",
    "http://127.0.0.1.:8080/",  # trailing dot
    "http://localhost/",
    "http://LOCALHOST./hook",
    "http://2130706433/",  # decimal
    "http://0x7f000001/",  # hex, one part
    "http://0x7f.1/",  # hex, short
    "http://127.1/",  # short dotted
    "http://0177.0.0.1/",  # octal
    "http://017700000001/",  # octal, one part
    "http://0/",  # unspecified
    "http://0.0.0.0/",
    "http://[::1]/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped
    "http://[0:0:0:0:0:ffff:7f00:1]/",
    "http://[::ffff:a9fe:a9fe]/",  # mapped metadata address
    "http://[64:ff9b::a00:1]/",  # NAT64 of 10.0.0.1
    "http://[2002:c0a8:0101::1]/",  # 6to4 of 192.168.1.1
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://[fd00:ec2::254]/",  # AWS metadata over IPv6
    "http://100.100.100.200/",  # Alibaba metadata, shared address space
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://[fe80::1%25eth0]/",  # link-local with a zone
    "http://[fc00::1]/",
    "http://224.0.0.1/",  # multicast
    "http://[ff02::1]/",
    "http://240.0.0.1/",  # reserved
    "http://255.255.255.255/",
    "http://192.0.2.1/",  # documentation range
    "http://198.18.0.1/",  # benchmarking range
    "ftp://93.184.216.34/",  # scheme
    "file:///etc/passwd",
    "gopher://93.184.216.34/",
    "http://user:pw@93.184.216.34/",  # userinfo disguising the host
    "http:///nohost",
    "not a url",
    "http://name-that-does-not-resolve.invalid/",
]


@pytest.mark.parametrize("url", REFUSED_SPELLINGS)
async def test_refused_spellings_share_one_message(url: str) -> None:
    with pytest.raises(OutboundRefused) as caught:
        await check_url(url, field="url")
    assert caught.value.message == f"url {outbound.REFUSED_TEXT}"
    assert caught.value.field == "url"


@pytest.mark.parametrize(
    "address",
    ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "1.1.1.1"],
)
def test_public_addresses_pass(address: str) -> None:
    assert outbound.is_public(ipaddress.ip_address(address))


async def test_public_literal_url_passes() -> None:
    parsed = await check_url("https://93.184.216.34:8443/hook?x=1")
    assert parsed.host == "93.184.216.34"


def test_allowlist_parsing_and_matching() -> None:
    allow = AllowList.parse(" receiver.local , 127.0.0.1:8123,[::1]:9000,Hooks.Example.COM. ")
    assert allow.allows("receiver.local", 1)
    assert allow.allows("127.0.0.1", 8123)
    assert not allow.allows("127.0.0.1", 8124)
    assert allow.allows("::1", 9000)
    assert allow.allows("hooks.example.com", 443)
    assert not AllowList.parse("").allows("127.0.0.1", 80)


async def test_allowlisted_host_passes_only_on_its_port() -> None:
    allow = AllowList.parse("127.0.0.1:8123")
    await check_url("http://127.0.0.1:8123/hook", allow)
    with pytest.raises(OutboundRefused):
        await check_url("http://127.0.0.1:8124/hook", allow)
    with pytest.raises(OutboundRefused):  # another spelling is not the listed host
        await check_url("http://2130706433:8123/hook", allow)


class _Listener:
    """A loopback HTTP server that counts the connections it accepts."""

    def __init__(self) -> None:
        self.connections = 0
        self.hosts: list[str] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> _Listener:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        head = await reader.readuntil(b"\r\n\r\n")
        for line in head.decode().split("\r\n"):
            if line.lower().startswith("host:"):
                self.hosts.append(line.split(":", 1)[1].strip())
        writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()


@pytest.fixture
async def listener() -> AsyncIterator[_Listener]:
    async with _Listener() as server:
        yield server


async def test_client_refuses_loopback_without_connecting(listener: _Listener) -> None:
    async with guarded_client(timeout=5) as client:
        for host in ("127.0.0.1", "localhost", "2130706433", "127.1", "[::ffff:127.0.0.1]"):
            with pytest.raises(OutboundRefused):
                await client.get(f"http://{host}:{listener.port}/")
    assert listener.connections == 0


async def test_client_reaches_allowlisted_receiver(listener: _Listener) -> None:
    allow = AllowList.parse(f"127.0.0.1:{listener.port}")
    async with guarded_client(allow, timeout=5) as client:
        answer = await client.get(f"http://127.0.0.1:{listener.port}/")
    assert answer.status_code == 204
    assert listener.connections == 1


async def test_dns_rebinding_is_caught_at_connect(
    listener: _Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name resolves to a public address at registration and to loopback at delivery."""
    answers = iter([[ipaddress.ip_address("93.184.216.34")], [ipaddress.ip_address("127.0.0.1")]])

    async def rebinding(host: str, port: int) -> list[outbound.IPAddress]:
        return next(answers)

    monkeypatch.setattr(outbound, "resolve", rebinding)
    url = f"http://rebind.example:{listener.port}/"
    await check_url(url)
    async with guarded_client(timeout=5) as client:
        with pytest.raises(OutboundRefused):
            await client.get(url)
    assert listener.connections == 0


async def test_client_connects_to_the_address_it_checked(
    listener: _Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The resolution made for the check is the one connected to, with the Host header kept:
    here a name resolves (once) to the listener, which the test declares public."""
    calls: list[str] = []

    async def once(host: str, port: int) -> list[outbound.IPAddress]:
        calls.append(host)
        return [ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr(outbound, "resolve", once)
    monkeypatch.setattr(outbound, "is_public", lambda address: True)
    async with guarded_client(timeout=5) as client:
        answer = await client.get(f"http://hooks.example:{listener.port}/")
    assert answer.status_code == 204
    assert calls == ["hooks.example"]
    assert listener.hosts == [f"hooks.example:{listener.port}"]


async def test_redirects_are_not_followed(monkeypatch: pytest.MonkeyPatch) -> None:
    async def redirect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/\r\n"
            b"Content-Length: 0\r\nConnection: close\r\n\r\n"
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(redirect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with guarded_client(AllowList.parse(f"127.0.0.1:{port}"), timeout=5) as client:
            answer = await client.get(f"http://127.0.0.1:{port}/")
        assert answer.status_code == 302
        assert isinstance(answer, httpx.Response)
    finally:
        server.close()
        await server.wait_closed()

"""Outbound HTTP clients share one TLS context: building one parses the CA bundle on the event
loop, which stalled an AI worker's first segments (bench/scaleout)."""

from __future__ import annotations

import ssl
from typing import Any

import pytest

from videofoundry.adapters.hosted.transport import ProviderHTTP
from videofoundry.core import outbound, tls


def test_one_context_per_process() -> None:
    assert tls.client_context() is tls.client_context()
    assert tls.client_context().verify_mode == ssl.CERT_REQUIRED
    assert tls.client_context().check_hostname


async def test_clients_and_guarded_transports_build_no_context_of_their_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tls.client_context()  # what the AI worker does before it consumes
    built: list[Any] = []
    real = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        built.append(args or kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counting)
    # A provider at a public address: the API client plus the guarded download transport.
    http = ProviderHTTP(
        provider="Example", base_url="https://api.example.com", headers={}, secrets=()
    )
    _api, media = http._clients()
    assert isinstance(media._transport, outbound.GuardedTransport)
    outbound.guarded_client()
    await http.aclose()
    assert built == []

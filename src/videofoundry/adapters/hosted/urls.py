"""Checks on what a provider hands back to be fetched or put into a path: result URLs and task ids.

A provider answer is untrusted input (OWASP API10: unsafe consumption of APIs): a result URL
could point the worker at the cloud metadata service or the internal network, and a task id is
put into URL paths.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

import httpx

from videofoundry.core import outbound
from videofoundry.core.errors import ProviderUnavailable


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_result_url(url: Any, provider: str, *, allow_local: bool) -> str:
    """Refuse result URLs that could point the worker at something it must not fetch.

    A provider answer is untrusted (OWASP API10): only https, at most 2048 characters, and a
    host that is not a non-public address in any spelling (`core.outbound`, the one address
    guard). A name is resolved and checked when the download connects (`media_transport`), so
    a name resolving to a private address is refused there. `allow_local` (set when the
    adapter's own base URL is loopback, i.e. it talks to a fake or a local proxy) also admits
    http and loopback/private hosts.
    """
    if not isinstance(url, str) or not url or len(url) > 2048:
        raise ProviderUnavailable(f"{provider} sent an unusable result URL")
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise ProviderUnavailable(f"{provider} sent a result URL with scheme {parts.scheme!r}")
    if allow_local:
        return url
    if parts.scheme != "https":
        raise ProviderUnavailable(f"{provider} sent a non-https result URL")
    if parts.username is not None or parts.password is not None:
        raise ProviderUnavailable(f"{provider} sent a result URL with credentials in it")
    if host == "localhost" or host.endswith(".localhost"):
        raise ProviderUnavailable(f"{provider} sent a result URL on a local host")
    address = outbound.literal_address(host)
    if address is not None and not outbound.is_public(address):
        raise ProviderUnavailable(f"{provider} sent a result URL on a non-public address")
    return url


def media_transport(allow_local: bool) -> httpx.AsyncBaseTransport | None:
    """The transport of result downloads: the address guard's, which resolves each host at
    connect time and connects only to public addresses; None (httpx's own) when the adapter
    talks to a local fake or proxy."""
    return None if allow_local else outbound.GuardedTransport()


SAFE_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def check_task_id(value: Any, provider: str) -> str:
    """A provider task id is put into URL paths: accept only plain, short tokens."""
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= 128
        or not set(value) <= SAFE_ID_CHARS
        or value in (".", "..")
    ):
        raise ProviderUnavailable(f"{provider} sent an unusable task id")
    return value

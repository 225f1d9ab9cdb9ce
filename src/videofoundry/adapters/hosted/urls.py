"""Checks on what a provider hands back to be fetched or put into a path: result URLs and task ids.

A provider answer is untrusted input (OWASP API10: unsafe consumption of APIs): a result URL
could point the worker at the cloud metadata service or the internal network, and a task id is
put into URL paths.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

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

    A provider answer is untrusted (OWASP API10): only https on a domain or a public IP, at most
    2048 characters. `allow_local` (set when the adapter's own base URL is loopback, i.e. it
    talks to a fake or a local proxy) also admits http and loopback/private hosts.
    DNS is not resolved here; a name resolving to a private address is not caught.
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
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if host == "localhost" or host.endswith(".localhost"):
            raise ProviderUnavailable(f"{provider} sent a result URL on a local host") from None
        return url
    if not address.is_global:
        raise ProviderUnavailable(f"{provider} sent a result URL on a non-public address")
    return url


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

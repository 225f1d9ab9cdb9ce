"""One TLS client context per process for every outbound HTTP client.

Building a context parses the whole CA bundle (about 30 ms of CPU on an idle core, seconds of
wall time on a loaded machine) and httpx builds one per client and transport. A hosted adapter
has two clients, the address guard's transport built two more, and all of that happened on the
event loop during a worker's first segment, stalling every other segment and heartbeat of the
process. A context is safe to share: clients only read it when they open a connection.
"""

from __future__ import annotations

import ssl
from functools import cache

import httpx


@cache
def client_context() -> ssl.SSLContext:
    """httpx's default verifying context (certifi's CAs), built on first use."""
    return httpx.create_ssl_context()

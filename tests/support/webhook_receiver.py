"""A real HTTP receiver for webhook tests: records every request, answers from a script.

Runs on loopback in the test's event loop (asyncio streams, HTTP/1.1, one request per
connection). `script` holds the answers to the next requests in order: a status code, or
`HANG` to read the request and never answer (a receiver that hangs, or a sender killed
mid-attempt); once it is empty every request gets 204.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from tests.services import free_port

HANG = -1


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    script: list[int] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _hung: list[asyncio.StreamWriter] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self) -> Receiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        return self

    async def stop(self) -> None:
        for writer in self._hung:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Receiver:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def wait_for(self, path: str, count: int, timeout: float = 30.0) -> list[Received]:
        """Until `count` requests arrived at `path` (counting those already in)."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: len(self.at(path)) >= count), timeout
            )
        return self.at(path)

    async def wait_for_types(
        self, path: str, types: set[str], timeout: float = 60.0
    ) -> list[Received]:
        """Until events of every type in `types` arrived at `path`."""

        def seen() -> bool:
            return types <= {r.json()["type"] for r in self.at(path)}

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(seen), timeout)
        return self.at(path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        answer = self.script.pop(0) if self.script else 204
        async with self._changed:
            path = lines[0].split(" ")[1] if lines[0].count(" ") >= 2 else ""
            self.received.append(Received(path, headers, body))
            self._changed.notify_all()
        if answer == HANG:
            self._hung.append(writer)
            return
        writer.write(
            f"HTTP/1.1 {answer} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        writer.close()

"""A lean HTTP/1.1 client for the proxy's hop to an OpenAI-compatible upstream.

The hop is one POST of a JSON body to one origin per request. Through httpx it cost the
proxy about 1.5 ms of CPU (httpx -> httpcore -> h11 -> anyio, two thirds of the proxy's
own time) on a path whose whole budget is 3 ms. This client does only what the hop
needs: kept-alive connections to one origin, the answer parsed by httptools (the C parser
uvicorn already uses), the body whole or piece by piece. It has the small part of
`httpx.AsyncClient`'s interface that upstream.py uses and raises httpx's exceptions, so
the two can stand in for each other; httpx still serves upstreams reached through an
HTTP proxy. No redirects, cookies or compression (no Accept-Encoding is sent).
"""

from __future__ import annotations

import asyncio
import json
import select
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import httptools
import httpx

KEEPALIVE_S = 4.0
"""Idle connections older than this are closed, not reused: servers drop idle connections
(uvicorn after 5 s), and a request sent on one just being dropped fails."""


class _Connection:
    """One kept-alive connection; the parser callbacks fill in the current answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.idle_since = time.monotonic()
        self.begin()

    def begin(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []
        self.headers_done = self.done = self.reusable = False

    # -- httptools callbacks (bytes after the end of the answer are not part of it) -----
    def on_message_begin(self) -> None:
        if self.done:  # the server is out of step: drop the connection after this answer
            self.reusable = False

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.done:
            self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        # Informational answers (1xx, e.g. 103 Early Hints) come before the real one.
        self.headers_done = self.parser.get_status_code() >= 200

    def on_body(self, body: bytes) -> None:
        if not self.done:
            self.chunks.append(body)

    def on_message_complete(self) -> None:
        if not self.headers_done:  # the end of a 1xx answer
            self.headers.clear()
        elif not self.done:
            self.done = True
            self.reusable = bool(self.parser.should_keep_alive())

    # -- I/O -----------------------------------------------------------------------------
    async def read_more(self, timeout: float) -> None:
        """Feed the parser the next bytes from the server."""
        try:
            async with asyncio.timeout(timeout):
                data = await self.reader.read(65536)
        except TimeoutError:
            raise httpx.ReadTimeout(f"no answer from the upstream within {timeout:g} s",
                                    ) from None
        except OSError as err:
            raise httpx.ReadError(str(err) or type(err).__name__) from None
        if not data:
            if self.headers_done and not {"content-length", "transfer-encoding"} & set(
                    self.headers):
                self.done = True  # a body delimited by the end of the connection
                return
            raise httpx.RemoteProtocolError("the upstream closed the connection mid-answer")
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as err:
            raise httpx.RemoteProtocolError(f"malformed answer from the upstream: {err}",
                                            ) from None

    def stale(self) -> bool:
        """An idle connection the server closed (or sent stray bytes on) is not reusable."""
        if (self.reader.at_eof() or self.writer.is_closing()
                or time.monotonic() - self.idle_since > KEEPALIVE_S):
            return True
        # The server's FIN may be in the socket but not yet seen by the event loop.
        poller = select.poll()
        poller.register(self.writer.get_extra_info("socket").fileno(), select.POLLIN)
        return bool(poller.poll(0))

    def close(self) -> None:
        self.writer.close()


class Response:
    """One answer: status and headers at once, the body on demand."""

    def __init__(self, conn: _Connection, timeout: float) -> None:
        self._conn, self._timeout = conn, timeout
        self.status_code = conn.parser.get_status_code()
        self.headers = conn.headers
        self.content = b""

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        conn = self._conn
        while True:
            chunks, conn.chunks = conn.chunks, []
            for piece in chunks:
                yield piece
            if conn.done:
                return
            await conn.read_more(self._timeout)

    async def aiter_lines(self) -> AsyncIterator[str]:
        # Lines end at "\n" (an optional "\r" before it is dropped); a UTF-8 character
        # split across two pieces waits for the rest in `pending`.
        pending = b""
        async for piece in self.aiter_bytes():
            *lines, pending = (pending + piece).split(b"\n")
            for line in lines:
                yield line.removesuffix(b"\r").decode("utf-8", "replace")
        if pending:
            yield pending.removesuffix(b"\r").decode("utf-8", "replace")

    async def aread(self) -> bytes:
        self.content = b"".join([piece async for piece in self.aiter_bytes()])
        return self.content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


class Http1Client:
    """POST JSON to one origin over kept-alive HTTP/1.1 connections."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None,
                 timeout: float = 120.0, max_connections: int = 512) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host = url.hostname
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.ssl = httpx.create_ssl_context() if url.scheme == "https" else None
        self.prefix = url.path.rstrip("/")
        self.timeout = timeout
        self.max_connections = max_connections
        fields = {"Host": url.netloc.rpartition("@")[2], "User-Agent": "alignlab-monitor",
                  "Accept": "*/*", "Content-Type": "application/json", **(headers or {})}
        self._head = "".join(f"{k}: {v}\r\n" for k, v in fields.items())
        self._idle: list[_Connection] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots = asyncio.Semaphore(max_connections)

    async def post(self, path: str, json: Any) -> Response:
        async with self.stream("POST", path, json=json) as resp:
            await resp.aread()
        return resp

    @asynccontextmanager
    async def stream(self, method: str, path: str, json: Any) -> AsyncIterator[Response]:
        body = _dumps(json)
        request = (f"{method} {self.prefix}{path} HTTP/1.1\r\n{self._head}"
                   f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1") + body
        async with self._pool_slot():
            conn = await self._connection()
            try:
                await self._send(conn, request)
                while not conn.headers_done:
                    await conn.read_more(self.timeout)
                yield Response(conn, self.timeout)
            except BaseException:
                conn.close()  # a cancelled or failed exchange leaves the connection unusable
                raise
            if conn.done and conn.reusable:
                conn.idle_since = time.monotonic()
                self._idle.append(conn)
            else:  # the answer was not read to its end, or the server ends the connection
                conn.close()

    async def aclose(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()

    # -- connections -----------------------------------------------------------------------
    def _pool_slot(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # connections belong to the loop that opened them
            self._loop, self._idle = loop, []
            self._slots = asyncio.Semaphore(self.max_connections)
        return self._slots

    async def _connection(self) -> _Connection:
        while self._idle:
            conn = self._idle.pop()  # the most recently used is the least likely dropped
            if not conn.stale():
                conn.begin()
                return conn
            conn.close()
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_connection(
                    self.host, self.port, ssl=self.ssl,
                    server_hostname=self.host if self.ssl else None)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {self.host}:{self.port} timed out",
                                       ) from None
        except OSError as err:
            raise httpx.ConnectError(f"cannot connect to {self.host}:{self.port}: {err}",
                                     ) from None
        return _Connection(reader, writer)

    async def _send(self, conn: _Connection, request: bytes) -> None:
        try:
            conn.writer.write(request)
            async with asyncio.timeout(self.timeout):
                await conn.writer.drain()
        except TimeoutError:
            raise httpx.WriteTimeout("sending to the upstream timed out") from None
        except OSError as err:
            raise httpx.WriteError(str(err) or type(err).__name__) from None


def _dumps(obj: Any) -> bytes:
    # Compact and UTF-8, like httpx's json= (NaN is refused when the request is parsed).
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False).encode()

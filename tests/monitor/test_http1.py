"""The lean upstream client: answers framed every way HTTP/1.1 allows, connections kept
alive and dropped at the right times, and every failure raised as an httpx error (the
proxy turns those into 502)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from alignlab.monitor.http1 import Http1Client
from alignlab.monitor.upstream import OpenAIUpstream, UpstreamError, through_env_proxy

OK = b'{"ok": true}'


def answer(body: bytes = OK, status: str = "200 OK", extra: str = "") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n").encode() + body


class Scripted:
    """A loopback server that reads each request and writes what `reply` returns for it:
    bytes, or a list of pieces written one by one, where None hangs up."""

    def __init__(self, reply: Callable[[int, bytes], Any]) -> None:
        self.reply, self.connections, self.requests = reply, 0, []

    async def __aenter__(self) -> Scripted:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/v1"
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.server.close()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                self.requests.append(head + await reader.readexactly(length))
                out = self.reply(len(self.requests), self.requests[-1])
                if asyncio.iscoroutine(out):
                    out = await out
                pieces = out if isinstance(out, list) else [out]
                for piece in pieces:  # None: hang up (after a short pause when not first)
                    if piece is None:
                        if len(pieces) > 1:
                            await asyncio.sleep(0.05)
                        writer.close()
                        return
                    writer.write(piece)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_post_sends_json_and_reuses_the_connection():
    async def main():
        async with Scripted(lambda n, req: answer()) as srv:
            client = Http1Client(srv.url, {"Authorization": "Bearer k"})
            for _ in range(3):
                r = await client.post("/chat/completions", json={"q": "é"})
                assert r.status_code == 200 and r.json() == {"ok": True}
            await client.aclose()
            return srv
    srv = run(main())
    assert srv.connections == 1
    head, body = srv.requests[0].split(b"\r\n\r\n")
    assert head.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert b"Authorization: Bearer k" in head and b"Host: 127.0.0.1:" in head
    assert json.loads(body) == {"q": "é"}


def test_chunked_and_close_delimited_bodies_after_early_hints():
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\n{\"ok\"\r\n7\r\n: true}\r\n0\r\n\r\n")
    until_close = b'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{"ok": true}'

    async def main():
        hints = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
        async with Scripted(lambda n, req: [hints + chunked[:30], chunked[30:]] if n == 1
                            else [until_close, None]) as srv:
            client = Http1Client(srv.url, timeout=5)
            first = await client.post("/x", json={})
            assert first.status_code == 200 and "link" not in first.headers
            second = await client.post("/x", json={})
            third = await client.post("/x", json={})  # the second closed its connection
            return srv, [first.json(), second.json(), third.json()]
    srv, bodies = run(main())
    assert bodies == [{"ok": True}] * 3 and srv.connections == 2


def test_stream_yields_lines_as_they_come_even_split_mid_character():
    event = "data: " + json.dumps({"delta": "café"}, ensure_ascii=False) + "\r\n\r\n"
    raw = event.encode() + b"data: [DONE]\n\n"
    cut = raw.index("é".encode()) + 1  # the first byte of é ends a piece
    pieces = [raw[:cut], raw[cut:]]
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunks = [b"%x\r\n%s\r\n" % (len(p), p) for p in pieces] + [b"0\r\n\r\n"]

    async def main():
        async with Scripted(lambda n, req: [head, *chunks]) as srv:
            client = Http1Client(srv.url, timeout=5)
            async with client.stream("POST", "/x", json={}) as r:
                return r.status_code, [line async for line in r.aiter_lines()]
    status, lines = run(main())
    assert status == 200
    assert lines == [event.removesuffix("\r\n\r\n"), "", "data: [DONE]", ""]


def test_a_connection_the_server_dropped_while_idle_is_not_reused():
    # A blocking server in a thread, so that it can drop a kept-alive connection while the
    # client's event loop is busy and has not seen the FIN yet.
    listener = socket.create_server(("127.0.0.1", 0))
    drop = [threading.Event() for _ in range(3)]

    def serve() -> None:
        for event in drop:
            conn, _ = listener.accept()
            data = b""
            while b"\r\n\r\n{}" not in data:  # the request's JSON body is {}
                data += conn.recv(65536)
            conn.sendall(answer())
            event.wait(10)
            conn.close()

    async def main():
        client = Http1Client(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=5)
        await client.post("/x", json={})
        drop[0].set()
        await asyncio.sleep(0.2)  # the event loop sees the FIN
        await client.post("/x", json={})
        drop[1].set()
        time.sleep(0.2)  # the FIN is in the socket, unseen by the event loop
        assert (await client.post("/x", json={})).json() == {"ok": True}
        drop[2].set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    run(main())
    thread.join(5)
    assert not thread.is_alive()


def test_an_answer_not_read_to_its_end_closes_its_connection():
    async def main():
        long = b'{"ok": true, "long": "' + b"x" * 2**20 + b'"}'  # more than one read
        async with Scripted(lambda n, req: answer(long)) as srv:
            client = Http1Client(srv.url, timeout=5)
            async with client.stream("POST", "/x", json={}) as r:
                assert r.status_code == 200  # body left unread
            assert client._idle == []
            assert (await client.post("/x", json={})).json()["ok"]
            return srv.connections
    assert run(main()) == 2


def test_failures_are_httpx_errors():
    async def slow(n: int, req: bytes) -> bytes:
        await asyncio.sleep(5)
        return answer()

    async def main():
        errors = []
        # First a half-sent answer that never ends, then a hang-up without an answer.
        async with Scripted(lambda n, req: [answer()[:40]] if n == 1 else None) as srv:
            client = Http1Client(srv.url, timeout=0.5)
            for _ in range(2):
                with pytest.raises(httpx.HTTPError) as err:
                    await client.post("/x", json={})
                errors.append(type(err.value))
        async with Scripted(slow) as srv:
            with pytest.raises(httpx.ReadTimeout):
                await Http1Client(srv.url, timeout=0.2).post("/x", json={})
        with pytest.raises(httpx.ConnectError):
            await Http1Client(srv.url, timeout=5).post("/x", json={})  # that server is gone
        return errors
    assert run(main()) == [httpx.ReadTimeout, httpx.RemoteProtocolError]


def test_openai_upstream_over_the_lean_client():
    event = b'data: {"choices": [{"delta": {"content": "Hi"}}]}\n\n'
    stream = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n"
              + b"%x\r\n%s\r\n" % (len(event) * 2, event * 2)
              + b"e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n")
    reply = json.dumps({"choices": [{"message": {"content": "Hello"}, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 3, "completion_tokens": 1}}).encode()

    def script(n: int, req: bytes) -> bytes:
        if b'"stream":true' in req:
            return stream
        return answer(reply) if n == 1 else answer(b"overloaded", "529 Overloaded")

    async def main():
        async with Scripted(script) as srv:
            up = OpenAIUpstream(srv.url, "m")
            assert isinstance(up.client, Http1Client)
            got = await up.complete({"model": "m", "messages": []})
            assert (got.text, got.prompt_tokens, got.completion_tokens) == ("Hello", 3, 1)
            with pytest.raises(UpstreamError, match="529: overloaded"):
                await up.complete({"model": "m", "messages": []})
            pieces = [p async for p in up.stream({"model": "m", "messages": []})]
            await up.aclose()
            return pieces
    assert run(main()) == ["Hi", "Hi"]


def test_an_http_proxy_in_the_environment_keeps_httpx(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    assert through_env_proxy("https://api.example.com/v1")
    assert not through_env_proxy("http://127.0.0.1:8000/v1")
    assert not through_env_proxy("http://api.example.com/v1")  # no HTTP_PROXY
    assert isinstance(OpenAIUpstream("https://api.example.com/v1", "m").client,
                      httpx.AsyncClient)

"""What the proxy stands in front of: an OpenAI-compatible endpoint (passed through with
the lean HTTP/1.1 client of http1.py, streaming included) or any other alignlab target
(run in a worker thread; its reply is streamed in word-sized pieces, since local backends
generate whole texts)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import urllib.request
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from alignlab.models import SamplingParams, load_target, parse_target
from alignlab.monitor.http1 import Http1Client


class UpstreamError(RuntimeError):
    """The upstream failed or answered with an error: the proxy answers 502."""


@dataclass
class Reply:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"


def approx_tokens(text: str) -> int:
    # Rate limits need a token count for backends that report none; ~4 characters per
    # token is the usual rule of thumb for English BPE vocabularies.
    return max(1, len(text) // 4)


def through_env_proxy(url: str) -> bool:
    """Whether HTTP(S)_PROXY / ALL_PROXY (less NO_PROXY) send `url` through a proxy."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies_environment()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(parts.hostname or "")


class OpenAIUpstream:
    def __init__(self, base_url: str, model: str, key_env: str = "OPENAI_API_KEY",
                 timeout_s: float = 120.0) -> None:
        self.name, self.models = f"openai:{base_url}#{model}", [model]
        headers = {}
        if os.environ.get(key_env):
            headers["Authorization"] = f"Bearer {os.environ[key_env]}"
        # httpx costs ~1.5 ms of CPU per request on this hop; it is kept only for what the
        # lean client cannot do: reach the upstream through an HTTP proxy.
        self.client: Http1Client | httpx.AsyncClient
        if through_env_proxy(base_url):
            self.client = httpx.AsyncClient(
                base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s,
                limits=httpx.Limits(max_connections=512, max_keepalive_connections=256))
        else:
            self.client = Http1Client(base_url, headers, timeout_s, max_connections=512)

    async def complete(self, body: dict[str, Any]) -> Reply:
        try:
            resp = await self.client.post("/chat/completions", json=dict(body, stream=False))
        except httpx.HTTPError as err:
            raise UpstreamError(f"upstream unreachable: {err}") from None
        if resp.status_code != 200:
            raise UpstreamError(f"upstream answered {resp.status_code}: {resp.text[:300]}")
        data = resp.json()
        choice = (data.get("choices") or [{}])[0]
        text = (choice.get("message") or {}).get("content") or ""
        usage = data.get("usage") or {}
        return Reply(text, usage.get("prompt_tokens") or approx_tokens(json.dumps(body)),
                     usage.get("completion_tokens") or approx_tokens(text),
                     choice.get("finish_reason") or "stop")

    async def stream(self, body: dict[str, Any]) -> AsyncGenerator[str, None]:
        try:
            async with self.client.stream("POST", "/chat/completions",
                                          json=dict(body, stream=True)) as resp:
                if resp.status_code != 200:
                    text = (await resp.aread()).decode("utf-8", "replace")
                    raise UpstreamError(f"upstream answered {resp.status_code}: {text[:300]}")
                async for line in resp.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    choices = json.loads(data).get("choices") or [{}]
                    piece = (choices[0].get("delta") or {}).get("content")
                    if piece:
                        yield piece
        except httpx.HTTPError as err:
            raise UpstreamError(f"upstream failed mid-stream: {err}") from None

    async def aclose(self) -> None:
        await self.client.aclose()


class TargetUpstream:
    """Any `load_target` spec (embedded, hf, tiny, mock) behind the proxy."""

    def __init__(self, spec: str) -> None:
        self.lm = load_target(spec)
        self.name, self.models = str(spec), [getattr(self.lm, "name", str(spec))]
        self._lock = threading.Lock()  # local models are not safe to call concurrently

    def _generate(self, body: dict[str, Any]) -> Reply:
        params = SamplingParams(max_new_tokens=int(body.get("max_tokens") or 256),
                                temperature=float(body.get("temperature") or 0.0),
                                top_p=float(body.get("top_p") or 1.0), seed=body.get("seed"),
                                stop=tuple(body.get("stop") or ()))
        with self._lock:
            out = self.lm.generate([body["messages"]], params)[0]
        prompt = " ".join(m["content"] for m in body["messages"])
        return Reply(out.text, approx_tokens(prompt),
                     len(out.token_ids) or approx_tokens(out.text), out.finish_reason)

    async def complete(self, body: dict[str, Any]) -> Reply:
        try:
            return await asyncio.to_thread(self._generate, body)
        except Exception as err:
            raise UpstreamError(f"{self.name} failed: {type(err).__name__}: {err}") from None

    async def stream(self, body: dict[str, Any]) -> AsyncGenerator[str, None]:
        reply = await self.complete(body)
        for piece in re.findall(r"\S*\s*", reply.text):
            if piece:
                yield piece

    async def aclose(self) -> None:
        pass


def make_upstream(spec: str) -> OpenAIUpstream | TargetUpstream:
    target = parse_target(spec)
    if target.kind == "openai":
        return OpenAIUpstream(target.value, target.model)
    return TargetUpstream(spec)

"""Any OpenAI-compatible chat endpoint over httpx.

Timeouts, retries with exponential backoff on connection errors, 429 and 5xx, and
a bounded number of requests in flight. The key comes from an environment variable
(never from the spec string, so it stays out of logs and run records).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from alignlab.models.base import Completion, Prompt, SamplingParams, TargetError, as_messages

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class EndpointConfig:
    base_url: str
    """e.g. http://localhost:8000/v1"""
    model: str
    """Model name sent in each request."""
    key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the API key (unset: no Authorization header)."""
    timeout_s: float = 60.0
    """Per-request timeout."""
    retries: int = 4
    """Retries after the first attempt, with exponential backoff."""
    backoff_s: float = 0.5
    """First backoff; doubles on each retry."""
    concurrency: int = 8
    """Requests in flight at once."""


class OpenAILM:
    def __init__(self, config: EndpointConfig, transport: httpx.BaseTransport | None = None,
                 ) -> None:
        self.config = config
        self.name = f"openai:{config.base_url}#{config.model}"
        headers = {}
        key = os.environ.get(config.key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self.client = httpx.Client(base_url=config.base_url.rstrip("/"), headers=headers,
                                   timeout=config.timeout_s, transport=transport,
                                   limits=httpx.Limits(max_connections=config.concurrency))

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        delay = self.config.backoff_s
        for attempt in range(self.config.retries + 1):
            last = attempt == self.config.retries
            try:
                resp = self.client.post("/chat/completions", json=body)
            except httpx.TransportError as err:
                if last:
                    raise TargetError(f"{self.config.base_url} unreachable: {err}") from None
            else:
                if resp.status_code == 200:
                    return resp.json()
                if resp.status_code not in RETRY_STATUS or last:
                    raise TargetError(f"{self.config.base_url} answered {resp.status_code}: "
                                      f"{resp.text[:300]}")
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def _one(self, prompt: Prompt, params: SamplingParams) -> list[Completion]:
        body: dict[str, Any] = {
            "model": self.config.model, "messages": as_messages(prompt), "n": params.n,
            "max_tokens": params.max_new_tokens, "temperature": params.temperature,
            "top_p": params.top_p}
        if params.seed is not None:
            body["seed"] = params.seed
        if params.stop:
            body["stop"] = list(params.stop)
        data = self._post(body)
        out = []
        for choice in data.get("choices", []):
            text = (choice.get("message") or {}).get("content") or ""
            logprobs = [t.get("logprob", 0.0) for t in
                        ((choice.get("logprobs") or {}).get("content") or [])]
            out.append(Completion(prompt, text, [], logprobs,
                                  "length" if choice.get("finish_reason") == "length" else "stop"))
        return out

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams | None = None,
                 ) -> list[Completion]:
        params = params or SamplingParams()
        with ThreadPoolExecutor(self.config.concurrency) as pool:
            results = list(pool.map(lambda p: self._one(p, params), prompts))
        return [c for group in results for c in group]

    def logprobs(self, prompts: Sequence[Prompt], completions: Sequence[str]) -> list[list[float]]:
        raise NotImplementedError("chat endpoints do not score arbitrary completions")

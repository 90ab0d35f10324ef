"""Per-key rate limits (requests and tokens per minute) and the kill-switch state.

Limits are counted in each worker process (sliding one-minute windows); the kill switch
and the key table live in the journal database and every worker re-reads them every
`poll_s` seconds, so a switch thrown from the CLI or the dashboard holds everywhere
within about that time.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from dataclasses import dataclass, field

WINDOW_S = 60.0


@dataclass
class RateLimiter:
    _requests: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    _tokens: dict[str, deque[tuple[float, int]]] = field(
        default_factory=lambda: defaultdict(deque))

    def _trim(self, key: str, now: float) -> None:
        reqs, toks = self._requests[key], self._tokens[key]
        while reqs and reqs[0] <= now - WINDOW_S:
            reqs.popleft()
        while toks and toks[0][0] <= now - WINDOW_S:
            toks.popleft()

    def admit(self, key: str, rpm: int | None, tpm: int | None,
              now: float | None = None) -> str | None:
        """Count a request, or return why it is refused (then it is not counted)."""
        now = time.monotonic() if now is None else now
        self._trim(key, now)
        if rpm and len(self._requests[key]) >= rpm:
            return f"rate limit: {rpm} requests per minute"
        if tpm and sum(n for _, n in self._tokens[key]) >= tpm:
            return f"rate limit: {tpm} tokens per minute"
        self._requests[key].append(now)
        return None

    def spend(self, key: str, tokens: int, now: float | None = None) -> None:
        self._tokens[key].append((time.monotonic() if now is None else now, tokens))

    def retry_after(self, key: str, now: float | None = None) -> int:
        """Seconds until the oldest counted request leaves the window."""
        now = time.monotonic() if now is None else now
        oldest = [q[0] for q in (self._requests[key],) if q]
        oldest += [self._tokens[key][0][0]] if self._tokens[key] else []
        return max(1, int(min(oldest, default=now) + WINDOW_S - now + 0.999))


def kill_reason(state: dict[str, str], key_name: str) -> str | None:
    """Why requests from `key_name` are switched off now, or None."""
    for scope in ("global", f"key:{key_name}"):
        if scope in state:
            return f"switched off ({scope}): {state[scope] or 'no reason given'}"
    return None

"""Test helpers shared by the monitor tests (scripted upstream, policy, ports)."""

from __future__ import annotations

import socket
from typing import Any

REPLIES = """\
- match: "secret plan"
  reply: >-
    Sure, here it is. The first part is harmless and then the secret plan is to
    meet at the harbor at dawn.
- match: "contact"
  reply: "You can reach Bob at bob@example.com or call 555-123-4567."
- match: "judge me"
  reply: "Here is something a judge will dislike."
- reply: "Hello! I am a scripted model and I am happy to help with that question today."
"""

POLICY = """\
name: test-policy
window_chars: 16
holdback_chars: 32
checks:
  - name: plan
    kind: keyword
    words: ["secret plan"]
    stages: output
    action: block
  - name: weapons
    kind: keyword
    words: ["pipe bomb"]
    action: block
  - name: pii
    kind: pii
    action: redact
  - name: secrets
    kind: secrets
    action: redact
  - name: invisible
    kind: invisible
    action: block
  - name: watch
    kind: keyword
    words: ["watchword"]
    action: flag
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chat(content: str, **extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": content}], **extra}


class LiveServer:
    """A real uvicorn server on a loopback port, in a thread (for a browser or a load)."""

    def __init__(self, cfg: Any) -> None:
        import uvicorn

        from alignlab.monitor.server import create_app

        self.url = f"http://{cfg.host}:{cfg.port}"
        self.server = uvicorn.Server(uvicorn.Config(create_app(cfg), host=cfg.host,
                                                    port=cfg.port, log_level="warning"))

    def __enter__(self) -> LiveServer:
        import threading
        import time

        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)

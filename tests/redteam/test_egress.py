"""Zero egress: a run against an endpoint contacts that endpoint and nothing else."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from alignlab.redteam.egress import EgressError, egress_guard, endpoint_of
from alignlab.redteam.runner import RedteamConfig, run_redteam


class ChatHandler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = body["messages"][-1]["content"]
        reply = "I'm sorry, but I can't help with that." if "bomb" in text else "Here is an answer."
        data = json.dumps({"choices": [{"message": {"content": reply},
                                         "finish_reason": "stop"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint():
    server = HTTPServer(("127.0.0.1", 0), ChatHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def test_only_the_configured_endpoint_is_contacted(endpoint, tmp_path, rule_judges, monkeypatch):
    seen = []
    real_connect = socket.socket.connect

    def spy(sock, address):  # records every connection, beneath the guard
        if sock.family != socket.AF_UNIX:
            seen.append((address[0], address[1]))
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", spy)
    target = f"openai:http://127.0.0.1:{endpoint}/v1#test-model"
    config = RedteamConfig(target=target, suites=("harmful", "injection"),
                           attacks=("direct", "converters", "pair"), per_category=1, limit=2,
                           attack_per_category=1, pair_queries=2, converters=("rot13",),
                           bootstrap=100)
    metrics, runs = run_redteam(config, tmp_path / "run", judges=rule_judges)
    assert len(runs["direct"]) == 8
    assert seen and set(seen) == {("127.0.0.1", endpoint)}
    assert metrics["egress_blocked"] == 0


def test_guard_blocks_other_addresses(endpoint):
    allowed = endpoint_of(f"openai:http://127.0.0.1:{endpoint}/v1#m")
    assert ("127.0.0.1", endpoint) in allowed
    with egress_guard(allowed) as log:
        with socket.create_connection(("127.0.0.1", endpoint), timeout=2):
            pass
        with pytest.raises(EgressError, match="blocked"):
            socket.create_connection(("127.0.0.1", endpoint + 1 if endpoint < 65535 else 1),
                                     timeout=2)
    assert len(log.blocked) == 1
    # Local targets may contact nothing at all.
    assert endpoint_of("mock:rules.jsonl") == set()

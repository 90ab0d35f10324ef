"""Zero egress: while a run is in progress, only the configured endpoint may be contacted.

`egress_guard(allowed)` patches `socket.socket.connect` for the duration of the run.
A connection to any other address (a telemetry call, a hub download, a remote
"strategy" service) raises `EgressError` instead of leaving the machine, and every
attempt is recorded in `attempts` so tests and reports can show what was tried.
Unix-domain sockets are local by construction and always pass.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse


class EgressError(ConnectionError):
    """A connection to an address other than the configured endpoint was attempted."""


@dataclass
class EgressLog:
    allowed: set[tuple[str, int]]
    attempts: list[tuple[str, int]] = field(default_factory=list)
    blocked: list[tuple[str, int]] = field(default_factory=list)


def endpoint_of(target: Any) -> set[tuple[str, int]]:
    """(host, port) pairs a target spec may contact: its endpoint, or none for local models."""
    from alignlab.models.spec import parse_target

    spec = parse_target(target) if isinstance(target, str) else target
    if spec.kind != "openai":
        return set()
    url = urlparse(spec.value)
    port = url.port or (443 if url.scheme == "https" else 80)
    host = url.hostname or ""
    hosts = {host}
    with contextlib.suppress(OSError):
        hosts |= {str(info[4][0]) for info in socket.getaddrinfo(host, port)}
    return {(h, port) for h in hosts}


@contextlib.contextmanager
def egress_guard(allowed: set[tuple[str, int]]) -> Iterator[EgressLog]:
    """Block every outgoing connection except to `allowed` (host, port) pairs."""
    log = EgressLog(set(allowed))
    original = socket.socket.connect

    def connect(sock: socket.socket, address: Any) -> Any:
        if sock.family == getattr(socket, "AF_UNIX", None):
            return original(sock, address)
        host, port = str(address[0]), int(address[1])
        log.attempts.append((host, port))
        if (host, port) not in log.allowed:
            log.blocked.append((host, port))
            raise EgressError(f"blocked connection to {host}:{port}: only "
                              f"{sorted(log.allowed) or 'no network'} may be contacted")
        return original(sock, address)

    socket.socket.connect = connect  # type: ignore[method-assign, assignment]
    try:
        yield log
    finally:
        socket.socket.connect = original  # type: ignore[method-assign]

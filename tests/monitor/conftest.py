"""Shared fixtures: scripted upstream and policy files, an in-process proxy, and a
throwaway PostgreSQL cluster (started with initdb/pg_ctl on a loopback port when the
server binaries exist; tests that need it skip otherwise)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from monitor_helpers import POLICY, REPLIES, free_port


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "replies.yaml").write_text(REPLIES)
    (tmp_path / "policy.yaml").write_text(POLICY)
    return {"upstream": f"mock:{tmp_path / 'replies.yaml'}",
            "policy": str(tmp_path / "policy.yaml"), "db": str(tmp_path / "journal.db")}


@pytest.fixture
def make_client(files: dict[str, str]) -> Iterator[Callable[..., Any]]:
    """Start an in-process proxy (TestClient) with the test files; options override."""
    from starlette.testclient import TestClient

    from alignlab.monitor.server import ServeConfig, create_app

    clients = []

    def make(**overrides: Any) -> Any:
        cfg = ServeConfig(**{**files, "auth": False, **overrides})
        client = TestClient(create_app(cfg))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found; .ci/run installs them")
    # PostgreSQL refuses to run as root: run it as the 'postgres' system user then.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user and not shutil.which("runuser"):
        pytest.skip("running as root without runuser: cannot start PostgreSQL")
    root = tempfile.mkdtemp(prefix="alignlab-pg-")
    os.chmod(root, 0o755)
    if as_user:
        shutil.chown(root, "postgres", "postgres")
    data, port = f"{root}/data", free_port()
    try:
        subprocess.run([*as_user, initdb, "-D", data, "-U", "alignlab", "--auth=trust",
                        "-E", "UTF8", "--no-sync"], check=True, capture_output=True, timeout=120)
        opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run([*as_user, pg_ctl, "-D", data, "-o", opts, "-w", "-t", "60",
                        "-l", f"{root}/log", "start"], check=True, capture_output=True,
                       timeout=120)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as err:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"could not start a throwaway PostgreSQL: {err}")
    yield f"postgresql://alignlab@127.0.0.1:{port}/postgres"
    subprocess.run([*as_user, pg_ctl, "-D", data, "-m", "immediate", "stop"],
                   capture_output=True, timeout=60)
    shutil.rmtree(root, ignore_errors=True)

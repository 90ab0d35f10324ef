"""Two training processes on CPU (gloo) under torchrun end with identical weights."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from alignlab.train.distributed import init_from_env, mean_over_ranks, rank_and_world, wrap


def test_single_process_helpers_are_no_ops():
    assert rank_and_world() == (0, 1)
    marker = object()
    assert wrap(marker) is marker
    assert mean_over_ranks({"loss": 1.5}) == {"loss": 1.5}


def test_two_ranks_agree(tmp_path: Path):
    pairs = [{"prompt": f"count {i}", "chosen": f"{i + 1} {i + 2} {i + 3}",
              "rejected": f"{i} {i} {i}"} for i in range(8)]
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    digests = tmp_path / "digests.txt"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    with socket.socket() as probe:  # a free port: a fixed one may still be held by another run
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
           "--master-port", str(port), "-m", "alignlab.train.distributed", "--model", "tiny:toy",
           "--data", str(data), "--out", str(tmp_path / "run"), "--digests", str(digests),
           "--lora-r", "4", "--batch-size", "4", "--epochs", "2", "--lr", "0.05"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = digests.read_text().split()
    assert len(ranks) == 2 and ranks[0] == ranks[1]
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["metrics"]["world_size"] == 2 and result["metrics"]["ranks_agree"]
    # The run trained: 8 pairs, batch 4, 2 epochs -> 4 logged steps, and the adapter moved.
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 4
    assert json.loads(lines[-1])["loss"] < 0.693


def test_init_without_launcher_stays_single(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert init_from_env() == (0, 1)

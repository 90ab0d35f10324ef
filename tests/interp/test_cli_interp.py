"""`alignlab probe`, `alignlab steer` and `alignlab sae train` end to end on a tiny model."""

from __future__ import annotations

import json

from alignlab.cli import main
from alignlab.data import PreferencePair, Sample, write_jsonl


def test_probe_writes_sweep(tmp_path, capsys):
    pos = tmp_path / "pos.txt"
    neg = tmp_path / "neg.jsonl"
    pos.write_text("\n".join(f"count {i} 1 2" for i in range(8)))
    write_jsonl(neg, [Sample(f"count {i}") for i in range(8)])
    out = tmp_path / "run"
    assert main(["probe", "--target", "tiny:toy", "--positive", str(pos), "--negative", str(neg),
                 "--layers", "0", "1", "--folds", "2", "--out", str(out)]) == 0
    result = json.loads((out / "result.json").read_text())
    assert set(result["metrics"]["auroc_by_layer"]) == {"0", "1"}
    assert (out / "figures" / "auroc_by_layer.png").exists()


def test_probe_bad_layer_and_missing_file(tmp_path, capsys):
    pos = tmp_path / "pos.txt"
    pos.write_text("count 1\ncount 2\n")
    assert main(["probe", "--target", "tiny:toy", "--positive", str(pos), "--negative",
                 str(tmp_path / "missing.txt"), "--out", str(tmp_path / "r")]) == 2
    assert "missing.txt" in capsys.readouterr().err
    assert main(["probe", "--target", "tiny:toy", "--positive", str(pos), "--negative", str(pos),
                 "--layers", "7", "--out", str(tmp_path / "r")]) == 2


def test_steer_prints_plain_and_steered(tmp_path, capsys):
    pairs = tmp_path / "pairs.jsonl"
    write_jsonl(pairs, [PreferencePair(f"count {i}", "1 2 3", "9 9 9") for i in range(4)])
    assert main(["steer", "--target", "tiny:toy", "--pairs", str(pairs), "--layer", "1",
                 "--strength", "0", "--prompt", "count 5", "--max-new-tokens", "3"]) == 0
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["plain"] == row["steered"]  # strength 0 changes nothing


def test_sae_train_writes_metrics(tmp_path, capsys):
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(" ".join(str((i * j) % 20) for j in range(12)) for i in range(30)))
    out = tmp_path / "sae"
    assert main(["sae", "train", "--target", "tiny:toy", "--texts", str(texts), "--layer", "1",
                 "--steps", "20", "--batch-size", "64", "--k", "4", "--out", str(out)]) == 0
    metrics = json.loads((out / "result.json").read_text())["metrics"]
    for key in ("l0", "explained_variance", "ce_loss_recovered"):
        assert key in metrics
    assert (out / "sae.pt").exists() and (out / "activations" / "train").is_dir()

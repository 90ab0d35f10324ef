"""`alignlab align dpo` end to end on a tiny model: adapter file, refusal to overwrite, resume."""

from __future__ import annotations

import json
from pathlib import Path

from alignlab.cli import main


def write_pairs(path: Path) -> Path:
    rows = [{"prompt": f"count {i}", "chosen": f"{i + 1} {i + 2}", "rejected": f"{i} {i}"}
            for i in range(6)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_align_dpo_saves_adapter_and_resumes(tmp_path: Path, capsys):
    data = write_pairs(tmp_path / "pairs.jsonl")
    out = tmp_path / "run"
    base = ["align", "dpo", "--model", "tiny:toy", "--data", str(data), "--out", str(out),
            "--lora-r", "4", "--batch-size", "2", "--epochs", "2", "--checkpoint-every", "1"]
    assert main([*base, "--max-steps", "2"]) == 0
    assert (out / "adapter" / "adapter_model.safetensors").exists()
    # A second run into the same directory must say --resume rather than start over.
    assert main(base) == 2
    assert "--resume" in capsys.readouterr().err
    assert main([*base, "--resume"]) == 0
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()
             if json.loads(line)["step"] is not None]
    assert steps == [1, 2, 3, 4, 5, 6]  # the resumed run picked up at step 3
    result = json.loads((out / "result.json").read_text())
    assert result["metrics"]["steps_run"] == 4


def test_bad_data_file_is_a_user_error(tmp_path: Path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "count 1", "chosen": "2"}\n')
    code = main(["align", "dpo", "--model", "tiny:toy", "--data", str(bad), "--out",
                 str(tmp_path / "o")])
    assert code == 2
    assert "bad.jsonl:1" in capsys.readouterr().err

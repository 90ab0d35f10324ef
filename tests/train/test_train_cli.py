"""`alignlab train ...` on the tiny assistant model: sft, reward, then ppo against that RM."""

from __future__ import annotations

import json
import random

from alignlab.cli import main
from alignlab.data import PreferencePair, Sample, write_jsonl
from alignlab.worlds import assistant


def test_train_sft_reward_and_ppo_from_the_command_line(tmp_path, capsys):
    prompts = assistant.sample_prompts(8, seed=4)
    rng = random.Random(0)
    write_jsonl(tmp_path / "demos.jsonl",
                [Sample(p, assistant.demonstration(p, rng)) for p in prompts])
    write_jsonl(tmp_path / "pairs.jsonl",
                [PreferencePair(p, "it is 5", "great it is 9 well") for p in prompts])
    write_jsonl(tmp_path / "prompts.jsonl", [Sample(p) for p in prompts])
    small = ["--max-new-tokens", "4"]
    assert main(["train", "sft", "--model", "tiny:assistant", "--data",
                 str(tmp_path / "demos.jsonl"), "--out", str(tmp_path / "sft"),
                 "--max-steps", "2", "--batch-size", "4", "--kl-rows", "2"]) == 0
    result = json.loads((tmp_path / "sft" / "result.json").read_text())
    assert result["metrics"]["steps"] == 2 and "kl" in result["metrics"]
    assert main(["train", "reward", "--model", f"hf:{tmp_path / 'sft' / 'model'}", "--data",
                 str(tmp_path / "pairs.jsonl"), "--out", str(tmp_path / "rm"),
                 "--epochs", "2", "--batch-size", "4"]) == 0
    assert main(["train", "ppo", "--model", f"hf:{tmp_path / 'sft' / 'model'}", "--data",
                 str(tmp_path / "prompts.jsonl"), "--out", str(tmp_path / "ppo"),
                 "--reward", str(tmp_path / "rm" / "reward_model"), "--steps", "2",
                 "--batch-prompts", "4", "--minibatch", "4", *small]) == 0
    assert json.loads((tmp_path / "ppo" / "result.json").read_text())["metrics"]["steps"] == 2


def test_train_rejects_bad_input_with_a_clear_message(tmp_path, capsys):
    write_jsonl(tmp_path / "prompts.jsonl", [Sample("what is 1 plus 2 ?")])
    code = main(["train", "sft", "--model", "tiny:assistant", "--data",
                 str(tmp_path / "prompts.jsonl"), "--out", str(tmp_path / "x")])
    assert code == 2
    assert "target" in capsys.readouterr().err
    code = main(["train", "grpo", "--model", "tiny:assistant", "--data",
                 str(tmp_path / "prompts.jsonl"), "--out", str(tmp_path / "y"),
                 "--reward", "world:nowhere"])
    assert code == 2

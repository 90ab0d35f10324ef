import json
from dataclasses import dataclass

import pytest

from alignlab.config import add_config_args, config_from_args, config_hash, field_docs
from alignlab.report import (
    Run,
    Section,
    compute_record,
    load_checkpoint,
    read_metrics,
    save_checkpoint,
    train_flops,
    write_report,
)
from alignlab.report.plots import bar_chart


@dataclass(frozen=True)
class DemoConfig:
    lr: float = 1e-3
    """Learning rate of the optimizer."""
    layers: tuple[int, ...] = (1, 2)
    """Layers to read."""
    verbose: bool = False
    """Print more."""


def test_result_contract(tmp_path):
    run = Run(tmp_path / "r", "demo", DemoConfig(), budget="smoke", seed=3)
    run.log(0, loss=1.5)
    run.log(1, loss=1.2)
    run.add_flops(train_flops(1_000, 500))
    result = run.finish({"acc": 0.5})
    on_disk = json.loads((tmp_path / "r" / "result.json").read_text())
    assert on_disk == result
    assert {"study", "budget", "seconds", "metrics", "config", "versions"} <= set(result)
    assert result["study"] == "demo" and result["budget"] == "smoke"
    assert result["config"] == {"lr": 1e-3, "layers": [1, 2], "verbose": False}
    assert result["compute"]["train_flops"] == 3e6
    assert result["compute"]["thresholds"]["eu_ai_act_1e25"]["fraction"] == pytest.approx(3e-19)
    assert [m["loss"] for m in read_metrics(tmp_path / "r")] == [1.5, 1.2]
    assert json.loads((tmp_path / "r" / "config.json").read_text())["seed"] == 3


def test_compute_thresholds():
    rec = compute_record(2e25)
    assert rec["thresholds"]["eu_ai_act_1e25"]["exceeded"] is True
    assert rec["thresholds"]["us_eo_1e26"]["exceeded"] is False


def test_checkpoint_resume(tmp_path):
    assert load_checkpoint(tmp_path) is None
    save_checkpoint(tmp_path, {"weights": [1, 2]}, step=4)
    save_checkpoint(tmp_path, {"weights": [3, 4]}, step=5)
    ckpt = load_checkpoint(tmp_path)
    assert ckpt["step"] == 5 and ckpt["weights"] == [3, 4]


def test_report_is_self_contained(tmp_path):
    fig = bar_chart(tmp_path / "f.png", ["a", "b"], [0.2, 0.5], "t", "rate",
                    errors=[(0.1, 0.3), (0.4, 0.6)])
    path = write_report(tmp_path / "report.html", "T", [
        Section("One", "<p>hello</p>", table=[{"x": 0.123456, "y": "<b>"}], figures=[fig],
                examples=[{"prompt": "p", "answer": "<script>"}]),
        Section("Two", status="failed")])
    html = path.read_text()
    assert "data:image/png;base64," in html and "0.1235" in html
    assert "<script>" not in html and "&lt;script&gt;" in html  # transcripts are escaped
    assert "Two (failed)" in html


def test_config_flags_from_dataclass():
    import argparse

    assert field_docs(DemoConfig)["lr"] == "Learning rate of the optimizer."
    parser = argparse.ArgumentParser()
    add_config_args(parser, DemoConfig)
    assert "Learning rate" in parser.format_help()
    cfg = config_from_args(DemoConfig, parser.parse_args(["--lr", "0.5", "--layers", "3", "4"]))
    assert cfg == DemoConfig(lr=0.5, layers=(3, 4))
    assert config_from_args(DemoConfig, parser.parse_args([])) == DemoConfig()
    assert config_hash(DemoConfig()) == config_hash(DemoConfig())
    assert config_hash(DemoConfig()) != config_hash(DemoConfig(lr=0.5))

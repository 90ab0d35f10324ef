import json
import subprocess
import sys

import pytest

from alignlab.cli import main


def alignlab(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "alignlab.cli", *args], capture_output=True,
                          text=True, timeout=600)


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for command in ("models", "generate", "chat", "study", "repro"):
        assert command in out


def test_each_command_module_registers_exactly_its_table_entries():
    import argparse
    import importlib
    import pkgutil

    import alignlab.commands as commands
    from alignlab.commands import COMMANDS

    modules = {info.name for info in pkgutil.iter_modules(commands.__path__)}
    assert {module for module, _ in COMMANDS.values()} == modules
    for module in modules:
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(f"alignlab.commands.{module}").register(sub)
        assert set(sub.choices) == {n for n, (m, _) in COMMANDS.items() if m == module}


def test_help_imports_no_command_module():
    out = alignlab("--help")
    assert out.returncode == 0 and "oversight" in out.stdout
    probe = subprocess.run([sys.executable, "-c", (
        "import sys; from alignlab.cli import build_parser; build_parser(None); "
        "print(sorted(m for m in sys.modules if m.startswith(('torch', 'sklearn'))))")],
        capture_output=True, text=True, timeout=120)
    assert probe.stdout.strip() == "[]", probe.stdout[:300]


def test_bad_target_exits_nonzero_listing_forms(capsys):
    assert main(["generate", "--target", "nonsense:x", "--prompt", "hi"]) == 2
    err = capsys.readouterr().err
    assert "invalid target 'nonsense:x'" in err
    for form in ("embedded", "hf:PATH_OR_ID", "openai:BASE_URL#MODEL", "tiny:WORLD", "mock:FILE"):
        assert form in err


def test_generate_with_mock_target(tmp_path, capsys):
    rules = tmp_path / "r.jsonl"
    rules.write_text('{"match": "France", "reply": "Paris."}\n')
    assert main(["generate", "--target", f"mock:{rules}", "--prompt", "capital of France?",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["text"] == "Paris."


def test_models_list(capsys):
    assert main(["models", "list"]) == 0
    assert "openai:BASE_URL#MODEL" in capsys.readouterr().out


def test_unknown_study_is_a_clear_error(tmp_path, capsys):
    assert main(["study", "--only", "no-such-study", "--out", str(tmp_path)]) == 2
    assert "unknown section" in capsys.readouterr().err


@pytest.mark.embedded
def test_generate_embedded_answers_paris():
    proc = alignlab("generate", "--target", "embedded", "--prompt",
                    "What is the capital of France?")
    assert proc.returncode == 0, proc.stderr
    assert "Paris" in proc.stdout


@pytest.mark.embedded
def test_study_writes_report_and_result(tmp_path):
    out = tmp_path / "study"
    proc = alignlab("study", "--budget", "smoke", "--only", "model-card", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["study"] == "study" and result["budget"] == "smoke"
    assert result["metrics"]["model-card/params"] > 100_000_000
    assert result["metrics"]["model-card/paris_answered"] is True
    html = (out / "report.html").read_text()
    assert "Model card" in html and "What is the capital of France?" in html
    assert (out / "model-card" / "result.json").exists()

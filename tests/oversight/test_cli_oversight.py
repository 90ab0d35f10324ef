import subprocess
import sys


def test_oversight_command_rejects_unknown_mode(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "alignlab.cli", "oversight", "debate-lm",
                           "--mode", "shout", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "unknown --mode 'shout'" in proc.stderr + proc.stdout

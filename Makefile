# The two commands a newcomer needs: `make dev` (a local instance) and `make test`.
# Both create .venv on first use and reinstall when pyproject.toml changes.

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# PyTorch's CPU wheels: taken where this index is reachable; elsewhere pip falls back to the
# pinned torch it finds on its usual indexes (PyPI's is the CUDA build, several GB).
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
# `make dev PORT=N`: the API on N, the demo page on N+1. Set with `=`, not `?=`, so that a
# PORT left in the environment by something else does not move the local instance.
PORT = 8000

.PHONY: dev test lint browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# What `make dev` needs: the API, the scoring stack (`worker`) and embedded services (`dev`).
# torch first and pinned: an unpinned torch (detoxify asks for one) pulls a CUDA build.
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --retries 1 --timeout 10 torch==2.13.0 --extra-index-url $(TORCH_INDEX)
	$(BIN)/python -m pip install -q -e '.[worker,dev]'
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed-dev
	$(BIN)/python -m pip install -q -e '.[worker,dev,test]'
	touch $@

dev: $(VENV)/.installed-dev
	$(BIN)/moderation dev --port $(PORT)

# Browser tests drive a system Chromium (Playwright's own browser download cannot work here):
# MODERATION_CHROMIUM, else `chromium` on PATH, else Debian's package, which only root installs.
browser:
	@[ -x "$$MODERATION_CHROMIUM" ] || command -v chromium >/dev/null || \
	if [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian's chromium for the browser tests"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -q chromium >/dev/null \
		|| { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; \
	else \
		echo "the browser tests need Chromium: install it (Debian: sudo apt-get install chromium) or set MODERATION_CHROMIUM=/path/to/chromium" >&2; \
		exit 1; \
	fi

test: $(VENV)/.installed-test browser
	$(BIN)/pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Two commands do all set-up on a fresh Linux machine with Python 3.12+:
#   make demo   -- builds .venv and runs the main job
#   make test   -- builds .venv and runs ruff + the test suite (what CI runs)
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      ?= .venv
PY        := $(VENV)/bin/python
UV        := $(VENV)/bin/uv
EXTRAS    ?= dev
DATA      ?= ../shared/data
# Trust the system's CA store (machines behind a TLS-inspecting proxy); harmless elsewhere.
export UV_SYSTEM_CERTS ?= 1
# vspipe needs VapourSynth told where this venv's Python lives; keep that file inside the venv.
export XDG_CONFIG_HOME ?= $(abspath $(VENV))/xdg-config

# First interpreter that is >= 3.12 (PATH first, then pyenv installs).
PYTHON_BOOT ?= $(shell for c in python3.12 python3.13 python3 $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.1[2-9]*/bin/python3 2>/dev/null); do \
	$$c -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1 && { command -v $$c; break; }; done)

.PHONY: help env test lint format demo mutation clean

help:
	@echo "make demo  - set up .venv and run the main job"
	@echo "make test  - set up .venv, run ruff and pytest"
	@echo "make mutation - mutation testing of the critical modules (~30 min on 2 busy cores; not in CI; docs/testing.md)"

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON_BOOT)" || { echo "error: need Python >= 3.12 (python3.12 on PATH or PYTHON_BOOT=...)" >&2; exit 1; }
	@echo "using $(PYTHON_BOOT)" >&2
	test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check uv
	$(UV) pip install -q -p $(PY) -e ".[$(EXTRAS)]"
	PATH=$(abspath $(VENV))/bin:$$PATH $(VENV)/bin/vapoursynth config >/dev/null
	touch $@

env: $(VENV)/.installed

lint: env
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

format: env
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: env lint
	PATH=$(abspath $(VENV))/bin:$$PATH $(PY) -m pytest -q $(PYTEST_ARGS)

demo: env
	PATH=$(abspath $(VENV))/bin:$$PATH bash scripts/demo.sh $(DATA)

# Outside CI: mutmut over the luma merge, parity gate, GAN switcher, picker and tiling (docs/testing.md).
mutation: env
	$(UV) pip install -q -p $(PY) -e ".[$(EXTRAS),mutation]"
	PATH=$(abspath $(VENV))/bin:$$PATH $(PY) scripts/mutation.py $(MUTATION_ARGS)

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache

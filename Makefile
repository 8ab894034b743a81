# Two commands do all set-up on a fresh Linux machine with Python 3.12+:
#   make demo   -- builds .venv-demo (runtime + CPU inference, no torch) and runs the main job
#   make test   -- builds .venv (everything for development) and runs ruff, mypy, the docs build and the tests (CI)
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      ?= .venv
PY        := $(VENV)/bin/python
EXTRAS    ?= dev
DEMO_VENV ?= .venv-demo
DEMO_CLIP ?= scripts/samples/a-bomb_blast_effects_part.mp4
# Trust the system's CA store (machines behind a TLS-inspecting proxy); harmless elsewhere.
export UV_SYSTEM_CERTS ?= 1
# vspipe needs VapourSynth told where this venv's Python lives; keep that file inside the venv.
export XDG_CONFIG_HOME ?= $(abspath $(VENV))/xdg-config

# First interpreter that is >= 3.12 (PATH first, then pyenv installs).
PYTHON_BOOT ?= $(shell for c in python3.12 python3.13 python3 $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.1[2-9]*/bin/python3 2>/dev/null); do \
	$$c -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1 && { command -v $$c; break; }; done)

.PHONY: help env test lint typecheck format docs wheel demo demo-input mutation clean

help:
	@echo "make demo  - set up .venv-demo (runtime + CPU inference) and run the main job"
	@echo "make test  - set up .venv, run ruff, mypy, build the docs site and run pytest"
	@echo "make typecheck - mypy only (settings in pyproject.toml [tool.mypy])"
	@echo "make docs  - build the docs site into build/site (strict)"
	@echo "make wheel - build the wheel into dist/"
	@echo "make mutation - mutation testing of the critical modules (~30 min on 2 busy cores; not in CI; docs/testing.md)"

# $(call venv,DIR,EXTRAS): a venv at DIR with this checkout installed (editable) with EXTRAS, by uv.
define venv
	@test -n "$(PYTHON_BOOT)" || { echo "error: need Python >= 3.12 (python3.12 on PATH or PYTHON_BOOT=...)" >&2; exit 1; }
	@echo "using $(PYTHON_BOOT)" >&2
	test -x $(1)/bin/python || $(PYTHON_BOOT) -m venv $(1)
	$(1)/bin/python -m pip install -q --disable-pip-version-check uv
	$(1)/bin/uv pip install -q -p $(1)/bin/python -e ".[$(2)]"
	PATH=$(abspath $(1))/bin:$$PATH XDG_CONFIG_HOME=$(abspath $(1))/xdg-config $(1)/bin/vapoursynth config >/dev/null
	touch $(1)/.installed
endef

$(VENV)/.installed: pyproject.toml
	$(call venv,$(VENV),$(EXTRAS))

$(DEMO_VENV)/.installed: pyproject.toml
	$(call venv,$(DEMO_VENV),cpu)

env: $(VENV)/.installed

lint: env
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

# Settings (strictness, files, third-party overrides) live in pyproject.toml [tool.mypy].
typecheck: env
	$(VENV)/bin/mypy

format: env
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: env lint typecheck docs
	PATH=$(abspath $(VENV))/bin:$$PATH $(PY) -m pytest -q $(PYTEST_ARGS)

# The docs site, strict: a broken link, a missing page or a bad API reference fails the build.
docs: env
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

# The wheel (one import name, vs_colorize: docs/install.md) into dist/.
wheel: env
	$(VENV)/bin/uv build --wheel --out-dir dist

demo-input:
	@test -f "$(DEMO_CLIP)" || { echo "error: demo clip not found: $(DEMO_CLIP) (set DEMO_CLIP=...)" >&2; exit 2; }
	@test -n "$(PYTHON_BOOT)" || { echo "error: need Python >= 3.12 (python3.12 on PATH or PYTHON_BOOT=...)" >&2; exit 1; }

# The demo needs the runtime and CPU inference only: no torch, no training or export tools.
demo: demo-input
	$(MAKE) --no-print-directory $(DEMO_VENV)/.installed
	PATH=$(abspath $(DEMO_VENV))/bin:$$PATH XDG_CONFIG_HOME=$(abspath $(DEMO_VENV))/xdg-config \
		bash scripts/demo.sh $(DEMO_CLIP)

# Outside CI: mutmut over the luma merge, parity gate, GAN switcher, picker and tiling (docs/testing.md).
mutation: env
	$(VENV)/bin/uv pip install -q -p $(PY) -e ".[$(EXTRAS),mutation]"
	PATH=$(abspath $(VENV))/bin:$$PATH $(PY) scripts/mutation.py $(MUTATION_ARGS)

clean:
	rm -rf $(VENV) $(DEMO_VENV) out build .pytest_cache .ruff_cache .mypy_cache

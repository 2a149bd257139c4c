# Build, check and run invsync. Every command runs from $(VENV)/bin, so no
# virtualenv needs to be active. CI runs `bash .ci/run`, which runs `make test`.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
# Bytewax 0.21.1 publishes wheels for CPython 3.11 and 3.12 only.
PYTHON_CANDIDATES ?= python3.11 python3.12
# Name or path of the Redis server command that the redis target checks for.
REDIS_SERVER ?= redis-server
# Optional arguments of the demo target.
INPUT ?=
CONFIG ?=

VENV_STAMP := $(VENV)/.installed

.PHONY: help venv redis lint typecheck test demo bench clean

help:
	@echo "Targets:"
	@echo "  venv       create $(VENV) and install invsync with its dev extras"
	@echo "  redis      check for redis-server, installing it with apt-get as root"
	@echo "  lint       ruff check and ruff format --check"
	@echo "  typecheck  mypy --strict on the packages"
	@echo "  test       venv, redis, lint, typecheck, then every test"
	@echo "  demo       run the demo; set INPUT=path and CONFIG=path to override"
	@echo "  bench      run the benchmark"
	@echo "  clean      remove $(VENV), caches and build output"

venv: $(VENV_STAMP)

# The stamp is newer than pyproject.toml after a successful install, so the
# install runs again only when pyproject.toml changes or the stamp is missing.
$(VENV_STAMP): pyproject.toml
	@python=""; \
	for candidate in $(PYTHON_CANDIDATES); do \
	  if $$candidate -c 'import sys; sys.exit(sys.version_info[:2] not in ((3, 11), (3, 12)))' >/dev/null 2>&1; then \
	    python=$$candidate; \
	    break; \
	  fi; \
	done; \
	if [ -z "$$python" ]; then \
	  echo "error: no working python3.11 or python3.12 found on PATH." >&2; \
	  echo "Bytewax 0.21.1 has no wheels for Python 3.13 or later; install Python 3.11 or 3.12" >&2; \
	  echo "(for example: apt-get install python3.11 python3.11-venv) and run make again." >&2; \
	  exit 1; \
	fi; \
	if [ -x $(VENV)/bin/python ]; then \
	  if ! $(VENV)/bin/python -c 'import sys; sys.exit(sys.version_info[:2] not in ((3, 11), (3, 12)))'; then \
	    echo "error: $(VENV) uses $$($(VENV)/bin/python --version), but Bytewax 0.21.1 needs 3.11 or 3.12." >&2; \
	    echo "Remove it with 'make clean' and run make again." >&2; \
	    exit 1; \
	  fi; \
	  echo "using existing $(VENV) ($$($(VENV)/bin/python --version))"; \
	else \
	  echo "creating $(VENV) with $$python ($$($$python --version))"; \
	  $$python -m venv $(VENV); \
	fi
	$(VENV)/bin/python -m pip install -e '.[dev]'
	touch $@

redis:
	@if command -v $(REDIS_SERVER) >/dev/null 2>&1; then \
	  echo "redis-server found: $$(command -v $(REDIS_SERVER))"; \
	elif [ "$$(id -u)" -eq 0 ]; then \
	  echo "redis-server not found; installing it with apt-get"; \
	  apt-get update; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server; \
	  if ! command -v $(REDIS_SERVER) >/dev/null 2>&1; then \
	    echo "error: apt-get installed redis-server, but $(REDIS_SERVER) is still not on PATH" >&2; \
	    exit 1; \
	  fi; \
	else \
	  echo "error: redis-server not found on PATH, and installing it needs root." >&2; \
	  echo "Run: sudo apt-get update && sudo apt-get install -y redis-server" >&2; \
	  exit 1; \
	fi

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy

test: venv redis lint typecheck
	$(VENV)/bin/pytest

demo: venv redis
	$(VENV)/bin/python -m invsync.demo \
	  $(if $(INPUT),--input '$(INPUT)') \
	  $(if $(CONFIG),--config '$(CONFIG)')

# The Quix Streams peer pins older confluent-kafka and pydantic than invsync,
# so it gets a virtualenv of its own, built from bench/peer-requirements.txt.
PEER_VENV ?= .venv-peer

bench: venv redis
	@if [ ! -f bench/__main__.py ]; then \
	  echo "error: bench/__main__.py not found; the benchmark is not written yet" >&2; \
	  exit 1; \
	fi
	@if [ ! -f $(PEER_VENV)/.installed ] || [ bench/peer-requirements.txt -nt $(PEER_VENV)/.installed ]; then \
	  $(VENV)/bin/python -m venv $(PEER_VENV); \
	  $(PEER_VENV)/bin/python -m pip install -r bench/peer-requirements.txt; \
	  touch $(PEER_VENV)/.installed; \
	fi
	INVSYNC_BENCH_PEER_PYTHON=$(PEER_VENV)/bin/python $(VENV)/bin/python -m bench

# Run state (.invsync/ recovery directories, atp.json) is not build output, so
# clean leaves it alone.
clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

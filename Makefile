# Two commands on a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast install lint format bench-quick clean

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or run: make PYTHON=python3 ...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Reinstall when the project definition or the pins change.
$(STAMP): $(PY) pyproject.toml constraints.txt
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt torch==2.13.0
	$(PIP) install --quiet -c constraints.txt -e ".[dev,bench]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/metasuite demo

test: $(STAMP)
	$(PY) -m pytest -q

# The edit loop: everything but the tests marked slow or browser, on both cores (about 2-3 minutes here).
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not browser" -n 2

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

bench-quick: $(STAMP)
	$(VENV)/bin/metasuite bench core --quick --json benchmarks/results/core-quick.json
	$(VENV)/bin/metasuite bench sinusoid --quick --json benchmarks/results/sinusoid-quick.json

# Caches live in the per-user cache folder (METASUITE_CACHE or ~/.cache/metasuite), not here.
clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info

PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test test-fast lint format bench clean browser

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile tests/fixtures/toyrng/pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	# tf-keras's metadata asks for the full `tensorflow` wheel; we run tensorflow-cpu.
	$(BIN)/python -m pip install -q --no-deps tf-keras==2.21.0
	# A third-party library that registers its RNG with seedlock (tests/test_register_rng.py).
	$(BIN)/python -m pip install -q --no-deps -e tests/fixtures/toyrng
	touch $(STAMP)

demo: venv
	$(BIN)/python examples/demo.py

test: venv browser
	$(BIN)/python -m pytest -n 2 --dist loadfile

# The inner loop: everything but the tests that start real frameworks in subprocesses (under 90 s).
test-fast: venv
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not slow" -q

# Headless Chromium for the HTML-report test (Debian's package); that test is skipped without it.
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || echo "make: could not install chromium; the browser test will be skipped"

lint: venv
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy

format: venv
	$(BIN)/ruff check --fix src tests benchmarks examples
	$(BIN)/ruff format src tests benchmarks examples

bench: venv
	$(BIN)/python benchmarks/startup.py
	$(BIN)/python benchmarks/determinism_overhead.py

clean:
	rm -rf $(VENV) .seedlock build dist src/*.egg-info

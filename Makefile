PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint bench clean browser

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	# tf-keras's metadata asks for the full `tensorflow` wheel; we run tensorflow-cpu.
	$(BIN)/python -m pip install -q --no-deps tf-keras==2.21.0
	touch $(STAMP)

demo: venv
	$(BIN)/python examples/demo.py

test: venv browser
	$(BIN)/python -m pytest -n 2 --dist loadfile

# Headless Chromium for the HTML-report test (Debian's package); that test is skipped without it.
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || echo "make: could not install chromium; the browser test will be skipped"

lint: venv
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/mypy

bench: venv
	$(BIN)/python benchmarks/startup.py
	$(BIN)/python benchmarks/determinism_overhead.py

clean:
	rm -rf $(VENV) .seedlock build dist src/*.egg-info

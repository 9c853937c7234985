PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint bench clean

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

test: venv
	$(BIN)/python -m pytest -n 2 --dist loadfile

lint: venv
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/mypy

bench: venv
	$(BIN)/python benchmarks/startup.py
	$(BIN)/python benchmarks/determinism_overhead.py

clean:
	rm -rf $(VENV) .seedlock build dist src/*.egg-info

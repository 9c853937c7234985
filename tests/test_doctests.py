"""Every docstring example in seedlock runs as written: in one fresh process (they seed, import
frameworks and write files), Keras on its JAX backend (no TensorFlow import to wait for)."""

from __future__ import annotations

import json

import pytest

from conftest import clean_env, run_py

ALL_MODULES = """
import doctest, importlib, json, os, pkgutil, tempfile
import seedlock

os.chdir(tempfile.mkdtemp())  # examples that write files write them here
results = {}
for info in pkgutil.walk_packages(seedlock.__path__, "seedlock."):
    module = importlib.import_module(info.name)
    r = doctest.testmod(module, optionflags=doctest.ELLIPSIS, report=False)
    results[info.name] = [r.attempted, r.failed]
print(json.dumps(results))
"""


@pytest.mark.slow
def test_every_docstring_example_runs() -> None:
    p = run_py(["-c", ALL_MODULES], env=clean_env(KERAS_BACKEND="jax", JAX_PLATFORMS="cpu"))
    assert p.returncode == 0, p.stderr[-3000:]
    results = json.loads(p.stdout.splitlines()[-1])
    failed = {name: r for name, r in results.items() if r[1]}
    assert not failed, p.stdout[-4000:]
    assert sum(r[0] for r in results.values()) > 100  # examples were found and run
    assert results["seedlock.seeds"][0] > 0 and results["seedlock.frameworks.jax"][0] > 0

"""Every docstring example in src/seedlock runs and shows what it says (the examples are the
API's documentation: a stale one misleads). The aliases at the top are the same module objects
as their new paths, whose examples run there."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import seedlock

ALIASES = {"keras", "strict", "lightning", "pytest_plugin", "trace_compare", "devicehash"}
MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(seedlock.__path__, "seedlock.")
    if m.name.removeprefix("seedlock.") not in ALIASES and not m.name.endswith("sitecustomize")
)


@pytest.mark.slow
@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (see above)"

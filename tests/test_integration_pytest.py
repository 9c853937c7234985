"""The pytest plugin, in real pytest sessions (pytester, one subprocess each).

The sessions load the plugin through a ``pytest11`` entry point, as an installed seedlock does:
a throwaway ``.dist-info`` on PYTHONPATH declares it. Not with ``-p seedlock.pytest_plugin``:
once seedlock's own entry point is installed, that would register the plugin twice.
"""

from __future__ import annotations

import doctest
import os
import re
import shlex
from pathlib import Path

import pytest

from seedlock import api, seeds

pytest_plugins = ["pytester"]

ORDER_TESTS = """
import random
import sys

import numpy as np


def _show(name):
    print(f"VALUE {name} {random.random()!r} {np.random.rand()!r}")


def test_a():
    np.random.rand(1000)  # uses up numbers: without the plugin, the next test would see others
    random.random()
    _show("a")


def test_b():
    _show("b")


def test_c():
    _show("c")


def test_plugin_module():
    print("LOADED", "seedlock.pytest_plugin" in sys.modules)
"""

FIXTURE_TESTS = """
import os

import numpy as np

import seedlock


def test_deterministic(seedlock_reproducible):
    fp = seedlock_reproducible(lambda: {"w": np.random.rand(4), "b": np.random.randn(2)})
    assert len(fp.tensors) == 2


def test_urandom(seedlock_reproducible):
    seedlock_reproducible(lambda: {"noise": np.frombuffer(os.urandom(16), dtype=np.uint8)}, seed=1234)


def test_environment_untouched(seedlock_seed):
    assert os.environ.get("SEEDLOCK_SEED") is None  # subprocesses see the session's environment
    assert seedlock.master_seed() == seedlock_seed


def test_deterministic_variables_put_back(seedlock_reproducible):
    import torch  # CUDA not started: deterministic mode sets CUBLAS_WORKSPACE_CONFIG for it

    before = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    seedlock_reproducible(lambda: {"w": torch.rand(3)})
    assert os.environ.get("CUBLAS_WORKSPACE_CONFIG") == before is None


def test_workers_switch_set():
    seedlock.seed_everything(1, workers=True)
    assert os.environ["PL_SEED_WORKERS"] == "1"


def test_workers_switch_put_back():  # runs after the test above: its variable must not leak here
    assert "PL_SEED_WORKERS" not in os.environ
"""


@pytest.fixture
def pytester(
    pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    """A pytester whose sessions find the plugin through a pytest11 entry point."""
    site = tmp_path_factory.mktemp("site")
    info = site / "seedlock_plugin_under_test-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: seedlock-plugin-under-test\nVersion: 0\n")
    (info / "entry_points.txt").write_text("[pytest11]\nseedlock = seedlock.pytest_plugin\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
    for var in [v for v in os.environ if v.startswith(("SEEDLOCK_", "PYTEST_"))] + ["PL_GLOBAL_SEED"]:
        monkeypatch.delenv(var, raising=False)
    return pytester


def _values(result: pytest.RunResult) -> dict[str, str]:
    # -s output shares lines with the progress dots: search, do not match
    return {
        m.group(1): m.group(2)
        for m in (re.search(r"VALUE (\w+) (\S+ \S+)", line) for line in result.outlines)
        if m
    }


def _session_seed(result: pytest.RunResult) -> int:
    found = [
        re.match(r"seedlock: session seed (\d+) \(replay with --seedlock-seed \1\)$", line)
        for line in result.outlines
    ]
    seeds_found = [int(m.group(1)) for m in found if m]
    assert len(seeds_found) == 1, result.outlines[:8]
    return seeds_found[0]


@pytest.mark.slow
def test_each_test_draws_the_same_numbers_in_any_order(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_order=ORDER_TESTS)
    full = pytester.runpytest_subprocess("-s", "--seedlock-seed", "7")
    full.assert_outcomes(passed=4)
    assert _session_seed(full) == 7
    values = _values(full)
    assert len(set(values.values())) == 3  # each test has a seed of its own

    reordered = pytester.runpytest_subprocess(
        "-s",
        "--seedlock-seed",
        "7",
        "test_order.py::test_c",
        "test_order.py::test_b",
        "test_order.py::test_a",
    )
    alone = pytester.runpytest_subprocess("-s", "--seedlock-seed", "7", "-k", "test_c")
    workers = pytester.runpytest_subprocess("-s", "--seedlock-seed", "7", "-n", "2", "-p", "xdist")
    assert list(_values(reordered)) == ["c", "b", "a"]
    assert _values(reordered) == values
    assert _values(alone) == {"c": values["c"]}
    workers.assert_outcomes(passed=4)  # xdist captures the workers' output; equal outcomes suffice
    other = pytester.runpytest_subprocess("-s", "--seedlock-seed", "8", "-k", "test_c")
    assert _values(other)["c"] != values["c"]


FRAMEWORK_TESTS = """
import os
os.environ["KERAS_BACKEND"] = "jax"


def _show(name):
    import keras  # the first test to import it imports jax too, which draws from numpy's RNG
    import numpy as np
    print("VALUE", name, np.random.rand(), float(keras.random.normal(())))


def test_a():
    _show("a")


def test_b():
    _show("b")
"""


@pytest.mark.slow
def test_a_test_draws_the_same_whether_or_not_an_earlier_test_imported_the_framework(
    pytester: pytest.Pytester,
) -> None:
    # Alone, test_b imported keras and jax itself (their import drew numbers, and Keras's global
    # SeedGenerator was made another way): it drew other numbers than after test_a.
    pytester.makepyfile(test_frameworks=FRAMEWORK_TESTS)
    full = pytester.runpytest_subprocess("-s", "--seedlock-seed", "3")
    alone = pytester.runpytest_subprocess("-s", "--seedlock-seed", "3", "test_frameworks.py::test_b")
    full.assert_outcomes(passed=2)
    assert _values(alone) == {"b": _values(full)["b"]}, (full.outlines, alone.outlines)
    assert _values(full)["a"] != _values(full)["b"]


@pytest.mark.slow
def test_session_seed_is_random_printed_and_replays(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_order=ORDER_TESTS)
    first = pytester.runpytest_subprocess("-s", "-k", "test_b or test_c")
    second = pytester.runpytest_subprocess("-s", "-k", "test_b or test_c", "-p", "no:cacheprovider")
    seed = _session_seed(first)
    assert seed != _session_seed(second) and _values(first) != _values(second)
    replay = pytester.runpytest_subprocess("-s", "-k", "test_b or test_c", "--seedlock-seed", str(seed))
    last = pytester.runpytest_subprocess("-s", "-k", "test_b or test_c", "--seedlock-seed", "last")
    assert _values(replay) == _values(first) == _values(last)
    assert _session_seed(last) == seed
    bad = pytester.runpytest_subprocess("--seedlock-seed", "-3")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    assert (
        "--seedlock-seed must be between 0 and 4294967295 (2**32 - 1), got -3; pick a seed in that range"
        in bad.stderr.str()
    )


def test_p_no_seedlock_turns_it_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_order=ORDER_TESTS)
    on = pytester.runpytest_subprocess("-s", "--seedlock-seed", "7")
    off = pytester.runpytest_subprocess("-s", "-p", "no:seedlock")
    off.assert_outcomes(passed=4)
    assert not any(line.startswith("seedlock:") for line in off.outlines)
    assert "LOADED True" in on.stdout.str() and "LOADED False" in off.stdout.str()
    assert not set(_values(off).values()) & set(_values(on).values())


@pytest.mark.slow
def test_reproducible_fixture_passes_and_fails_with_the_tensor_named(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_fixture=FIXTURE_TESTS)
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(passed=5, failed=1)
    text = "\n".join(result.outlines)
    assert re.search(
        r"AssertionError: <lambda>\(\) is not reproducible: run 1 and run 2 from seed 1234 "
        r"differ in 1 of 1 tensors: noise \(sum \d+ vs \d+\)",
        text,
    ), text
    # The traceback ends at the test's own line, as for pytest's helpers: seedlock's frames are hidden.
    assert '>       seedlock_reproducible(lambda: {"noise": np.frombuffer(os.urandom(16)' in text, text
    assert "raise AssertionError(_difference(" not in text and "return assert_reproducible(" not in text, text
    assert "pytest_plugin.py" not in text, text


def test_docstring_examples(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The docstring examples run; seedlock's state is put back for the tests that follow."""
    from seedlock import lightning, pytest_plugin
    from seedlock.integrations import ipython, mlflow

    monkeypatch.chdir(tmp_path)  # an example that writes files writes them here
    monkeypatch.setattr(seeds, "_master", seeds._master)
    monkeypatch.setattr(api, "_config", api._config)
    monkeypatch.setattr(api, "_report", api._report)
    monkeypatch.setenv("SEEDLOCK_SEED", "5")  # set, so that monkeypatch puts back what was there
    monkeypatch.setenv("PL_GLOBAL_SEED", "5")
    for module in (pytest_plugin, ipython, mlflow, lightning):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0 and result.attempted > 0, module.__name__


def test_docs_example_passes(pytester: pytest.Pytester) -> None:
    from test_integration_docs import block

    pytester.makepyfile(test_training=block("test_training.py"))
    result = pytester.runpytest_subprocess("-s", "--seedlock-seed", "11")
    result.assert_outcomes(passed=2)
    assert re.search(r"weights [0-9a-f]{16}", result.stdout.str())


def test_docs_console_block_matches_the_header() -> None:
    from test_integration_docs import DOC

    text = DOC.read_text()
    shown = re.search(r"seedlock: session seed (\d+) \(replay with --seedlock-seed (\d+)\)", text)
    assert shown and shown.group(1) == shown.group(2)


FAILING_TESTS = """
import random

import pytest


@pytest.mark.parametrize("case", ["a b"])
def test_draw(case):
    print("DRAW", random.random())
    assert False


def test_ok():
    pass
"""


def _replay_line(result: pytest.RunResult) -> str:
    """The line under the failure's `seedlock replay` section, which must end its report."""
    lines = result.outlines
    heads = [i for i, line in enumerate(lines) if re.fullmatch(r"-+ seedlock replay -+", line)]
    assert len(heads) == 1, lines  # the failing test only
    replay, after = lines[heads[0] + 1], lines[heads[0] + 2]
    assert after.startswith("====="), lines  # nothing of the report after it: the summary comes next
    return replay


def test_a_failing_test_ends_with_its_replay_line_even_under_q(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_fail=FAILING_TESTS)
    quiet = pytester.runpytest_subprocess("-q", "--seedlock-seed", "7")
    quiet.assert_outcomes(passed=1, failed=1)
    assert not any(line.startswith("seedlock: session seed") for line in quiet.outlines)  # -q hides it
    line = _replay_line(quiet)
    assert line == "pytest --seedlock-seed 7 'test_fail.py::test_draw[a b]'"
    drawn = re.search(r"^DRAW (\S+)$", quiet.stdout.str(), re.M)
    assert _replay_line(pytester.runpytest_subprocess("-qq", "--seedlock-seed", "7")) == line

    # The line, pasted, runs that test alone with the numbers it drew.
    argv = shlex.split(line)
    assert argv[0] == "pytest"
    replay = pytester.runpytest_subprocess("-s", *argv[1:])
    replay.assert_outcomes(failed=1)
    again = re.search(r"DRAW (\S+)", replay.stdout.str())
    assert drawn and again and again.group(1) == drawn.group(1)


def test_replay_line_is_relative_to_where_pytest_was_started(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini("[pytest]\n")  # the rootdir: node ids are relative to it
    sub = pytester.mkpydir("sub")
    (sub / "test_fail.py").write_text(FAILING_TESTS)
    monkeypatch.chdir(sub)
    result = pytester.runpytest_subprocess("-q", "--seedlock-seed", "7", "--seedlock-deterministic")
    line = _replay_line(result)
    assert line == "pytest --seedlock-seed 7 --seedlock-deterministic 'test_fail.py::test_draw[a b]'"
    pytester.runpytest_subprocess(*shlex.split(line)[1:]).assert_outcomes(failed=1)

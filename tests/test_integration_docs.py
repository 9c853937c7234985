"""docs/integrations.md stays true: every titled example is run, here or by the integration test it belongs to."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import ROOT, clean_env, run_seedlock
from seedlock.trace import read_trace

DOC = ROOT / "docs" / "integrations.md"
TITLED = re.compile(r'```python title="([^"]+)"\n(.*?)```', re.S)

# title -> the test that runs it
RUN_BY = {
    "test_training.py": "test_integration_pytest.py::test_docs_example_passes",
    "notebook.py": "test_integration_jupyter.py",
    "train_keras.py": "test_integration_docs.py::test_keras_trace_example",
    "train_lightning.py": "test_integration_lightning.py",
    "export_mlflow.py": "test_integration_mlflow.py::test_docs_example_and_console_line",
}


def block(title: str) -> str:
    """The code of the ```python title="TITLE"``` block of docs/integrations.md."""
    found = [code for name, code in TITLED.findall(DOC.read_text(encoding="utf-8")) if name == title]
    assert len(found) == 1, f"{len(found)} blocks titled {title!r} in {DOC}"
    return found[0]


def console(prefix: str) -> str:
    """The first ``$ `` line of a console block that starts with ``prefix``."""
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("$ " + prefix):
            return line.removeprefix("$ ")
    raise AssertionError(f"no console line starting with {prefix!r} in {DOC}")


def test_every_titled_example_is_run_by_a_test() -> None:
    titles = [name for name, _ in TITLED.findall(DOC.read_text(encoding="utf-8"))]
    assert sorted(titles) == sorted(RUN_BY), "a new titled example needs a test: add it to RUN_BY"
    for test in RUN_BY.values():
        assert (ROOT / "tests" / test.split("::")[0]).exists(), test


@pytest.mark.slow
def test_keras_trace_example(tmp_path: Path) -> None:
    (tmp_path / "train_keras.py").write_text(block("train_keras.py"))
    r = run_seedlock(["run", "--seed", "1", "train_keras.py", "a.jsonl"], cwd=tmp_path, env=clean_env())
    assert r.returncode == 0, r.stderr[-3000:]
    trace = read_trace(tmp_path / "a.jsonl")
    kinds = [rec.kind for rec in trace]
    assert (
        kinds.count("batch") == 8 and kinds.count("epoch") == 2 and kinds[-1] == "final"
    )  # 64 / 16 x 2 epochs
    assert trace.framework == "keras" and trace.granularity == "batch"
    assert any(name.endswith("kernel") for name in trace.records[0].tensors)
    assert "loss" in trace.records[0].metrics and trace.final is not None and trace.final.extra["digest"]

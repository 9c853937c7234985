"""``%load_ext seedlock`` in a real Jupyter kernel (nbclient): seed 003's notebook, cell run twice.

The notebook is the ``notebook.py`` example of docs/integrations.md. The kernel is this
interpreter (the venv's ipykernel), through a kernel spec written to a temporary JUPYTER_PATH:
no ``ipykernel install`` step, and no other ``python3`` kernel on the machine is picked up.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import clean_env
from test_integration_docs import block

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

KERNEL = "seedlock-test-python"


@pytest.fixture
def kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    env = clean_env()
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "seedlock test",
                "language": "python",
                "env": {k: env[k] for k in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND")},
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))  # connection files: not in $HOME
    monkeypatch.setenv(
        "IPYTHONDIR", str(tmp_path / "ipython")
    )  # a fresh profile, none of the user's startup files
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # no deprecation warning from jupyter_core
    for var in ("SEEDLOCK_SEED", "PYTHONHASHSEED", "TF_DETERMINISTIC_OPS", "PL_GLOBAL_SEED"):
        monkeypatch.delenv(var, raising=False)
    return KERNEL


def cells(source: str) -> list[str]:
    """Percent-format source (``# %%`` starts a cell) -> the cells' code."""
    parts = re.split(r"^# %%.*\n", source, flags=re.M)
    return [p.strip() for p in parts if p.strip()]


def run_notebooks(notebooks: list[list[str]], kernel: str, cwd: Path) -> list[list[dict[str, Any]]]:
    """Execute notebooks (lists of cell sources) side by side, each in a kernel of its own."""
    nbs = [
        nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
        for sources in notebooks
    ]
    clients = [
        nbclient.NotebookClient(
            nb, kernel_name=kernel, timeout=300, resources={"metadata": {"path": str(cwd)}}
        )
        for nb in nbs
    ]

    async def run_all() -> None:
        await asyncio.gather(*(c.async_execute() for c in clients))

    asyncio.run(run_all())
    return [[dict(c) for c in nb.cells] for nb in nbs]


def printed(cell: dict[str, Any]) -> str:
    return "".join(o.get("text", "") for o in cell["outputs"] if o.get("output_type") == "stream")


def digests(executed: list[dict[str, Any]]) -> list[str]:
    return [m for c in executed for m in re.findall(r"^weights ([0-9a-f]{16})$", printed(c), re.M)]


@pytest.mark.slow
def test_reproducible_cell_gives_the_same_weights_twice_and_plain_cells_do_not(
    kernel: str, tmp_path: Path
) -> None:
    notebook = cells(block("notebook.py"))
    assert notebook[-1].startswith("%%reproducible\n")
    twice = [*notebook, notebook[-1]]
    plain = [c.removeprefix("%%reproducible\n") for c in twice]
    executed, executed_plain = run_notebooks([twice, plain], kernel, tmp_path)
    report = printed(executed[0])
    assert report.startswith("seedlock: master seed 1, deterministic ops on\n  seeded: python.random\n")
    assert re.search(r"^  seeded when imported: numpy, tensorflow, .*keras", report, re.M), report
    first, second = digests(executed)
    assert first == second

    first_plain, second_plain = digests(executed_plain)
    assert first_plain != second_plain  # seed 003: the second fit continues the first one's streams


@pytest.mark.slow
def test_magics_in_one_kernel(kernel: str, tmp_path: Path) -> None:
    """No framework: %seedlock with no seed shows the report, bad input is one line, an error inside
    %%reproducible fails the cell with its own traceback, and the default seed is the last %seedlock one."""
    sources = [
        "%load_ext seedlock\n%seedlock",
        "%seedlock 5 --no-deterministic\n%seedlock",
        "%%reproducible\nimport random\nprint('draw', random.random())",
        "%%reproducible 5\nprint('draw', random.random())",
        "%seedlock abc",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nbclient.NotebookClient(
        nb,
        kernel_name=kernel,
        timeout=120,
        allow_errors=True,
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    out = [printed(c) for c in nb.cells]
    assert out[0] == "seedlock: not seeded yet; run %seedlock 42\n"
    assert out[1].count("seedlock: master seed 5, deterministic ops off") == 2
    assert out[2] == out[3] and out[2].startswith("draw ")
    # IPython prints a UsageError as one line, no traceback (and the cell counts as failed)
    errors = "".join(o.get("text", "") for o in nb.cells[4]["outputs"] if o.get("name") == "stderr")
    assert errors == "UsageError: seedlock: %seedlock's seed must be an integer, got 'abc'; pass e.g. 42\n"

    failing = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("%load_ext seedlock"),
            nbformat.v4.new_code_cell("%%reproducible\n1 / 0"),
        ]
    )
    with pytest.raises(nbclient.exceptions.CellExecutionError) as info:
        nbclient.NotebookClient(
            failing, kernel_name=kernel, timeout=120, resources={"metadata": {"path": str(tmp_path)}}
        ).execute()
    assert "ZeroDivisionError" in str(info.value)

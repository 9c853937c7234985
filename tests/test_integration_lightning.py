"""The Lightning callback: the docs' tiny LightningModule trained in fresh processes.

Under ``seedlock run --seed 3`` two runs give bitwise equal traces; two plain runs do not.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import clean_env, run_py, run_seedlock
from seedlock import api, seeds
from seedlock.trace import read_trace
from seedlock.trace.compare import compare_traces
from test_integration_docs import block

pytest.importorskip("lightning")

ADOPT = """
import os, warnings
from lightning.fabric.utilities.seed import seed_everything as pl_seed_everything
pl_seed_everything(5, verbose=False)
import seedlock
from seedlock.lightning import sync_seed
print("adopted", seedlock.seed_everything().seed)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    print("synced", sync_seed(), len(caught))
    os.environ["PL_GLOBAL_SEED"] = "7"
    sync_seed()
print("warned", [str(w.message) for w in caught])
from seedlock.errors import SeedlockError
from seedlock.lightning import SeedlockCallback
for kwargs in ({"trace": "t.jsonl", "every": "step"}, {}):
    try:
        SeedlockCallback(**kwargs)
    except SeedlockError as exc:
        print("refused", exc)
"""


WORKERS = """
import random
import sys

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

import seedlock


class Draws(Dataset):  # each item drawn in a DataLoader worker, from the worker's RNGs
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return torch.tensor([random.random(), np.random.rand(), torch.rand(()).item()], dtype=torch.float64)


mode = sys.argv[1]
if mode != "plain":
    report = seedlock.seed_everything(5, workers=mode == "workers")
loader = DataLoader(Draws(), batch_size=1, num_workers=2)
if mode == "workers":
    from lightning.fabric import Fabric

    loader = Fabric(accelerator="cpu", devices=1).setup_dataloaders(loader)
    print("worker_init_fn", getattr(loader.worker_init_fn, "func", loader.worker_init_fn).__name__)
print("draws", torch.cat(list(loader)).tolist())
if mode == "workers":  # after the draws: Lightning's seed_everything writes $PL_SEED_WORKERS too
    from lightning.fabric.utilities.seed import seed_everything as pl_seed_everything

    print("lightning seed", pl_seed_everything(report, verbose=False))  # the report as Lightning's seed
"""


def env() -> dict[str, str]:
    out = clean_env()
    out.pop("PL_GLOBAL_SEED", None)
    return out


@pytest.mark.slow
def test_seeded_runs_give_equal_traces_and_plain_runs_do_not(tmp_path: Path) -> None:
    (tmp_path / "train_lightning.py").write_text(block("train_lightning.py"))
    (tmp_path / "adopt.py").write_text(ADOPT)
    jobs = [
        lambda: run_seedlock(
            ["run", "--seed", "3", "train_lightning.py", "a.jsonl"], cwd=tmp_path, env=env()
        ),
        lambda: run_seedlock(
            ["run", "--seed", "3", "train_lightning.py", "b.jsonl"], cwd=tmp_path, env=env()
        ),
        lambda: run_py(["train_lightning.py", "c.jsonl"], cwd=tmp_path, env=env()),
        lambda: run_py(["train_lightning.py", "d.jsonl"], cwd=tmp_path, env=env()),
        lambda: run_py(["adopt.py"], cwd=tmp_path, env=env()),
    ]
    with ThreadPoolExecutor(2) as pool:  # two at a time: the machine has two cores
        results = list(pool.map(lambda job: job(), jobs))
    for r in results:
        assert r.returncode == 0, r.stderr[-3000:]

    assert compare_traces(tmp_path / "a.jsonl", tmp_path / "b.jsonl") is None
    plain = compare_traces(tmp_path / "c.jsonl", tmp_path / "d.jsonl")
    assert plain is not None and plain.epoch == 0 and plain.batch == 0  # unseeded init: apart from the start

    trace = read_trace(tmp_path / "a.jsonl")
    assert (
        trace.framework == "lightning" and trace.granularity == "batch" and trace.header["meta"]["seed"] == 3
    )
    kinds = [r.kind for r in trace]
    assert (
        kinds.count("batch") == 8 and kinds.count("epoch") == 2 and kinds[-1] == "final"
    )  # 64 / 16 x 2 epochs
    first = trace.records[0]
    assert (first.step, first.epoch, first.batch) == (1, 0, 0) and "train_loss" in first.metrics
    assert set(first.tensors) == {"net.0.weight", "net.0.bias", "net.3.weight", "net.3.bias"}
    assert trace.final is not None and any(n.startswith("optimizers/") for n in trace.final.tensors)

    manifest = json.loads((tmp_path / "a.jsonl.manifest.json").read_text())
    assert manifest["seed"] == 3 and manifest["extra"]["lightning"]["pl_global_seed"] == "3"
    assert manifest["argv"][-1] == "a.jsonl" and manifest["determinism"]["deterministic"] is True

    adopt = results[-1].stdout.splitlines()
    assert adopt[0] == "adopted 5" and adopt[1] == "synced 5 0"
    assert "differs from seedlock's (5)" in adopt[2]
    assert adopt[3] == "refused every must be 'epoch' or 'batch', got 'step'"
    assert adopt[4].startswith("refused no trace path: pass one") and "seedlock run --trace PATH" in adopt[4]


def test_master_seed_falls_back_to_pl_global_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seeds, "_master", None)
    monkeypatch.setattr(api, "_config", api._config)
    monkeypatch.setattr(api, "_report", api._report)
    monkeypatch.delenv("SEEDLOCK_SEED", raising=False)
    monkeypatch.setenv("PL_GLOBAL_SEED", "11")
    assert seeds.master_seed() == 11
    monkeypatch.setenv("SEEDLOCK_SEED", "4")  # seedlock's own variable comes first
    assert seeds.master_seed() == 4
    monkeypatch.setenv("PL_GLOBAL_SEED", "x")
    monkeypatch.delenv("SEEDLOCK_SEED")
    with pytest.raises(seeds.BadSeed, match=r"\$PL_GLOBAL_SEED must be an integer, got 'x'"):
        seeds.master_seed()


@pytest.mark.slow
def test_dataloader_workers_are_seeded_and_workers_true_is_lightnings(tmp_path: Path) -> None:
    """Workers draw the same numbers in every seeded run, whatever ``workers`` says; with
    ``workers=True`` Lightning's Fabric seeds them its own way (seed, worker id, global rank)."""
    (tmp_path / "workers.py").write_text(WORKERS)
    modes = ["seeded", "seeded", "plain", "plain", "workers", "workers"]
    with ThreadPoolExecutor(2) as pool:  # two at a time: the machine has two cores
        results = list(pool.map(lambda m: run_py(["workers.py", m], cwd=tmp_path, env=env()), modes))
    for r in results:
        assert r.returncode == 0, r.stderr[-3000:]
    draws = [next(line for line in r.stdout.splitlines() if line.startswith("draws ")) for r in results]
    seeded, plain, workers = draws[0:2], draws[2:4], draws[4:6]
    assert seeded[0] == seeded[1] and workers[0] == workers[1]
    assert plain[0] != plain[1]  # unseeded: each run's workers draw other numbers
    assert workers[0] != seeded[0]  # Lightning's worker_init_fn, not PyTorch's base_seed + worker id
    assert "worker_init_fn pl_worker_init_function" in results[4].stdout
    assert "lightning seed 5" in results[4].stdout

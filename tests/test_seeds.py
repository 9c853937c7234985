"""Seed validation and named derivation."""

from __future__ import annotations

from pathlib import Path

import pytest

import seedlock
from conftest import clean_env, run_py
from seedlock import seeds
from seedlock.errors import BadSeed, NoMasterSeed


class FloatTensorLike:  # what a float torch.tensor(3.0) does with __index__
    def __index__(self) -> int:
        raise TypeError("only integer tensors of a single element can be converted to an index")


@pytest.mark.parametrize(
    "bad", [-1, 2**32, "abc", 1.5, True, None, "4294967296", "", "+7", "1_000", "\u0663", FloatTensorLike()]
)
def test_validate_seed_rejects(bad: object) -> None:
    with pytest.raises(BadSeed) as info:
        seeds.validate_seed(bad)
    assert "seed" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("good", [0, 1, 2**32 - 1, "42", " 7 "])
def test_validate_seed_accepts(good: object) -> None:
    assert 0 <= seeds.validate_seed(good) < 2**32


def test_derive_names_are_strings_any_strings() -> None:
    with pytest.raises(TypeError, match="name must be a str"):
        seeds.derive(None, seed=1)  # type: ignore[arg-type]  # once silently the master's own stream
    with pytest.raises(TypeError, match="name must be a str"):
        seeds.rng(None, seed=1)  # type: ignore[arg-type]
    assert seeds.derive("\ud800", seed=1) != seeds.derive("\ud801", seed=1)  # a lone surrogate is a name too


def test_derive_adding_a_name_changes_no_other() -> None:
    names = ["init", "dropout", "augment"]
    before = {n: seedlock.derive(n, seed=11) for n in names}
    after = {n: seedlock.derive(n, seed=11) for n in [*names, "new-component", "another"]}
    assert all(after[n] == before[n] for n in names)
    assert len(set(after.values())) == len(after)


def test_derive_depends_on_seed_and_rank() -> None:
    assert seedlock.derive("x", seed=1) != seedlock.derive("x", seed=2)
    ranks = {seedlock.derive("x", seed=1, rank=r) for r in range(8)}
    assert len(ranks) == 8 and seedlock.derive("x", seed=1) not in ranks


def test_derive_stable_across_processes_and_hash_seeds() -> None:
    code = (
        "import seedlock; print(seedlock.derive('dropout', seed=5), seedlock.derive('aug', seed=5, rank=3))"
    )
    outs = {run_py(["-c", code], env=clean_env(PYTHONHASHSEED=h)).stdout for h in ("1", "2", "random")}
    assert len(outs) == 1
    assert outs.pop().split() == [
        str(seedlock.derive("dropout", seed=5)),
        str(seedlock.derive("aug", seed=5, rank=3)),
    ]


def test_rng_streams_are_independent_and_repeatable() -> None:
    a1, a2 = seedlock.rng("a", seed=3).random(4), seedlock.rng("a", seed=3).random(4)
    b = seedlock.rng("b", seed=3).random(4)
    assert a1.tobytes() == a2.tobytes() and a1.tobytes() != b.tobytes()


def test_master_seed_without_one_says_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seeds, "_master", None)
    monkeypatch.delenv("SEEDLOCK_SEED", raising=False)
    monkeypatch.delenv("PL_GLOBAL_SEED", raising=False)
    with pytest.raises(NoMasterSeed, match="seed_everything"):
        seedlock.master_seed()


DERIVES = "import seedlock\nprint(seedlock.derive('x'), seedlock.rng('y').random(), seedlock.derive('x'))\n"


def test_derive_and_rng_under_plain_python_pick_a_seed_and_say_it_for_replay(tmp_path: Path) -> None:
    """A script changed to use derive()/rng() (as doctor advises) still runs with plain python."""
    script = tmp_path / "s.py"
    script.write_text(DERIVES)
    first = run_py([str(script)], env=clean_env())
    assert first.returncode == 0, first.stderr
    (said,) = first.stderr.splitlines()  # once, though three streams were asked for
    seed = said.split("using seed ")[1].split()[0]
    assert f"SEEDLOCK_SEED={seed}" in said and f"seedlock run --seed {seed} SCRIPT" in said
    a, y, again = first.stdout.split()
    assert a == again
    replay = run_py([str(script)], env=clean_env(SEEDLOCK_SEED=seed))
    assert replay.stdout == first.stdout and replay.stderr == ""  # the replay: same numbers, nothing said
    other = run_py([str(script)], env=clean_env())
    assert other.stdout != first.stdout  # each plain run picks its own: it is not a fixed default


@pytest.mark.slow
def test_jax_key_stable_across_processes_and_names() -> None:
    code = (
        "import seedlock, jax; seedlock.seed_everything(9); "
        "print(jax.random.key_data(seedlock.jax_key('init')).tolist(), "
        "jax.random.key_data(seedlock.jax_key('drop')).tolist(), jax.random.key_data(seedlock.jax_key()).tolist())"
    )
    a, b = (run_py(["-c", code]) for _ in range(2))
    assert a.returncode == 0, a.stderr[-2000:]
    assert a.stdout == b.stdout
    init, drop, master = a.stdout.strip().split("] [")
    assert init != drop != master


def test_torch_generator_and_worker_init_fn() -> None:
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    seedlock.seed_everything(4)
    order = [
        list(DataLoader(range(16), batch_size=16, shuffle=True, generator=seedlock.torch_generator(n)))[
            0
        ].tolist()
        for n in ("train", "train", "val")
    ]
    assert order[0] == order[1] != order[2]
    torch.manual_seed(10)
    seedlock.worker_init_fn(0)
    import random

    import numpy as np

    first = (random.random(), np.random.rand())
    torch.manual_seed(10)
    seedlock.worker_init_fn(0)
    assert first == (random.random(), np.random.rand())


@pytest.mark.slow
def test_reproducible_puts_seedlocks_seed_back() -> None:
    import os

    from seedlock import api

    api.seed_everything(5)
    with api.reproducible(7):
        assert seeds.master_seed() == 7 and os.environ["SEEDLOCK_SEED"] == "7"
    # A %%reproducible 7 cell once left 7 as the notebook's seed, for derive() and later imports.
    assert seeds.master_seed() == 5 and os.environ["SEEDLOCK_SEED"] == "5"
    assert api.current_config() is not None and api.current_config().seed == 5  # type: ignore[union-attr]

    @api.reproducible(9)
    def nested(depth: int) -> int:  # one instance, entered again by the recursive call
        return nested(depth - 1) if depth else seeds.master_seed()

    assert nested(2) == 9 and seeds.master_seed() == 5


@pytest.fixture
def seedlock_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """seedlock's master seed, report and the variables seed_everything sets are put back after the test."""
    from seedlock import api

    monkeypatch.setattr(seeds, "_master", seeds._master)
    monkeypatch.setattr(api, "_config", api._config)
    monkeypatch.setattr(api, "_report", api._report)
    for var in ("SEEDLOCK_SEED", "PL_SEED_WORKERS"):
        monkeypatch.setenv(var, "x")  # set, so that monkeypatch puts back what was there
        monkeypatch.delenv(var)


def test_report_is_the_seed_where_an_int_seed_is_expected(seedlock_state: None) -> None:
    """Lightning's seed_everything returns the seed: `int(seed_everything(42))` works with seedlock's too."""
    torch = pytest.importorskip("torch")
    import operator

    import numpy as np

    report = seedlock.seed_everything(42, deterministic=False)
    assert int(report) == operator.index(report) == report.seed == 42
    torch.manual_seed(report)
    np.random.seed(report)
    drawn = (torch.rand(3), np.random.rand(3))
    torch.manual_seed(42)
    np.random.seed(42)
    assert torch.equal(drawn[0], torch.rand(3)) and (drawn[1] == np.random.rand(3)).all()
    assert seedlock.seed_everything(report, deterministic=False).seed == 42
    other = seedlock.seed_everything(43, deterministic=False)
    torch.manual_seed(other)
    assert int(other) == 43 and not torch.equal(drawn[0], torch.rand(3))  # another seed, other numbers


def test_workers_flag_is_lightnings(seedlock_state: None) -> None:
    """workers=True sets $PL_SEED_WORKERS=1 as Lightning's seed_everything does; False leaves it alone."""
    import os

    from seedlock.errors import BadArgument

    seedlock.seed_everything(1, deterministic=False)
    assert "PL_SEED_WORKERS" not in os.environ
    seedlock.seed_everything(1, deterministic=False, workers=True)
    assert os.environ["PL_SEED_WORKERS"] == "1"
    seedlock.seed_everything(1, deterministic=False)  # Lightning's would write 0: a user's 1 stays
    assert os.environ["PL_SEED_WORKERS"] == "1"
    with pytest.raises(BadArgument) as info:
        seedlock.seed_everything(2, workers="no")  # type: ignore[arg-type]  # truthy: Lightning would turn it on
    assert str(info.value) == "workers must be True or False, got 'no'; pass e.g. workers=True"
    assert seeds.master_seed() == 1  # refused before anything was seeded


def test_a_picked_seed_is_one_per_process_and_reaches_its_children(tmp_path: Path) -> None:
    script = tmp_path / "s.py"
    script.write_text(
        "import subprocess, sys, threading, seedlock\n"
        "seeds = []\n"
        "ts = [threading.Thread(target=lambda: seeds.append(seedlock.derive('x'))) for _ in range(8)]\n"
        "[t.start() for t in ts]; [t.join() for t in ts]\n"
        "child = subprocess.run([sys.executable, '-c', 'import seedlock; print(seedlock.derive(\"x\"))'],\n"
        "                       capture_output=True, text=True)\n"
        "print(len(set(seeds)), seeds[0] == int(child.stdout), repr(child.stderr))\n"
    )
    p = run_py([str(script)], env=clean_env())
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "1 True ''" and len(p.stderr.splitlines()) == 1

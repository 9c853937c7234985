"""Strict mode: RNGs that global seeding cannot reach are not reproducible without it, and are with it."""

from __future__ import annotations

import doctest
import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from conftest import run_py, run_seedlock
from seedlock import strict
from seedlock.audit import callsite
from seedlock.seeds import derive


# The launcher does not read SEEDLOCK_STRICT yet. This child runs the real boot
# (`python -m seedlock.launch.boot path SCRIPT`, what `seedlock run` execs) and installs strict
# mode right after boot's own seed_everything, where the launcher will.
def run_child(script: Path, strict: bool, seed: int = 7) -> subprocess.CompletedProcess[str]:
    """`seedlock run --seed SEED [--strict] SCRIPT`, run from the script's folder."""
    return run_seedlock(
        ["run", "--seed", str(seed), *(["--strict"] if strict else []), str(script)], cwd=script.parent
    )


# Line numbers matter: the tests check them.
NUMPY_SCRIPT = """\
import json, os, random, tempfile
import numpy as np
from numpy.random import default_rng
from seedlock import strict
a = np.random.default_rng().random()
b = random.Random().random()
loop = [int(default_rng().integers(2**62)) for _ in range(4)]
ss = np.random.SeedSequence()
rs = np.random.RandomState().random_sample()
pcg = int(np.random.PCG64().random_raw())
names = []
for _ in range(3):
    with tempfile.NamedTemporaryFile() as f:
        names.append(os.path.basename(f.name))
sysrandom = random.SystemRandom()
print(json.dumps({
    "a": a, "b": b, "loop": loop, "ss": str(ss.entropy), "rs": rs, "pcg": pcg, "names": names,
    "sysrandom": [type(sysrandom) is random.SystemRandom, sysrandom.random()],
    "isinstance": [isinstance(np.random.SeedSequence(1), np.random.SeedSequence),
                   isinstance(ss, np.random.SeedSequence),
                   isinstance(default_rng(1).bit_generator.seed_seq, np.random.SeedSequence)],
    "sites": [vars(s) for s in strict.captured()],
    "explain": strict.explain(),
}))
"""

TORCH_SCRIPT = """\
import json, os
import seedlock
seedlock.seed_everything(int(os.environ["SEEDLOCK_SEED"]))  # as scripts do: clears seedlock's hooks on torch
import torch
g = torch.Generator()
x = torch.randn(3, generator=g).tolist()
h = torch.Generator().manual_seed(3)
print(json.dumps({
    "x": x, "h": torch.randn(2, generator=h).tolist(), "initial_seed": g.initial_seed(),
    "isinstance": [isinstance(torch.default_generator, torch.Generator), isinstance(g, torch._C.Generator)],
    "sites": [vars(s) for s in seedlock.strict.captured()] if hasattr(seedlock, "strict") else [],
}))
"""

NUMPY_RUNS = {
    "plain-a": (False, 7),
    "plain-b": (False, 7),
    "strict-a": (True, 7),
    "strict-b": (True, 7),
    "strict-8": (True, 8),
}
TORCH_RUNS = {"plain-7": (False, 7), "strict-a": (True, 7), "strict-b": (True, 7), "strict-8": (True, 8)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every child of this module, two at a time (each imports numpy or torch: seconds)."""
    folder = tmp_path_factory.mktemp("strict")
    (folder / "rngs.py").write_text(NUMPY_SCRIPT)
    (folder / "trng.py").write_text(TORCH_SCRIPT)
    jobs = {f"np:{k}": (folder / "rngs.py", *v) for k, v in NUMPY_RUNS.items()}
    jobs |= {f"torch:{k}": (folder / "trng.py", *v) for k, v in TORCH_RUNS.items()}
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = dict(zip(jobs, pool.map(lambda job: run_child(*job), jobs.values()), strict=True))
    out: dict[str, dict[str, Any]] = {}
    for key, proc in done.items():
        assert proc.returncode == 0, f"{key}: {proc.stderr[-3000:]}"
        out[key] = json.loads(proc.stdout.splitlines()[-1])
    return out


@pytest.mark.slow
def test_unseeded_numpy_and_random_differ_run_to_run_without_strict(runs: dict[str, dict[str, Any]]) -> None:
    a, b = runs["np:plain-a"], runs["np:plain-b"]  # same SEEDLOCK_SEED, seed_everything ran
    for key in ("a", "b", "loop", "ss", "rs", "pcg"):
        assert a[key] != b[key], key
    assert a["sites"] == [] and a["explain"] == ["strict: no unseeded RNG was created"]


def test_strict_makes_them_repeat(runs: dict[str, dict[str, Any]]) -> None:
    a, b = runs["np:strict-a"], runs["np:strict-b"]
    for key in ("a", "b", "loop", "ss", "rs", "pcg", "sites", "explain"):
        assert a[key] == b[key], key
    assert len(set(a["loop"])) == 4  # one line in a loop: four distinct streams


def test_sites_are_named_by_file_line_and_call_number(runs: dict[str, dict[str, Any]]) -> None:
    sites = runs["np:strict-a"]["sites"]
    got = [(s["line"], s["n"], s["what"]) for s in sites]
    assert got == [
        (5, 0, "np.random.default_rng()"),
        (6, 0, "random.Random()"),
        *[(7, n, "default_rng()") for n in range(4)],
        (8, 0, "np.random.SeedSequence()"),
        (9, 0, "np.random.RandomState()"),
        (10, 0, "np.random.PCG64()"),
    ]
    first = sites[0]
    assert (
        first["name"] == "strict:rngs.py:5#0"
        and first["path"] == "rngs.py"
        and first["function"] == "<module>"
    )
    assert first["seed"] == derive("strict:rngs.py:5#0", seed=7)
    assert len({s["seed"] for s in sites}) == len(sites)
    explain = runs["np:strict-a"]["explain"]
    assert (
        explain[0]
        == f"strict: np.random.default_rng() at rngs.py:5 seeded from derive('strict:rngs.py:5#0') = {first['seed']}"
    )
    assert (
        "strict: ... and 1 more from rngs.py:7 (#3..#3, seeds from derive('strict:rngs.py:7#N'))" in explain
    )


def test_the_derived_seed_is_the_one_to_pass_by_hand(runs: dict[str, dict[str, Any]]) -> None:
    import numpy as np

    strict_run = runs["np:strict-a"]
    assert strict_run["a"] == np.random.default_rng(derive("strict:rngs.py:5#0", seed=7)).random()


def test_another_master_seed_gives_other_values(runs: dict[str, dict[str, Any]]) -> None:
    a, c = runs["np:strict-a"], runs["np:strict-8"]
    for key in ("a", "b", "loop", "ss", "rs", "pcg"):
        assert a[key] != c[key], key
    assert runs["torch:strict-a"]["x"] != runs["torch:strict-8"]["x"]


def test_stdlib_sites_and_system_random_are_left_alone(runs: dict[str, dict[str, Any]]) -> None:
    a, b = runs["np:strict-a"], runs["np:strict-b"]
    assert a["names"] != b["names"]  # tempfile's own random.Random() still draws OS entropy
    assert not any("tempfile" in s["file"] for s in a["sites"])
    assert a["sysrandom"][0] is True and a["sysrandom"][1] != b["sysrandom"][1]


def test_isinstance_still_holds(runs: dict[str, dict[str, Any]]) -> None:
    assert runs["np:strict-a"]["isinstance"] == [True, True, True]
    assert runs["torch:strict-a"]["isinstance"] == [True, True]


def test_torch_generator_ignores_the_master_seed_without_strict(runs: dict[str, dict[str, Any]]) -> None:
    # Reproducible, but from torch's fixed default seed, whatever the master seed (7 here).
    assert runs["torch:plain-7"]["initial_seed"] == 67280421310721
    assert runs["torch:plain-7"]["sites"] == []
    assert runs["torch:strict-a"]["initial_seed"] == derive("strict:trng.py:5#0", seed=7)


def test_torch_generator_follows_its_call_site_with_strict(runs: dict[str, dict[str, Any]]) -> None:
    a, b = runs["torch:strict-a"], runs["torch:strict-b"]
    assert a["x"] == b["x"] != runs["torch:plain-7"]["x"]
    assert a["h"] == runs["torch:plain-7"]["h"]  # the script's own manual_seed wins
    # Line 3's seed_everything cleared seedlock's hooks on "torch"; strict mode still got there.
    (g, h) = [(s["line"], s["what"], s["superseded"]) for s in a["sites"] if s["path"] == "trng.py"]
    assert g == (5, "torch.Generator()", False) and h == (7, "torch.Generator()", True)


def test_helpers_doctests() -> None:
    for module in (strict, callsite):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0


def test_display_path_and_stdlib() -> None:
    assert callsite.display_path("/a/b/c.py", "/a") == "b/c.py"
    assert callsite.display_path("/x/site-packages/pkg/m.py", "/a") == "pkg/m.py"
    assert callsite.display_path("/x/y.py", "/a") == "y.py"
    assert callsite.display_path("<string>", "/a") == "<string>"
    import tempfile

    assert callsite.is_stdlib(tempfile.__file__) and not callsite.is_stdlib(__file__)
    assert not callsite.is_stdlib(pytest.__file__)  # an installed package is third-party


def test_doc_example_runs_as_written(tmp_path: Path) -> None:
    import re

    from conftest import ROOT

    text = (ROOT / "docs" / "strict-and-audit.md").read_text()
    code = re.findall(r"```python\n(.*?)```", text, flags=re.S)[0]
    shown = re.findall(r"```console\n\$ python train.py\n(.*?)```", text, flags=re.S)[0]
    (tmp_path / "train.py").write_text(code)
    outs = [run_py(["train.py"], cwd=tmp_path) for _ in range(2)]
    assert outs[0].returncode == 0, outs[0].stderr[-2000:]
    assert outs[0].stdout == outs[1].stdout == shown


def test_the_same_script_gives_the_same_numbers_from_any_working_directory(tmp_path: Path) -> None:
    """Call sites are named relative to the script's directory, not the working directory: run
    from its own folder and from the one above, a strict script draws the same numbers."""
    script = tmp_path / "proj" / "draw.py"
    script.parent.mkdir()
    script.write_text("import numpy as np\nprint(np.random.default_rng().random())\n")
    here = run_seedlock(["run", "--strict", str(script)], cwd=script.parent)
    above = run_seedlock(["run", "--strict", str(script)], cwd=tmp_path)
    assert here.returncode == above.returncode == 0, here.stderr + above.stderr
    assert here.stdout == above.stdout
    plain = [run_seedlock(["run", str(script)], cwd=tmp_path).stdout for _ in range(2)]
    assert plain[0] != plain[1]  # the twin: without --strict default_rng() differs run to run

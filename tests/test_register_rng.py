"""A third-party RNG joins seedlock: ``toyrng`` (tests/fixtures/toyrng, installed in the venv by
``make venv``) starts from OS entropy and registers itself with ``seedlock.register_rng``."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_py, run_seedlock

DRAWS = "import toyrng\nprint(toyrng.draw(), toyrng.draw())\n"


@pytest.fixture
def draws(tmp_path: Path) -> Path:
    script = tmp_path / "draws.py"
    script.write_text(DRAWS)
    return script


def test_seedlock_run_seeds_a_registered_library_rng(draws: Path) -> None:
    a, b = (run_seedlock(["run", "--seed", "5", str(draws)]) for _ in range(2))
    other = run_seedlock(["run", "--seed", "6", str(draws)])
    assert a.returncode == b.returncode == other.returncode == 0, a.stderr[-2000:]
    assert a.stdout.encode() == b.stdout.encode() and len(a.stdout.split()) == 2
    assert other.stdout != a.stdout


def test_without_seedlock_the_same_script_differs(draws: Path) -> None:
    a, b = (run_py([str(draws)]) for _ in range(2))
    assert a.returncode == b.returncode == 0, a.stderr[-2000:]
    assert a.stdout != b.stdout


def test_reproducible_resets_and_reseeds_it() -> None:
    code = """
import seedlock, toyrng
with seedlock.reproducible(1):
    a = toyrng.draw()
toyrng.draw()
with seedlock.reproducible(1) as block:
    b = toyrng.draw()
print(a == b, toyrng.resets)
print(block.report)
"""
    p = run_py(["-c", code])
    assert p.returncode == 0, p.stderr[-2000:]
    first, *report = p.stdout.splitlines()
    assert first == "True 2"
    assert any(line.split()[:2] == ["toyrng", "seeded"] and "seed(1)" in line for line in report), report


def test_a_module_is_waited_for_and_never_imported() -> None:
    code = """
import sys, seedlock
seedlock.register_rng("toy2", lambda n: sys.modules["toyrng"].seed(n + 1), module="toyrng")
report = seedlock.seed_everything(9)
assert "toyrng" not in sys.modules
print([e.status for e in report.entries if e.component == "toy2"])
import toyrng
print([e.status for e in report.current() if e.component == "toy2"], toyrng.draw() == (lambda: (toyrng.seed(10), toyrng.draw())[1])())
"""
    p = run_py(["-c", code])
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.splitlines() == ["['pending']", "['seeded'] True"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("numpy", print), "'numpy' is a framework seedlock seeds itself"),
        (("", print), "name must be a non-empty str"),
        (("mylib", 3), "seed (and reset) must be callable"),
    ],
)
def test_bad_registrations_say_the_fix(args: tuple[object, object], message: str) -> None:
    import seedlock
    from seedlock.errors import BadArgument

    with pytest.raises(BadArgument, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        seedlock.register_rng(*args)  # type: ignore[arg-type]


def test_registering_again_for_another_module_waits_for_that_one(tmp_path: Path) -> None:
    (tmp_path / "foo.py").write_text("")
    (tmp_path / "bar.py").write_text("")
    code = """
import sys, seedlock
seen = []
seedlock.register_rng("mine", lambda n: seen.append(("old", n)), module="foo")
seedlock.seed_everything(1)
seedlock.register_rng("mine", lambda n: seen.append(("new", n)), module="bar")
import foo
assert seen == [], seen  # foo no longer concerns "mine"
import bar
print(seen)
"""
    p = run_py(["-c", code], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[('new', 1)]"

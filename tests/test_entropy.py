"""The runtime entropy record (issue 18): every draw of OS entropy, unseeded RNG and differing seed
of the user's code is a cause at its file:line, first; its fixed twin is REPRODUCIBLE. Set order
is told apart by what seedlock fixed, and a clock seed in a branch not taken withholds nothing."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from conftest import SCRIPTS, clean_env, run_py, run_seedlock, run_together

ENTROPY = SCRIPTS / "entropy"


def check(tmp: Path, name: str, *args: str, script_args: tuple[str, ...] = ()) -> tuple[int, dict]:
    """`seedlock check --json` of tests/scripts/entropy/NAME; (exit code, its JSON). Each check in a
    directory of its own: checks side by side must not see each other's files."""
    cwd = Path(tempfile.mkdtemp(dir=tmp))
    p = run_seedlock(
        [
            "check",
            "--json",
            "--no-localize",
            "--workdir",
            str(cwd / "work"),
            *args,
            str(ENTROPY / name),
            *script_args,
        ],
        cwd=cwd,
        env=clean_env(),
    )
    return p.returncode, (json.loads(p.stdout) if p.stdout.strip() else {"stderr": p.stderr})


def line_of(name: str, needle: str) -> int:
    return next(i for i, line in enumerate((ENTROPY / name).read_text().splitlines(), 1) if needle in line)


# script, what is on the line the first cause names (the draw, not a SystemRandom's constructor), who fixes it, the fixed twin (script, check's flags)
SOURCES = [
    pytest.param("uuid4_keys.py", "uuid.uuid4()", "code", ("uuid4_keys_fixed.py", ()), id="uuid4"),
    pytest.param("urandom_noise.py", "os.urandom(8)", "code", ("urandom_noise_fixed.py", ()), id="urandom"),
    pytest.param(
        "secrets_pick.py", "secrets.randbelow(1000)", "code", ("secrets_pick_fixed.py", ()), id="secrets"
    ),
    pytest.param(
        "system_random.py", "rng.random()", "code", ("system_random_fixed.py", ()), id="SystemRandom"
    ),
    pytest.param(
        "default_rng.py",
        "np.random.default_rng()",
        "seedlock",
        ("default_rng.py", ("--strict",)),
        id="default_rng",
    ),
    pytest.param("clock_seed.py", "np.random.seed(", "code", ("clock_seed_fixed.py", ()), id="clock-seed"),
]


@pytest.mark.slow
@pytest.mark.parametrize("script,call,fixable,twin", SOURCES)
def test_a_runtime_draw_is_the_first_cause_and_its_fix_is_reproducible(
    tmp_path: Path, script: str, call: str, fixable: str, twin: tuple[str, tuple[str, ...]]
) -> None:
    (code, data), (twin_code, twin_data) = run_together(
        lambda: check(tmp_path, script), lambda: check(tmp_path, twin[0], *twin[1])
    )
    assert code == 1 and data["reproducible"] is False, data
    first = data["causes"][0]
    assert first["source"] == "runtime", data["causes"]
    assert first["location"].endswith(f"{script}:{line_of(script, call)}"), first
    assert first["fixable"] == fixable, first
    if script == "clock_seed.py":  # the record saw the seeds differ; the rule says where they came from
        assert "different seed in each run" in first["message"] and "SL104" in first["message"], first
    assert twin_code == 0 and twin_data["reproducible"] is True, twin_data


@pytest.mark.slow
def test_a_set_of_objects_hashed_by_identity_is_not_blamed_on_the_hash_seed(tmp_path: Path) -> None:
    (code, data), (sorted_code, _), (plain_code, plain) = run_together(
        lambda: check(tmp_path, "identity_set.py"),
        lambda: check(tmp_path, "identity_set_sorted.py"),
        lambda: check(tmp_path, "str_set.py", "--plain"),
    )
    assert code == 1, data
    first = data["causes"][0]
    assert first["rule"] == "SL201" and first["fixable"] == "code", first
    assert "identity" in first["message"] and "memory address" in first["message"], first
    assert "sorted(" in first["fix"] and "key=" in first["fix"] and "seedlock cannot fix" in first["fix"], (
        first
    )
    assert sorted_code == 0  # sorted by a key: the same order in every run
    # A set of str under --plain: the hash seed is the cause, and seedlock fixes it.
    assert plain_code == 1, plain
    (cause,) = [c for c in plain["causes"] if c.get("rule") == "SL201"]
    assert "PYTHONHASHSEED" in cause["message"] and cause["fixable"] == "seedlock", cause


@pytest.mark.slow
def test_a_set_of_str_repeats_under_seedlock(tmp_path: Path) -> None:
    code, data = check(tmp_path, "str_set.py")
    assert code == 0 and data["reproducible"] is True, data


@pytest.mark.slow
def test_a_clock_seed_withholds_the_verdict_only_where_it_ran(tmp_path: Path) -> None:
    (untaken, data), (taken, _) = run_together(
        lambda: check(tmp_path, "clock_branch.py"),
        lambda: check(tmp_path, "clock_branch.py", script_args=("clock",)),
    )
    assert untaken == 0 and data["reproducible"] is True, data  # the line never ran
    assert taken == 2  # it ran: an hour later the runs would differ


@pytest.mark.slow
def test_run_audit_lists_the_draws_and_appends_them_as_they_happen(tmp_path: Path) -> None:
    record = tmp_path / "entropy.jsonl"
    script = tmp_path / "s.py"
    script.write_text(
        "import os, tempfile, uuid\n"
        "tempfile.mkdtemp()\n"  # the standard library's own draw: not the user's
        "print(uuid.uuid4() != uuid.uuid1())\n"
        "os.urandom(4)\n"
        "os._exit(3)\n"  # no exit handlers: only what was appended as it happened remains
    )
    p = run_seedlock(["run", str(script)], cwd=tmp_path, env=clean_env(SEEDLOCK_ENTROPY=str(record)))
    assert p.returncode == 3, p.stderr
    recs = [json.loads(line) for line in record.read_text().splitlines()]
    assert [(r["source"], r["line"]) for r in recs] == [
        ("uuid.uuid4", 3),
        ("uuid.uuid1", 3),
        ("os.urandom", 4),
    ]
    script.write_text("import secrets\nsecrets.token_hex(4)\n")
    p = run_seedlock(["run", "--audit", str(script)], cwd=tmp_path, env=clean_env())
    assert p.returncode == 0 and "entropy: secrets.token_hex(4) at s.py:2 drew OS entropy" in p.stderr, (
        p.stderr
    )


def test_the_record_is_not_installed_by_a_plain_seeded_run(tmp_path: Path) -> None:
    # seedlock run without --audit or check's variable: os.urandom stays the os module's own.
    (tmp_path / "s.py").write_text("import os\nprint(os.urandom.__module__)\n")
    p = run_seedlock(["run", "s.py"], cwd=tmp_path)
    assert p.stdout.strip() in ("posix", "nt"), p.stdout + p.stderr
    p = run_py(["-c", "import seedlock.audit.entropy, sys; print('numpy' in sys.modules)"])
    assert p.stdout.strip() == "False", p.stderr

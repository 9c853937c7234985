"""The runtime entropy record (issue 18): every draw of OS entropy, unseeded RNG and differing seed
of the user's code is a cause at its file:line, first; its fixed twin is REPRODUCIBLE. Set order
is told apart by what seedlock fixed, and a clock seed in a branch not taken withholds nothing."""

from __future__ import annotations

import json
import tempfile
import uuid
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
    # one bit of a uuid picks the data: plain draws agree in one pair of runs in two; check's mirror
    pytest.param("uuid4_shard.py", "uuid.uuid4()", "code", ("uuid4_shard_fixed.py", ()), id="uuid4-bit"),
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
    if not twin[1]:  # the fixed code draws nothing the REPRODUCIBLE must mention
        assert "entropy_draws" not in twin_data["compared"], twin_data


@pytest.mark.slow
def test_equal_runs_that_drew_os_entropy_say_so_with_the_verdict(tmp_path: Path) -> None:
    """A uuid4 that names a log file only: the runs are equal and REPRODUCIBLE stands, but it says
    where they drew what no seed reaches (equal by chance is possible: two uuids sort alike half
    the time). The fixed twins of the sources above draw nothing and say nothing."""
    (code, data), said = run_together(
        lambda: check(tmp_path, "uuid4_run_id.py"),
        lambda: run_seedlock(
            # a directory of its own: the other check writing beside it would be a write in its working directory
            ["check", "--no-localize", str(ENTROPY / "uuid4_run_id.py")],
            cwd=Path(tempfile.mkdtemp(dir=tmp_path)),
            env=clean_env(),
        ),
    )
    assert code == 0 and data["reproducible"] is True, data
    assert said.returncode == 0 and "the runs drew values the master seed did not fix" in said.stdout, (
        said.stdout
    )
    assert "uuid4_run_id.py:4: uuid.uuid4() drew a random UUID" in said.stdout, said.stdout
    (draw,) = data["compared"]["entropy_draws"]
    assert draw["location"].endswith(f"uuid4_run_id.py:{line_of('uuid4_run_id.py', 'uuid.uuid4()')}"), draw
    assert "random UUID" in draw["message"] and "different" not in draw["message"], draw


@pytest.mark.slow
def test_equal_runs_given_different_seeds_get_no_verdict(tmp_path: Path) -> None:
    """A clock seed the scan cannot follow (through an attribute): the record saw random.seed()
    given another seed in each run, so equal runs prove nothing; the twin with a fixed seed is
    REPRODUCIBLE."""
    (code, data), (fixed_code, fixed) = run_together(
        lambda: check(tmp_path, "seed_via_config.py"),
        lambda: check(tmp_path, "seed_via_config.py", script_args=("fixed",)),
    )
    assert code == 2 and data["reproducible"] is None, data
    assert "no verdict: the runs were bitwise equal" in data["error"], data
    line = line_of("seed_via_config.py", "random.seed(")
    assert f"seed_via_config.py:{line}: random.seed() was given a different seed in each run" in data["error"]
    assert fixed_code == 0 and fixed["reproducible"] is True, fixed


@pytest.mark.slow
def test_a_set_of_objects_hashed_by_identity_is_not_blamed_on_the_hash_seed(tmp_path: Path) -> None:
    (code, data), (sorted_code, sorted_data), (plain_code, plain), (ints_code, ints) = run_together(
        lambda: check(tmp_path, "identity_set.py"),
        lambda: check(tmp_path, "identity_set_sorted.py"),
        lambda: check(tmp_path, "str_set.py", "--plain"),
        lambda: check(tmp_path, "identity_set_ints.py"),
    )
    assert code == 1, data
    first = data["causes"][0]
    assert first["rule"] == "SL201" and first["fixable"] == "code", first
    assert "identity" in first["message"] and "memory address" in first["message"], first
    assert "sorted(" in first["fix"] and "key=" in first["fix"] and "seedlock cannot fix" in first["fix"], (
        first
    )
    assert sorted_code == 0  # sorted by a key: the same order in every run
    assert "identity_sets" not in sorted_data["compared"], sorted_data
    # Equal runs over such a set (an int sum, the same in any order) keep REPRODUCIBLE, and say where
    # the set is: ordered by address, which often repeats by chance, equal runs prove little of it.
    assert ints_code == 0 and ints["reproducible"] is True, ints
    (held,) = ints["compared"]["identity_sets"]
    assert held["location"].endswith(f"identity_set_ints.py:{line_of('identity_set_ints.py', 'for item')}")
    assert "Item objects, hashed by identity" in held["message"], held
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


def only_timing(source: str, line: int, what: str | None = None) -> str | None:
    from seedlock.doctor.static.context import Module
    from seedlock.doctor.static.timing import only_timing as found

    return found(Module(source, "t.py"), line, what)


def test_a_value_that_only_times_a_sleep_is_told_from_one_a_result_holds() -> None:
    head = "import random, time, os\nj = random.SystemRandom()\n"
    # only a duration: arithmetic, a number builtin, a name bound once, a method of the generator
    assert only_timing(head + "time.sleep(j.random() * 0.01)\n", 3) == "time.sleep"
    assert only_timing(head + "time.sleep(max(0.0, j.gauss(0, 1)))\n", 3) == "time.sleep"
    assert only_timing(head + "d = j.uniform(0, 1)\ntime.sleep(d)\n", 3) == "time.sleep"
    assert (
        only_timing(head + "time.sleep(j.random())\n", 2) == "time.sleep"
    )  # the constructor: every use sleeps
    assert only_timing("import os, asyncio\nawait_ = asyncio.sleep(os.urandom(1)[0] / 1e3)\n", 2) is None
    # a result may hold it: printed, kept, used for a sleep and a value, bound twice, an unknown call
    assert only_timing(head + "x = j.random()\ntime.sleep(x)\nprint(x)\n", 3) is None
    assert only_timing(head + "time.sleep(j.random())\nprint(j.random())\n", 2) is None
    assert only_timing(head + "out = [j.random()]\n", 3) is None
    assert only_timing(head + "d = j.random()\nd = 1.0\ntime.sleep(d)\n", 3) is None
    assert only_timing(head + "time.sleep(scale(j.random()))\n", 3) is None
    assert only_timing(head + "j.shuffle(items)\n", 2) is None  # shuffles a list in place
    # the runtime record names the call: another call on its line does not count against it
    line = head + "print(len(values)); time.sleep(j.random())\n"
    assert only_timing(line, 3) is None and only_timing(line, 3, "j.random()") == "time.sleep"


def test_a_recorded_draw_that_only_times_a_sleep_ranks_below_the_order_it_perturbs(tmp_path: Path) -> None:
    from seedlock.verify.causes import static_causes
    from seedlock.verify.entropy import RUNTIME_RANK, TIMING_RANK, runtime_causes
    from seedlock.verify.entropy import timed_static as timed

    script = tmp_path / "s.py"
    script.write_text(
        "import random, time\nj = random.SystemRandom()\ntime.sleep(j.random())\nprint(j.random())\n"
    )
    rec = {"kind": "entropy", "source": "random.SystemRandom", "path": str(script)}
    slept, printed = runtime_causes(
        [[{**rec, "line": 3, "what": "j.random()"}, {**rec, "line": 4, "what": "j.random()"}]]
    )
    assert (
        slept.rank == TIMING_RANK and "goes only to time.sleep()" in slept.message and slept.fixable == "code"
    )
    assert printed.rank == RUNTIME_RANK and "only" not in printed.message  # a result holds this one
    # the static SystemRandom finding: seedlock cannot seed it (--strict leaves it alone), and it
    # keeps its rank where a draw reaches a result
    (ctor,) = [timed(c) for c in static_causes([str(script)]) if c.rule == "SL101"]
    assert ctor.fixable == "code" and "--strict" not in (ctor.fix or "") and ctor.rank < TIMING_RANK, ctor
    script.write_text("import random, time\nj = random.SystemRandom()\ntime.sleep(j.random())\n")
    (ctor,) = [timed(c) for c in static_causes([str(script)]) if c.rule == "SL101"]
    assert ctor.rank == TIMING_RANK and "no result holds them" in ctor.message, ctor


@pytest.mark.slow
def test_threads_timed_by_a_jitter_differ_by_their_order_and_reading_them_in_order_fixes_it(
    tmp_path: Path,
) -> None:
    """check/thread_order.py: each thread sleeps a SystemRandom jitter, and the floats are summed as
    the threads finish. The order is the first cause, the jitter below it; the order's fix, with the
    jitter kept, is REPRODUCIBLE (the twin)."""
    script = str(SCRIPTS / "check" / "thread_order.py")

    def check_(*args: str) -> tuple[int, dict]:
        cwd = Path(tempfile.mkdtemp(dir=tmp_path))
        p = run_seedlock(["check", "--json", "--no-localize", *args], cwd=cwd, env=clean_env())
        return p.returncode, json.loads(p.stdout)

    (code, data), (fixed, fixed_data) = run_together(
        lambda: check_(script), lambda: check_("--runs", "3", script, "ordered")
    )
    assert code == 1 and data["reproducible"] is False, data
    first, *rest = data["causes"]
    assert first["rule"] == "SL203" and "completion order" in first["message"], data["causes"]
    (jitter,) = [c for c in rest if c["source"] == "runtime"]
    assert (
        jitter["location"].endswith("thread_order.py:17") and "goes only to time.sleep()" in jitter["message"]
    )
    assert jitter["fixable"] == "code" and "not the OS scheduler" in jitter["fix"], jitter
    assert fixed == 0 and fixed_data["reproducible"] is True, fixed_data


STEERED = ("urandom", "uuid4", "random", "getrandbits", "randbelow", "choice", "token_hex", "numpy_size")


def probe(tmp: Path, draws: str | None) -> dict:
    """tests/scripts/entropy/mirror_probe.py under `seedlock run` as check's run would start it: its
    entropy record in a folder of its own (where its processes claim their identities)."""
    rundir = Path(tempfile.mkdtemp(dir=tmp))
    extra = {"SEEDLOCK_ENTROPY": str(rundir / "entropy.jsonl")} | ({"SEEDLOCK_DRAWS": draws} if draws else {})
    p = run_seedlock(["run", str(ENTROPY / "mirror_probe.py")], env=clean_env(**extra))
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout)


def test_check_runs_draw_mirror_images_of_os_entropy_process_by_process(tmp_path: Path) -> None:
    """check's run 1 and run 2 (``$SEEDLOCK_DRAWS`` KEY:0 and KEY:1) draw mirror images: bytes and
    bits flipped, random() as 1 - x, randbelow(n) as n - 1 - r, in the script and in its fork and
    spawn workers; run 1 launched again draws the same. A forkserver worker and a plain subprocess,
    which runs cannot be matched by, keep the OS's entropy, as do unseeded RNGs (a generator from
    flipped seed bits is no mirror) and a run without the key (the twin). Two children that inherit
    one RANK are not both that rank: they never draw alike."""
    first, again, mirror, plain, plain2 = run_together(
        *[lambda d=d: probe(tmp_path, d) for d in ("k3y:0:", "k3y:0:", "k3y:1:", None, None)]
    )
    for kind in (*STEERED, "fork", "spawn"):
        assert first[kind] == again[kind] != mirror[kind], kind
    for kind in ("urandom", "uuid4", "random", "token_hex", "fork", "spawn"):  # 32 bits and more
        assert plain[kind] != plain2[kind], kind  # OS entropy: a run of its own draws anew
    flip = {
        kind: int(first[kind], 16) ^ int(mirror[kind], 16)
        for kind in ("urandom", "fork", "spawn", "token_hex")
    }
    assert flip == {"urandom": 2**64 - 1, "fork": 2**64 - 1, "spawn": 2**64 - 1, "token_hex": 2**32 - 1}
    version_and_variant = 0xF000 << 64 | 0xC000 << 48  # uuid4 sets them in every run
    assert (
        uuid.UUID(hex=first["uuid4"]).int ^ uuid.UUID(hex=mirror["uuid4"]).int
        == (2**128 - 1) ^ version_and_variant
    )
    assert first["random"] + mirror["random"] == 1 - 2**-53
    assert first["getrandbits"] ^ mirror["getrandbits"] == 2**13 - 1
    assert first["randbelow"] + mirror["randbelow"] == 5
    i, j = "abcdefg".index(first["choice"]), "abcdefg".index(mirror["choice"])
    assert j == {2: 3, 3: 4, 4: 2}.get(i, 6 - i), (i, j)  # n - 1 - r; seven's three middle ones go round
    assert first["numpy_size"] ^ mirror["numpy_size"] == 2**40 - 1  # a numpy integer as the size
    assert first["fork_while_held"] == "exit 0", first  # a lock held at the fork is not held in the child
    for kind in ("forkserver", "subprocess", "numpy", "Random"):  # no pairing across runs: left alone
        assert first[kind] != again[kind], kind
    assert first["signal_while_held"] == "ok", first  # a handler that draws inside a draw of its thread
    # The first child that inherited RANK=0 is that rank, steered; the second keeps the OS's entropy.
    assert first["same_rank"][0] == again["same_rank"][0] and first["same_rank"][1] != again["same_rank"][1]
    for run in (first, again, mirror):
        assert run["same_rank"][0] != run["same_rank"][1], run["same_rank"]
        assert run["c_fork"][0] != run["c_fork"][1], run["c_fork"]  # parent and a child forked from C


def test_the_mirror_of_randbelow_is_one_to_one_and_moves_every_value() -> None:
    """Run 2's randbelow(n) (choice, shuffle, randrange) is as uniform as run 1's and never equal to
    it: n - 1 - r, and an odd n's three middle values go round (n - 1 - r keeps the middle one)."""
    from seedlock.audit.entropy import _below_mirror

    for n in range(2, 64):
        images = [_below_mirror(r, (None, n), {}) for r in range(n)]
        assert sorted(images) == list(range(n)), n
        assert all(image != r for r, image in enumerate(images)), (n, images)
    assert [n - 1 - r for n in (7,) for r in range(n)][3] == 3  # the plain map's fixed point

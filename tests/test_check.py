"""`seedlock check` and `seedlock diff` on a corpus of scripts: every verdict and exit code right."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from conftest import SCRIPTS, clean_env, run_seedlock
from seedlock.trace import read_trace

CHECK = SCRIPTS / "check"


def check(*args: str, env: dict[str, str] | None = None, tmp: Path) -> tuple[int, dict | None, str]:
    p = run_seedlock(
        ["check", "--json", "--workdir", str(tmp / "work"), *args], env=env or clean_env(), timeout=600
    )
    data = json.loads(p.stdout) if p.stdout.strip() else None
    if p.returncode == 2:  # no verdict: --json says why in one object, {"reproducible": null, "error": ...}
        assert data is None or (data["reproducible"] is None and set(data) == {"reproducible", "error"}), (
            p.stdout
        )
        return 2, None, (data["error"] if data else "") + "\n" + p.stderr
    return p.returncode, data, p.stderr


REPRODUCIBLE = [
    pytest.param(SCRIPTS / "keras_mlp.py", {"KERAS_BACKEND": "tensorflow"}, id="keras-tensorflow"),
    pytest.param(SCRIPTS / "keras_mlp.py", {"KERAS_BACKEND": "jax"}, id="keras-jax"),
    pytest.param(SCRIPTS / "keras_mlp.py", {"KERAS_BACKEND": "torch"}, id="keras-torch"),
    pytest.param(SCRIPTS / "torch_loader.py", {}, id="torch-dataloader"),
    pytest.param(SCRIPTS / "tf1_graph.py", {}, id="tf1-graph"),
    pytest.param(SCRIPTS / "tf_scenarios.py", {}, id="sklearn-and-tf-data"),
]


@pytest.mark.slow
@pytest.mark.parametrize("script,extra", REPRODUCIBLE)
def test_reproducible_corpus(script: Path, extra: dict, tmp_path: Path) -> None:
    code, data, err = check(str(script), env=clean_env(**extra), tmp=tmp_path)
    assert code == 0, err[-3000:]
    assert (
        data is not None and data["reproducible"] is True and data["divergence"] is None and data["runs"] == 2
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "script,extra,what",
    [
        pytest.param(
            SCRIPTS / "keras_mlp.py", {"KERAS_BACKEND": "tensorflow"}, "tensor", id="keras-tensorflow"
        ),
        pytest.param(SCRIPTS / "torch_loader.py", {}, "tensor", id="torch-dataloader"),
    ],
)
@pytest.mark.slow
def test_plain_twin_is_not_reproducible(script: Path, extra: dict, what: str, tmp_path: Path) -> None:
    """The twin: the same scripts without seedlock's seeding (--plain) really differ, and check says so."""
    code, data, _ = check("--plain", "--no-localize", str(script), env=clean_env(**extra), tmp=tmp_path)
    assert code == 1 and data is not None and data["reproducible"] is False
    assert data["divergence"]["source"] == "trace" and data["divergence"]["reason"] == what
    assert data["causes"][0]["source"] == "plain"


@pytest.mark.parametrize(
    "script,rule",
    [
        ("unseeded_rng.py", "SL101"),
        ("clock_seed.py", "SL104"),
        ("thread_order.py", "SL203"),
        ("uuid_order.py", None),
    ],
)
@pytest.mark.slow
def test_not_reproducible_corpus(script: str, rule: str | None, tmp_path: Path) -> None:
    code, data, err = check(str(CHECK / script), tmp=tmp_path)
    assert code == 1, err
    assert data is not None and data["reproducible"] is False
    assert data["divergence"]["source"] == "stdout" and data["divergence"]["line"] == 1
    if rule is not None:  # the static scan names the line that explains it
        found = [c for c in data["causes"] if c.get("rule") == rule]
        assert found and found[0]["location"].endswith(f"{script}:{_line_of(CHECK / script, rule)}")
        first = data["causes"][0]  # unseeded entropy ranks first: as recorded at run time, or the rule's line
        if rule == "SL203":  # its SystemRandom jitter only times the sleeps: the order is the cause
            assert first["rule"] == "SL203", first
        else:
            assert first["source"] == "runtime" or first["rule"] in ("SL101", "SL104"), first


def _line_of(path: Path, rule: str) -> int:
    needle = {"SL101": "default_rng()", "SL104": "time.time_ns()", "SL203": "as_completed("}[rule]
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


@pytest.mark.slow
def test_strict_makes_unseeded_rng_reproducible(tmp_path: Path) -> None:
    pytest.importorskip("seedlock.strict")
    code, data, err = check("--strict", str(CHECK / "unseeded_rng.py"), tmp=tmp_path)
    assert code == 0, err


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_planted_keras_divergence_found_at_epoch_3_in_dense_2(backend: str, tmp_path: Path) -> None:
    code, data, err = check(
        str(CHECK / "keras_planted.py"), env=clean_env(KERAS_BACKEND=backend), tmp=tmp_path
    )
    assert code == 1, err[-3000:]
    div = data["divergence"]
    assert div["source"] == "trace" and div["epoch"] == 3 and div["kind"] == "epoch"
    assert div["layer"]["layer"] == "dense_2"
    assert div["layer"]["max_ulp"] >= 1 and div["layer"]["max_abs"] > 0


@pytest.mark.slow
def test_planted_torch_divergence_found_at_step_3_in_noisy(tmp_path: Path) -> None:
    code, data, err = check(str(CHECK / "torch_planted.py"), tmp=tmp_path)
    assert code == 1, err[-3000:]
    div = data["divergence"]
    assert div["kind"] == "step" and div["step"] == 3
    assert div["layer"]["layer"] == "Sequential.noisy"


@pytest.mark.slow
def test_ignore_stdout_for_wall_clock_lines(tmp_path: Path) -> None:
    code, data, _ = check(str(CHECK / "timed.py"), tmp=tmp_path)
    assert code == 1 and data["divergence"]["line"] == 2  # line 1, the result, is equal
    # The cause says it is a time and gives the --ignore-stdout that makes the lines equal.
    (cause,) = [c for c in data["causes"] if c["source"] == "stdout"]
    assert "differs only in a printed time" in cause["message"]
    regex = shlex.split(cause["fix"].split("--ignore-stdout ")[1])[0]
    code, data, _ = check("--ignore-stdout", regex, str(CHECK / "timed.py"), tmp=tmp_path / "b")
    assert code == 0 and data["reproducible"] is True


@pytest.mark.slow
def test_crash_is_never_a_verdict(tmp_path: Path) -> None:
    code, data, err = check(str(CHECK / "crash.py"), tmp=tmp_path)
    assert code == 2 and data is None
    assert (
        "exited with code 3" in err
        and "no verdict" in err
        and "something went wrong in the data loader" in err
    )
    assert "Traceback" not in err


HANGS = """\
import subprocess, sys
# A worker of the script's own (as a DataLoader's would be), then the script hangs on it.
child = subprocess.Popen([sys.executable, "-c", "import time\\nwhile True: time.sleep(1)"])
with open(sys.argv[1], "a") as f:
    f.write(f"{child.pid}\\n")
child.wait()
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"  # a zombie has exited: only its exit status is left for a parent to read


@pytest.mark.slow
def test_timeout_is_no_verdict_and_kills_the_scripts_children(tmp_path: Path) -> None:
    (tmp_path / "hangs.py").write_text(HANGS)
    pids = tmp_path / "pids.txt"
    code, data, err = check(
        "--timeout", "5", "--no-localize", str(tmp_path / "hangs.py"), str(pids), tmp=tmp_path
    )
    assert code == 2 and data is None and "Traceback" not in err
    assert "timed out" in err or "timeout" in err, err
    children = [int(x) for x in pids.read_text().split()]
    assert len(children) == 2 and not any(_alive(pid) for pid in children)


@pytest.mark.slow
def test_runs_not_started_when_one_already_failed(tmp_path: Path) -> None:
    """One after another (--sequential), a run killed at --timeout is no verdict already: the runs
    after it are not started (each would spend the timeout again: --explain's settings did). The
    twin, a script that ends, runs all three."""
    (tmp_path / "hangs.py").write_text(
        "import threading\nprint('started', flush=True)\nthreading.Event().wait()\n"
    )
    (tmp_path / "ends.py").write_text("print('done')\n")
    common = ["--runs", "3", "--sequential", "--timeout", "3", "--no-localize", "--no-explain"]
    code, data, err = check(*common, str(tmp_path / "hangs.py"), tmp=tmp_path / "a")
    ok, _, _ = check(*common, str(tmp_path / "ends.py"), tmp=tmp_path / "b")
    assert code == 2 and data is None and "run 1 of 3" in err, err
    assert sorted(p.name for p in (tmp_path / "a" / "work").glob("run-*")) == ["run-1"]
    assert ok == 0 and sorted(p.name for p in (tmp_path / "b" / "work").glob("run-*")) == [
        "run-1",
        "run-2",
        "run-3",
    ]


@pytest.mark.slow
def test_nothing_to_compare_is_not_reproducible_verdict(tmp_path: Path) -> None:
    code, _, err = check(str(CHECK / "silent.py"), tmp=tmp_path)
    assert code == 2 and "nothing to compare" in err


@pytest.mark.slow
def test_text_output(tmp_path: Path) -> None:
    p = run_seedlock(["check", "--workdir", str(tmp_path), "--runs", "3", str(CHECK / "unseeded_rng.py")])
    assert p.returncode == 1
    assert "NOT REPRODUCIBLE" in p.stdout and "runs 1 and 2" in p.stdout and "unseeded_rng.py:3" in p.stdout
    ok = run_seedlock(
        ["check", "--workdir", str(tmp_path / "ok"), "--runs", "3", str(CHECK / "clock_seed.py")],
        env=clean_env(),
    )
    assert ok.returncode == 1


BAD = [
    (["check", "--runs", "0", "x.py"], "--runs must be at least 2"),
    (["check", "--runs", "99999999999999999999", "x.py"], "--runs must be at most 1000"),
    (["check", "--timeout", "0", "x.py"], "--timeout must be a positive number"),
    (["check", "--timeout", "nan", "x.py"], "--timeout must be a positive number"),
    (
        ["check", "--workdir", "/proc/wd", str(CHECK / "timed.py")],
        "--workdir '/proc/wd': cannot create files",
    ),
    (["check", "--workdir", f"{CHECK / 'timed.py'}/wd", str(CHECK / "timed.py")], "is not a directory"),
    (["check", "--granularity", "hourly", "x.py"], "unknown granularity 'hourly'"),
    (["check", "nope_missing.py"], "not found"),
    (["check", "--ignore-stdout", "(", str(CHECK / "timed.py")], "not a valid regular expression"),
    (["diff", "missing-a.trace", "missing-b.trace"], "not found"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[" ".join(a[:3]) for a, _ in BAD])
def test_bad_input(args: list[str], message: str) -> None:
    p = run_seedlock(args)
    assert p.returncode == 2
    assert len(p.stderr.strip().splitlines()) == 1 and message in p.stderr and "Traceback" not in p.stderr


def test_diff_not_a_trace(tmp_path: Path) -> None:
    bad = tmp_path / "bad.trace"
    bad.write_text("hello\n")
    p = run_seedlock(["diff", str(bad), str(bad)])
    assert (
        p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and "not a seedlock trace" in p.stderr
    )


@pytest.mark.slow
def test_run_trace_and_diff_across_seeds(tmp_path: Path) -> None:
    """`seedlock run --trace` with no change to the script; `diff` finds the first divergent
    tensor and, from the manifests, what differs between the two runs' environments."""
    env = clean_env(KERAS_BACKEND="jax")
    traces = {}
    for name, seed in (("a", "0"), ("a2", "0"), ("b", "3")):
        traces[name] = tmp_path / f"{name}.trace"
        p = run_seedlock(
            ["run", "--seed", seed, "--trace", str(traces[name]), str(SCRIPTS / "keras_mlp.py")], env=env
        )
        assert p.returncode == 0, p.stderr[-2000:]
        assert Path(str(traces[name]) + ".manifest.json").exists()
    same = run_seedlock(["diff", "--json", str(traces["a"]), str(traces["a2"])])
    assert same.returncode == 0 and json.loads(same.stdout)["identical"] is True
    p = run_seedlock(["diff", "--json", str(traces["a"]), str(traces["b"])])
    assert p.returncode == 1
    data = json.loads(p.stdout)
    assert data["divergence"]["reason"] == "tensor" and data["divergence"]["epoch"] == 0
    messages = [d["message"] for d in data["environment"]]
    assert "seed: 0 vs 3" in messages and any("PYTHONHASHSEED" in m for m in messages)
    text = run_seedlock(["diff", str(traces["a"]), str(traces["b"])])
    assert "DIFFERENT" in text.stdout and "seed: 0 vs 3" in text.stdout
    # --granularity exit: no per-epoch records, the same exit fingerprint (what `repeat` records).
    exit_trace = tmp_path / "x.trace"
    p = run_seedlock(
        [
            "run",
            "--seed",
            "0",
            "--trace",
            str(exit_trace),
            "--granularity",
            "exit",
            str(SCRIPTS / "keras_mlp.py"),
        ],
        env=env,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    full, short = read_trace(traces["a"]), read_trace(exit_trace)
    assert [r.kind for r in short] == ["final", "stdout"] and short.granularity == "exit"
    assert "epoch" in {r.kind for r in full}
    assert full.final is not None and short.final is not None
    assert short.final.extra["digest"] == full.final.extra["digest"]

"""`seedlock repeat`: metrics, fingerprints, resume, bad input; real subprocesses, tiny numpy scripts."""

from __future__ import annotations

import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import clean_env, run_seedlock
from seedlock.cli.repeat import split_args
from seedlock.errors import SeedlockError
from seedlock.repeat import metrics as repeat_metrics
from seedlock.repeat.preimport import plan
from seedlock.repeat.run import default_name
from seedlock.repeat.store import Store

TINY = """\
import json
import random

import numpy as np

import seedlock

x = float(np.random.rand())
seedlock.log_metric("x", x)
for step in range(3):
    print(json.dumps({"step": step, "loss": random.random()}))
print("x is", x)
"""


def write(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def fingerprints(store: Path, exp: str) -> dict[int, str | None]:
    with Store(store, create=False) as s:
        return {t.seed: t.fingerprint for t in s.trials(exp)}


# --- in-process units ------------------------------------------------------------------------------


def test_split_args_options_stop_at_the_script() -> None:
    assert split_args(["--seeds", "3", "train.py", "--lr", "0.1", "--workers=2", "--no-fork"]) == (
        ["--seeds", "3", "--", "train.py"],
        ["--lr", "0.1", "--workers=2", "--no-fork"],
    )
    assert split_args(["--seeds", "3", "--", "train.py", "--seeds", "9"]) == (
        ["--seeds", "3", "--", "train.py"],
        ["--seeds", "9"],
    )
    assert split_args(["--seeds", "2"]) == (["--seeds", "2"], [])
    assert split_args(["-j2", "-Mloss", "t.py", "-x"]) == (["-j2", "-Mloss", "--", "t.py"], ["-x"])


@pytest.mark.parametrize("command", ["run", "check", "repeat"])
def test_a_seedlock_option_after_the_script_is_one_line_exit_2(tmp_path: Path, command: str) -> None:
    """One rule for every command: after the script, the script's; a seedlock option there that a
    script parsing no command line cannot take is a mistake (repeat took it, run and check gave it away)."""
    write(
        tmp_path, "s.py", "print('hello')  # usage: seedlock repeat s.py --seeds 5 (a comment is no option)\n"
    )
    option = {"run": "--seed", "check": "--runs", "repeat": "--seeds"}[command]
    r = run_seedlock([command, "s.py", option, "2"], cwd=tmp_path, env=clean_env())
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert f"{option} comes after the script, so it goes to s.py, which does not name it" in r.stderr
    assert f"seedlock {command} {option} 2 ... s.py" in r.stderr
    # A script that has the option gets it, as python would give it.
    write(tmp_path, "own.py", f"import sys\nif '{option}' in sys.argv:\n    print(sys.argv[1:])\n")
    ok = run_seedlock(["run", "own.py", option, "2"], cwd=tmp_path, env=clean_env())
    assert ok.returncode == 0 and ok.stdout.strip() == f"['{option}', '2']" and ok.stderr == "", ok.stderr


def test_a_script_whose_parser_lives_elsewhere_gets_a_note_and_runs(tmp_path: Path) -> None:
    """Options defined in another module (a package's cli.py): seedlock cannot see them; it says
    so in one line and runs the script, which gets the option."""
    (tmp_path / "mycli.py").write_text(
        "import argparse\ndef parse():\n    p = argparse.ArgumentParser()\n"
        "    p.add_argument('--seed', type=int)\n    return p.parse_args()\n"
    )
    write(tmp_path, "train.py", "from mycli import parse\nprint(parse().seed)\n")
    r = run_seedlock(["run", "train.py", "--seed", "3"], cwd=tmp_path, env=clean_env())
    assert r.returncode == 0 and r.stdout.strip() == "3", r.stderr
    assert r.stderr.startswith("seedlock: note: --seed comes after the script") and r.stderr.count("\n") == 1


def test_default_name_and_preimport_plan() -> None:
    assert default_name("dir/train.py", []) == "train"
    assert default_name("train.py", ["--lr", "0.1"]) != default_name("train.py", ["--lr", "0.2"])
    steps = plan(
        "import os\nimport numpy as np\nfrom a.b import c\nfrom . import local\n"
        "os.environ['KERAS_BACKEND'] = 'torch'\nx = os.environ.get('X')\nimport keras\n"
        "os.environ[name] = 'v'\nimport late\n"
    )
    assert steps == [
        ("import", "os"),
        ("import", "numpy"),
        ("import", "a.b"),
        ("setenv", "KERAS_BACKEND", "torch", "set"),
        ("import", "keras"),
    ]


def test_metric_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np

    import seedlock
    from seedlock.trace import metrics

    text = 'x\n{"step": 2, "a": 1, "b": 2.5}\n{"a": true}\n{"s": "x"}\n{"step": 1.5, "a": 1}\n  {"c": -1e3}\n'
    assert repeat_metrics.parse_stdout(text) == [("a", 2, 1.0), ("b", 2, 2.5), ("c", None, -1000.0)]
    (nan,) = repeat_metrics.parse_stdout('{"c": NaN}')
    assert nan[0] == "c" and nan[2] != nan[2]

    monkeypatch.delenv("SEEDLOCK_METRICS", raising=False)
    monkeypatch.setattr(metrics, "_warned", False)
    seedlock.log_metric("acc", 0.5)
    seedlock.log_metric("acc", 0.6)
    assert capsys.readouterr().err.count("does nothing") == 1  # warned once, no file written
    with pytest.raises(SeedlockError, match="value must be a number"):
        seedlock.log_metric("acc", "high")
    with pytest.raises(SeedlockError, match="step must be an int"):
        seedlock.log_metric("acc", 1.0, step=1.5)

    out = tmp_path / "m.jsonl"
    monkeypatch.setenv("SEEDLOCK_METRICS", str(out))
    seedlock.log_metric("acc", np.float32(0.75), step=np.int64(3))
    seedlock.log_metric("final", 1)
    metrics.log_history(SimpleNamespace(history={"loss": [0.5, 0.25], "lr": ["x", "y"]}, epoch=[0, 1]))
    assert repeat_metrics.read_file(out) == [
        ("acc", 3, 0.75),
        ("final", None, 1.0),
        ("loss", 1, 0.5),
        ("loss", 2, 0.25),
    ]
    with open(out, "a") as f:
        f.write('{"name": "cut", "val')  # a trial killed mid-line
    assert len(repeat_metrics.read_file(out)) == 4


# --- the command ---------------------------------------------------------------------------------


LEAKY = """\
import sys
# True only in a forked trial: the fork-server imported colorsys before the script's first line.
inherited = "colorsys" in sys.modules
import colorsys
import numpy as np
print("inherited", inherited, "draw", float(np.random.rand()), colorsys.ONE_THIRD)
"""


UNCLOSED = """\
import os, random
f = open(f"out-{os.environ['SEEDLOCK_SEED']}.txt", "w")  # never closed: python flushes it as it finalises f
f.write(f"{random.random()}\\n")
"""


def test_a_forked_trial_finalises_the_scripts_globals_as_python_does(tmp_path: Path) -> None:
    # A forked trial ends with os._exit, after the exit fingerprint (which needs the globals):
    # the fork-server must then finalise them itself, or an unclosed file loses what it buffered.
    write(tmp_path, "w.py", UNCLOSED)
    r = run_seedlock(["repeat", "--seeds", "3", "--workers", "2", "w.py"], cwd=tmp_path, env=clean_env())
    assert r.returncode == 0 and "(fork-server" in r.stdout, r.stdout + r.stderr
    # each trial wrote in its own view of the working directory (docs/repeat.md)
    texts = [
        next(tmp_path.glob(f".seedlock/runs/*/seed-{seed}/view/*/out-{seed}.txt")).read_text()
        for seed in range(3)
    ]
    assert all(t.strip() for t in texts) and len(set(texts)) == 3, texts


@pytest.mark.slow
def test_a_forked_trial_that_differs_from_a_cold_run_reruns_everything_fresh(tmp_path: Path) -> None:
    """The fork-server's check can fail: state the zygote left behind changes what a trial prints.
    Nothing forked may then be stored; every seed runs again in a fresh process."""
    write(tmp_path, "leaky.py", LEAKY)
    env = clean_env()
    r = r_first = run_seedlock(
        ["repeat", "--seeds", "3", "--workers", "2", "leaky.py"], cwd=tmp_path, env=env
    )
    assert r.returncode == 0, r.stderr
    assert "warning: seed 0 forked differs from a cold run" in r.stderr and "verified:" not in r.stderr
    assert "3 ok of 3 trials" in r.stdout and "(fresh processes, 2 workers)" in r.stdout
    db = tmp_path / ".seedlock" / "seedlock.db"
    with Store(db, create=False) as store:
        trials = store.trials("leaky")
        assert [t.manifest["determinism"]["executor"] for t in trials if t.manifest] == ["fresh"] * 3
    # What is stored is what a cold run prints: the fresh-process twin agrees seed by seed.
    r = run_seedlock(
        ["repeat", "--seeds", "3", "--no-fork", "--name", "cold", "leaky.py"], cwd=tmp_path, env=env
    )
    assert r.returncode == 0, r.stderr
    assert fingerprints(db, "leaky") == fingerprints(db, "cold")
    # The warning names the check pair's two traces; `seedlock diff` on them shows the difference.
    warning = next(x for x in r_first.stderr.splitlines() if "forked differs" in x)
    traces = warning.split("seedlock diff ", 1)[1].rstrip(")").split()
    assert [Path(t).parent.name for t in traces] == ["seed-0.forked", "seed-0.check"]
    d = run_seedlock(["diff", *traces], cwd=tmp_path, env=env)
    assert d.returncode == 1 and d.stdout.startswith("DIFFERENT"), d.stdout + d.stderr


@pytest.mark.slow
def test_repeat_stores_metrics_fingerprints_manifests_and_resumes(tmp_path: Path) -> None:
    write(tmp_path, "tiny.py", TINY)
    env = clean_env()
    r = run_seedlock(
        ["repeat", "--seeds", "4", "--workers", "2", "--metric", "x", "tiny.py"], cwd=tmp_path, env=env
    )
    assert r.returncode == 0, r.stderr
    assert (
        "fork-server: imported" in r.stderr
        and "verified: seed 0 forked equals a cold run bitwise" in r.stderr
    )
    assert (
        "stdout and metrics only: no Keras or torch model" in r.stderr
    )  # no model: verified on those, and said so
    assert r.stdout.startswith("tiny: 4 ok of 4 trials") and "next: seedlock stats tiny" in r.stdout
    db = tmp_path / ".seedlock" / "seedlock.db"
    with Store(db, create=False) as store:
        trials = store.trials("tiny")
        assert [(t.seed, t.status) for t in trials] == [(s, "ok") for s in range(4)]
        assert all(t.fingerprint and t.fingerprint.startswith("stdout+metrics:") for t in trials)
        assert [t.manifest["seed"] for t in trials if t.manifest] == [0, 1, 2, 3]
        assert trials[0].manifest and trials[0].manifest["determinism"]["hashseed"] == 0
        assert store.metric_names("tiny") == ["loss", "x"]
        assert (
            set(store.metric_curves("tiny", "loss")[2])
            and len(set(store.metric_values("tiny", "x").values())) == 4
        )
        finished = {t.seed: t.finished for t in trials}

    # The same seeds in fresh processes (no fork-server) give bitwise the same fingerprints.
    r = run_seedlock(
        ["repeat", "--seeds", "4", "-j", "2", "--no-fork", "--name", "cold", "tiny.py"], cwd=tmp_path, env=env
    )
    assert r.returncode == 0, r.stderr
    assert "(fresh processes, 2 workers)" in r.stdout
    assert fingerprints(db, "cold") == fingerprints(db, "tiny")

    # Resume: finished seeds are skipped, only the new ones run.
    r = run_seedlock(["repeat", "--seeds", "6", "-j", "2", "tiny.py"], cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert "4 of these seeds already finished ok" in r.stderr and "2 ran now" in r.stdout
    with Store(db, create=False) as store:
        trials = store.trials("tiny")
        assert len(trials) == 6 and {t.seed: t.finished for t in trials if t.seed < 4} == finished

    # Options after the script are seedlock's; the script's own arguments name a new experiment.
    r = run_seedlock(["repeat", "--seed-list", "7,9", "-j", "1", "tiny.py", "extra"], cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    name = default_name("tiny.py", ["extra"])
    assert r.stdout.startswith(f"{name}: 2 ok") and set(fingerprints(db, name)) == {7, 9}


METRICS_ONLY = """\
import random
import seedlock

seedlock.log_metric("acc", 0.8 + random.random() / 20)  # reported, never printed
"""


@pytest.mark.slow
def test_metrics_are_part_of_the_fingerprint(tmp_path: Path) -> None:
    """A script that prints nothing and reports acc through log_metric: each seed's acc differs,
    so must its fingerprint (all four were the digest of the same empty stdout)."""
    write(tmp_path, "quiet.py", METRICS_ONLY)
    r = run_seedlock(["repeat", "--seeds", "4", "-j", "2", "quiet.py"], cwd=tmp_path, env=clean_env())
    assert r.returncode == 0, r.stderr
    assert (
        "verified: seed 0 forked equals a cold run bitwise" in r.stderr
        and "stdout and metrics only" in r.stderr
    )
    db = tmp_path / ".seedlock" / "seedlock.db"
    with Store(db, create=False) as store:
        acc = store.metric_values("quiet", "acc")
        assert len(set(acc.values())) == 4
    prints = fingerprints(db, "quiet")
    assert len(set(prints.values())) == 4 and all(
        str(f).startswith("stdout+metrics:") for f in prints.values()
    )


REPORTS_ITS_ENVIRONMENT = """\
import os, sys
import seedlock

seedlock.log_metric("hash_randomization", sys.flags.hash_randomization)
seedlock.log_metric("hashseed", int(os.environ["PYTHONHASHSEED"]))
seedlock.log_metric("seed", int(os.environ["SEEDLOCK_SEED"]))
"""


@pytest.mark.slow
def test_each_trials_manifest_records_the_environment_the_trial_had(tmp_path: Path) -> None:
    write(tmp_path, "env.py", REPORTS_ITS_ENVIRONMENT)
    r = run_seedlock(["repeat", "--seeds", "2", "-j", "1", "env.py"], cwd=tmp_path, env=clean_env())
    assert r.returncode == 0, r.stderr
    with Store(tmp_path / ".seedlock" / "seedlock.db", create=False) as store:
        seen = {m: store.metric_values("env", m) for m in ("hash_randomization", "hashseed", "seed")}
        for t in store.trials("env"):
            assert t.manifest is not None
            env = t.manifest["environment"]
            assert seen["seed"][t.seed] == t.seed and env["env"]["SEEDLOCK_SEED"]["value"] == str(t.seed)
            assert seen["hashseed"][t.seed] == 0 and env["hash"]["PYTHONHASHSEED_at_start"] == "0"
            assert env["hash"]["fixed"] is True and env["hash"]["randomization"] is bool(
                seen["hash_randomization"][t.seed]
            )
            assert env["seedlock_active"] is True


def test_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    write(tmp_path, "tiny.py", TINY)
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "ray.py").write_text("raise ImportError(\"No module named 'ray'\")\n")
    cases = {
        ("--seeds", "0"): "--seeds must be at least 1",
        ("--seeds", "2", "--workers", "0"): "--workers must be at least 1",
        ("--seeds", "2", "--executor", "slurm"): "'slurm' is not one of 'local', 'ray'",
        ("--seeds", "2", "--timeout", "-1"): "--timeout must be positive",
        ("--seeds", "2", "--seed-list", "1,2,3"): "--seeds 2 but --seed-list has 3 seeds",
        ("--until-ci", "0.1"): "--until-ci needs the metric",
        (): "how many seeds?",
        ("--seeds", "2", "--executor", "ray"): "--executor ray needs Ray, which cannot be imported",
        ("--seeds", "2", "--cpus-per-trial", "2"): "--cpus-per-trial is for --executor ray",
        ("--seeds", "2", "--executor", "ray", "--exclude", "data"): "--exclude is for --address",
        ("--seeds", "2", "--executor", "ray", "--cpus-per-trial", "0"): "--cpus-per-trial must be positive",
        (
            "--seeds",
            "2",
            "--executor",
            "ray",
            "--gpus-per-trial",
            "1.5",
        ): "a whole number of GPUs or a fraction",
        (
            "--seeds",
            "2",
            "--executor",
            "ray",
            "--address",
            "h:1",
            "--ship-limit",
            "nan",
        ): "--ship-limit must be",
    }
    env = clean_env(PYTHONPATH=str(shim))
    for args, message in cases.items():
        r = run_seedlock(["repeat", *args, "tiny.py"], cwd=tmp_path, env=env)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("seedlock: error:"), (args, r.stderr)
        assert message in r.stderr, (args, r.stderr)
    r = run_seedlock(["repeat", "--seeds", "1", "missing.py"], cwd=tmp_path, env=env)
    assert r.returncode == 2 and "not found" in r.stderr
    assert not (tmp_path / ".seedlock").exists()  # nothing ran, nothing was created

    # A metric no trial reported: the trials are kept, then one line naming the metrics there are.
    r = run_seedlock(
        ["repeat", "--seeds", "2", "--metric", "nope", "--no-fork", "tiny.py"], cwd=tmp_path, env=env
    )
    assert r.returncode == 2, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last == (
        "seedlock: error: no ok trial of 'tiny' reported metric 'nope'; metrics there: 'loss', 'x' "
        "(report one with seedlock.log_metric(), a JSON line on stdout, or Keras fit)"
    )
    assert len(fingerprints(tmp_path / ".seedlock" / "seedlock.db", "tiny")) == 2


@pytest.mark.slow
def test_until_ci_stops_when_the_interval_is_narrow(tmp_path: Path) -> None:
    from seedlock.repeat.power import ci_halfwidth

    write(
        tmp_path,
        "noisy.py",
        """\
        import json
        import numpy as np
        print(json.dumps({"v": float(np.random.normal())}))
    """,
    )
    r = run_seedlock(
        ["repeat", "--until-ci", "0.9", "--metric", "v", "--max-seeds", "40", "-j", "2", "noisy.py"],
        cwd=tmp_path,
        env=clean_env(),
    )
    assert r.returncode == 0, r.stderr
    n = int(r.stderr.split("--until-ci 0.9 reached after ")[1].split()[0])
    with Store(tmp_path / ".seedlock" / "seedlock.db", create=False) as store:
        values = store.metric_values("noisy", "v")
        by_end = [values[t.seed] for t in sorted(store.trials("noisy", "ok"), key=lambda t: t.finished or "")]
    # Stopped early. More than n may be stored: trials in flight finish, and forked trials that ended
    # while the fork-server was being verified are recorded together once it passes.
    assert 5 <= n <= len(values) < 40
    assert ci_halfwidth(by_end[:n]) <= 0.9
    assert n == 5 or ci_halfwidth(by_end[: n - 1]) > 0.9  # not one seed later than needed (5: the minimum)


@pytest.mark.slow
def test_until_ci_and_the_summary_count_finite_values_only(tmp_path: Path) -> None:
    # Seeds 0-2 diverge (NaN): --until-ci stopped at "5 ok seeds" with 2 finite values, and the
    # summary line printed a mean of nan with n=8.
    write(
        tmp_path,
        "diverge.py",
        """\
        import json
        import seedlock
        seed = seedlock.master_seed()
        print(json.dumps({"m": float("nan") if seed < 3 else 1.0 + seed / 10000}))
    """,
    )
    r = run_seedlock(
        [
            "repeat",
            "--until-ci",
            "0.01",
            "--metric",
            "m",
            "--max-seeds",
            "20",
            "-j",
            "1",
            "--no-fork",
            "diverge.py",
        ],
        cwd=tmp_path,
        env=clean_env(),
    )
    assert r.returncode == 0, r.stderr
    n = int(r.stderr.split("--until-ci 0.01 reached after ")[1].split()[0])
    assert n >= 5 and "with finite values" in r.stderr
    assert "nan" not in r.stdout.split("; m ")[1].split("(")[0], r.stdout  # the mean of the finite values
    assert ", 3 NaN/inf left out)" in r.stdout and f"n={n}," in r.stdout, r.stdout


def test_log_metric_is_exported_lazily() -> None:
    import seedlock

    assert "log_metric" in seedlock.__all__ and "log_metric" in dir(seedlock)
    assert seedlock.log_metric.__module__ == "seedlock.trace.metrics"


def test_doctests() -> None:
    import doctest
    import importlib

    for name in (
        "seedlock.repeat.run",
        "seedlock.repeat.trial",
        "seedlock.repeat.metrics",
        "seedlock.repeat.claims",
        "seedlock.repeat.preimport",
        "seedlock.repeat.progress",
        "seedlock.repeat.replay",
        "seedlock.cli.repeat",
        "seedlock.launch.process",
    ):
        result = doctest.testmod(importlib.import_module(name))
        assert result.failed == 0 and result.attempted > 0, name

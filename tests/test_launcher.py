"""`seedlock run`: the script must not notice it was launched, and bad input gets one line."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SCRIPTS, clean_env, run_py, run_seedlock

PROBE = str(SCRIPTS / "probe.py")


def probe(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None, cwd: str | None = None
) -> tuple[dict, subprocess.CompletedProcess[str]]:
    p = run_seedlock(["run", *args], env=env, stdin=stdin, cwd=cwd)
    line = p.stdout.splitlines()[0] if p.stdout else "{}"
    return json.loads(line), p


def test_script_sees_what_plain_python_gives_it(tmp_path: Path) -> None:
    info, p = probe(PROBE, "a", "--flag", "-m", "x", env=clean_env(PROBE_EXIT="3"), cwd=str(tmp_path))
    plain = json.loads(run_py([PROBE, "a", "--flag", "-m", "x"], cwd=str(tmp_path)).stdout.splitlines()[0])
    assert p.returncode == 3
    for key in ("name", "argv", "path0"):
        assert info[key] == plain[key]
    assert info["name"] == "__main__" and info["path0"] == str(SCRIPTS)
    assert info["heavy"] == []  # seedlock imported no framework, not even numpy


def test_stdin_and_stdout_untouched() -> None:
    info, p = probe(PROBE, "--stdin", stdin="hello\nworld\n")
    assert info["stdin"] == "hello\nworld\n"
    assert p.stdout.count("\n") == 1 and p.stderr == ""


def test_hash_seed_set_before_start_and_from_env_seed() -> None:
    a, _ = probe("--seed", "12", PROBE)
    b, _ = probe(PROBE, env=clean_env(SEEDLOCK_SEED="12"))
    c, _ = probe("--seed", "13", PROBE)
    assert a["hashseed"] == "12" and a["hash"] == b["hash"] != c["hash"]
    d, _ = probe(PROBE)  # default seed 0
    assert d["hashseed"] == "0"


def test_env_for_cuda_and_xla_is_appended_not_replaced() -> None:
    info, _ = probe("--threads", "1", PROBE, env=clean_env(XLA_FLAGS="--xla_cpu_enable_fast_math=false"))
    assert info["xla"] == "--xla_cpu_enable_fast_math=false --xla_gpu_deterministic_ops=true"
    assert info["cublas"] == ":4096:8" and info["omp"] == "1"
    nodet, _ = probe("--no-deterministic", PROBE)
    assert nodet["xla"] is None and nodet["cublas"] is None


def test_module_mode(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "tool.py").write_text(
        "import sys, random\nprint(__name__, sys.argv[1:], random.random())\nsys.exit(4)\n"
    )
    runs = [
        run_seedlock(["run", "--seed", "3", "-m", "pkg.tool", "--help", "x"], cwd=str(tmp_path))
        for _ in range(2)
    ]
    assert runs[0].returncode == 4
    name, rest = runs[0].stdout.split(" ", 1)
    assert name == "__main__" and rest.startswith("['--help', 'x']")
    assert runs[0].stdout == runs[1].stdout


def test_exception_traceback_shows_the_script_not_seedlock(tmp_path: Path) -> None:
    script = tmp_path / "boom.py"
    script.write_text("def f():\n    raise ValueError('boom')\nf()\n")
    p = run_seedlock(["run", str(script)])
    assert p.returncode == 1
    assert "ValueError: boom" in p.stderr and "boom.py" in p.stderr
    assert "seedlock" not in p.stderr and "runpy" not in p.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_reach_the_script(sig: int) -> None:
    """`seedlock run` execs: the process we signal is the script itself, and it dies as plain python would."""
    codes = []
    for cmd in (
        [sys.executable, PROBE, "--wait"],
        [sys.executable, "-m", "seedlock", "run", PROBE, "--wait"],
    ):
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(),
        )
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert proc.stdout.readline().strip() == "ready"  # the script is blocked on stdin now
        proc.send_signal(sig)
        proc.communicate(timeout=60)
        codes.append(proc.returncode)
        assert info["name"] == "__main__"
    assert codes[0] == codes[1] != 0


BAD = [
    (["run", "--seed", "abc", PROBE], "--seed must be an integer"),
    (["run", "--seed", "-1", PROBE], "between 0 and 4294967295"),
    (["run", "--seed", "4294967296", PROBE], "between 0 and 4294967295"),
    (["run", "nope_missing.py"], "not found"),
    (["run", str(SCRIPTS)], "is a directory"),
    (["run", "--frobnicate", PROBE], "no such option: --frobnicate"),
    (["run", "-m", "no_such_module_xyz"], "no module named 'no_such_module_xyz'"),
    (["run", "--threads", "0", PROBE], "--threads must be a positive integer"),
    (["run"], "missing SCRIPT"),
    (["no-such-command"], "No such command"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_one_line_exit_2(args: list[str], message: str) -> None:
    p = run_seedlock(args, env=clean_env(SEEDLOCK_SEED="1"))
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("seedlock: error: ") and message in lines[0]
    assert "Traceback" not in p.stderr and p.stdout == ""


def test_bad_seed_in_environment() -> None:
    p = run_seedlock(["run", PROBE], env=clean_env(SEEDLOCK_SEED="x"))
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "$SEEDLOCK_SEED" in p.stderr


@pytest.mark.slow
def test_verbose_states_seed_and_verifies(tmp_path: Path) -> None:
    script = tmp_path / "t.py"
    script.write_text(
        "import torch\nprint(torch.are_deterministic_algorithms_enabled(), torch.get_num_threads())\n"
    )
    p = run_seedlock(
        ["run", "-v", "--seed", "21", "--threads", "1", str(script)], env=clean_env(SEEDLOCK_SEED="5")
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "True 1"
    assert "seed 21 (from --seed)" in p.stderr
    assert "PYTHONHASHSEED=21 took effect" in p.stderr
    assert "torch.ops        verified" in p.stderr
    # Each framework named once: torch as what was done on import, never also as "pending".
    torch_rows = [line for line in p.stderr.splitlines() if line.split()[:1] == ["torch"]]
    assert len(torch_rows) == 1 and "seeded" in torch_rows[0], p.stderr
    assert (
        "pending" not in p.stderr
        and "not imported     tensorflow, tf_keras, keras, jax, pytensor" in p.stderr
    )


def test_in_process_report_says_hashseed_is_out_of_reach() -> None:
    code = "import seedlock; r = seedlock.seed_everything(3); print([e.status for e in r.entries if e.component == 'python.hashseed'])"
    plain = run_py(["-c", code], env=clean_env())
    assert plain.stdout.strip() == "['warning']"
    fixed = run_py(["-c", code], env=clean_env(PYTHONHASHSEED="8"))
    assert "['warning']" in fixed.stdout  # fixed, but to 8, not 3
    ok = run_py(["-c", code], env=clean_env(PYTHONHASHSEED="3"))
    assert ok.stdout.strip() == "['verified']"


def test_post_import_hook_seeds_a_framework_imported_later() -> None:
    code = (
        "import sys, seedlock; seedlock.seed_everything(5); assert 'numpy' not in sys.modules; "
        "import numpy as np; a = np.random.rand(); np.random.seed(5); print(a == np.random.rand())"
    )
    p = run_py(["-c", code])
    assert p.stdout.strip() == "True", p.stderr


def test_import_seedlock_imports_no_framework() -> None:
    code = (
        "import sys, seedlock; seedlock.seed_everything(1); seedlock.current_report(); "
        "print(sorted(m for m in ('numpy','tensorflow','torch','jax','keras','pytensor') if m in sys.modules))"
    )
    assert run_py(["-c", code]).stdout.strip() == "[]"


@pytest.mark.slow
def test_tf_graph_seed_and_determinism_reported_on_import() -> None:
    code = (
        "import seedlock; seedlock.seed_everything(2); import tensorflow as tf; "
        "tf.compat.v1.disable_eager_execution(); g = tf.Graph(); "
        "from tensorflow.python.framework import config as c; print(g.seed, c.is_op_determinism_enabled()); "
        "print(sorted({e.component for e in seedlock.current_report().entries if e.status in ('seeded','verified')}))"
    )
    p = run_py(["-c", code])
    first, second = p.stdout.strip().splitlines()
    assert first == "2 True", p.stderr[-2000:]
    assert "tensorflow" in second and "tensorflow.ops" in second


AS_PYTHON_DOES = """\
import atexit, builtins, os, pickle, random, sys


class Checkpoint:
    pass


def at_exit():  # a checkpoint saved at exit pickles a class of the script
    print("atexit pickle", len(pickle.dumps(Checkpoint())) > 0, hasattr(sys.modules["__main__"], "CONFIG"))


atexit.register(at_exit)
CONFIG = {"lr": 0.1}
print(os.path.isabs(__file__), __builtins__ is builtins, __loader__ is not None, hasattr(random, "random"))
"""


def test_the_script_runs_as_python_runs_it(tmp_path: Path) -> None:
    # Under `python -m seedlock.launch.boot` a random.py in the current directory replaced the
    # real one; after the last line __main__ was seedlock's again (pickling failed at exit);
    # __file__ was relative, __builtins__ a dict, __loader__ None.
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "s.py").write_text(AS_PYTHON_DOES)
    (tmp_path / "random.py").write_text("print('SHADOWED')\n")
    plain = run_py(["scripts/s.py"], cwd=str(tmp_path))
    console = str(
        Path(sys.executable).with_name("seedlock")
    )  # `python -m seedlock` itself puts the cwd first
    seeded = subprocess.run(
        [console, "run", "scripts/s.py"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert plain.returncode == 0 and plain.stdout == "True True True True\natexit pickle True True\n", plain
    assert seeded.returncode == 0 and seeded.stdout == plain.stdout, seeded.stdout + seeded.stderr

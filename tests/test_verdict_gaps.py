"""Ways `check` and `diff` could say "equal" about runs that differ, found by an adversarial
review: each test fails on the code before its fix."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import clean_env, run_py, run_seedlock
from seedlock.trace import TraceWriter

# The first run to start creates the marker and prints variant A, the other prints variant B. The
# marker is outside the working directory: each run has a private view of that (docs/check.md).
FIRST = (
    "import os, sys\ntry:\n    os.close(os.open(os.environ['MARKER'], os.O_CREAT | os.O_EXCL)); first = True\n"
    "except FileExistsError:\n    first = False\n"
)


def check(tmp_path: Path, script: str, *args: str) -> tuple[int, str]:
    (tmp_path / "s.py").write_text(script)
    marker = str(tmp_path.with_name(tmp_path.name + "-first"))
    p = run_seedlock(["check", "--no-localize", *args, "s.py"], cwd=tmp_path, env=clean_env(MARKER=marker))
    return p.returncode, p.stdout + p.stderr


@pytest.mark.parametrize(
    "a,b",
    [
        (b"result 1\r\n", b"result 1\n"),
        (b"done\n", b"done"),
        (b"a\x0cb\n", b"a\nb\n"),
        (b"value \x80\n", b"value \x81\n"),
    ],
    ids=["crlf", "final-newline", "formfeed", "bytes"],
)
@pytest.mark.slow
def test_check_compares_stdout_byte_for_byte(tmp_path: Path, a: bytes, b: bytes) -> None:
    script = FIRST + f"sys.stdout.buffer.write({a!r} if first else {b!r})\n"
    code, out = check(tmp_path, script)
    assert code == 1 and "NOT REPRODUCIBLE" in out, out
    same = tmp_path / "same"
    same.mkdir()
    code, out = check(same, FIRST + f"sys.stdout.buffer.write({a!r})\n")  # the twin: one variant in both runs
    assert code == 0 and "REPRODUCIBLE" in out, out


TORCH_CHANGED_AT_EXIT = """
import os, torch
torch.manual_seed(0)
m = torch.nn.Linear(4, 2)
opt = torch.optim.SGD(m.parameters(), lr=0.1)
for _ in range(2):
    opt.zero_grad(); m(torch.ones(3, 4)).sum().backward(); opt.step()
with torch.no_grad():
    m.weight.add_(torch.frombuffer(bytearray(os.urandom(32)), dtype=torch.float32).view(2, 4).nan_to_num())
print("done")
"""

UNFINGERPRINTABLE = """
class Tok(torch.nn.Module):  # state a fingerprint cannot digest
    def __init__(self):
        super().__init__(); self.vocab = {"a", "b"}
    def get_extra_state(self):
        return self.vocab
    def set_extra_state(self, s):
        self.vocab = s
tok = Tok()
"""


@pytest.mark.slow
def test_check_gives_no_verdict_when_the_exit_fingerprint_fails(tmp_path: Path) -> None:
    code, out = check(tmp_path, TORCH_CHANGED_AT_EXIT + UNFINGERPRINTABLE)
    assert code == 2 and "no verdict" in out and "no exit record" in out and "UnsupportedObject" in out, out
    assert "Traceback" not in out
    plain = tmp_path / "plain"
    plain.mkdir()
    code, out = check(plain, TORCH_CHANGED_AT_EXIT)  # the twin: the exit fingerprint is what sees the change
    assert code == 1 and "NOT REPRODUCIBLE" in out, out


@pytest.mark.slow
def test_check_gives_no_verdict_when_the_script_closes_the_trace(tmp_path: Path) -> None:
    code, out = check(tmp_path, "import seedlock.trace\n" + TORCH_CHANGED_AT_EXIT + "seedlock.trace.stop()\n")
    assert code == 2 and "closed seedlock's trace" in out, out


def _trace(
    path: Path, kinds: list[str], *, granularity: str = "epoch", exit_record: bool = True, w: float = 1.0
) -> Path:
    with TraceWriter(
        path, granularity=granularity, meta={"exit_record": True} if exit_record else {}
    ) as writer:
        for kind in kinds:
            if kind == "stdout":
                writer.write("stdout", digest="00", lines=1)
            elif kind == "final":
                writer.write("final", tensors={"w": w})
            else:
                writer.write(kind, epoch=0, batch=0 if kind == "batch" else None, tensors={"w": 1.0})
    return path


def _diff(a: Path, b: Path) -> tuple[int, str]:
    p = run_seedlock(["diff", str(a), str(b)], env=clean_env())
    return p.returncode, p.stdout + p.stderr


def test_diff_needs_the_exit_records_to_say_identical(tmp_path: Path) -> None:
    a = _trace(tmp_path / "a", ["epoch"])  # both runs ended before their exit records
    b = _trace(tmp_path / "b", ["epoch"])
    code, out = _diff(a, b)
    assert code == 2 and "no exit record" in out, out
    a, b = _trace(tmp_path / "a2", ["epoch", "stdout"]), _trace(tmp_path / "b2", ["epoch", "stdout"])
    code, out = _diff(a, b)  # the twin, complete
    assert code == 0 and "IDENTICAL" in out, out
    code, out = _diff(
        _trace(tmp_path / "h1", [], exit_record=False), _trace(tmp_path / "h2", [], exit_record=False)
    )
    assert code == 2 and "nothing to compare" in out, out


def test_diff_of_two_granularities_still_compares_the_exit_records(tmp_path: Path) -> None:
    a = _trace(tmp_path / "a", ["epoch", "stdout"])  # no model alive at exit in one run only
    b = _trace(tmp_path / "b", ["final", "stdout"], granularity="exit")
    code, out = _diff(a, b)
    assert code == 1 and "DIFFERENT" in out, out


ROOTS = textwrap.dedent("""
    import gc, json, sys, types, torch, keras
    from seedlock.trace import instrument
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__(); self.w = torch.nn.Parameter(torch.ones(3))
    Net.__module__ = "keras_style_nets"  # a user's module whose name starts with "keras"
    net = Net()
    models = []
    for k in range(2):  # two Keras models of one name
        i = keras.Input((2,)); models.append(keras.Model(i, keras.layers.Dense(1)(i), name="net"))
    labels = sorted(instrument._roots())
    from seedlock.trace.torch_hooks import install_optimizer_hook
    hook = install_optimizer_hook("opt.trace", grads=False)
    for n in range(20):  # optimizers freed and made again: their id()s are reused
        m = torch.nn.Linear(2, 1); opt = torch.optim.SGD(m.parameters(), lr=0.1)
        opt.step(); del opt; gc.collect()
    steps = [json.loads(line) for line in open("opt.trace")][1:]
    print(json.dumps({"labels": labels, "steps": [(r["optimizer"], r["step"]) for r in steps]}))
""")


@pytest.mark.slow
def test_every_live_model_is_fingerprinted_and_optimizers_keep_their_labels(tmp_path: Path) -> None:
    p = run_py(["-c", ROOTS], cwd=tmp_path, env=clean_env(KERAS_BACKEND="torch"))
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.splitlines()[-1])
    assert "torch:Net#0" in out["labels"]
    assert {"keras:net#0", "keras:net#1"} <= set(out["labels"])
    assert out["steps"] == [[f"SGD#{n}", 1] for n in range(20)]


@pytest.mark.slow
def test_diff_sees_bytes_written_to_stdout_buffer(tmp_path: Path) -> None:
    def traces(name: str, script: str) -> tuple[Path, Path]:
        (tmp_path / f"{name}.py").write_text(script)
        out = []
        for run in "ab":
            t = tmp_path / f"{name}-{run}.trace"
            p = run_seedlock(["run", "--trace", str(t), f"{name}.py"], cwd=tmp_path, env=clean_env())
            assert p.returncode == 0, p.stderr
            out.append(t)
        return out[0], out[1]

    code, out = _diff(
        *traces("noise", "import os, sys\nsys.stdout.buffer.write(os.urandom(8).hex().encode() + b'\\n')\n")
    )
    assert code == 1 and "DIFFERENT" in out and "stdout" in out, out
    code, out = _diff(*traces("fixed", "import sys\nsys.stdout.buffer.write(b'fixed\\n')\n"))  # the twin
    assert code == 0 and "IDENTICAL" in out, out


OWN_TRACE_CALLBACK = """
import numpy as np, keras, seedlock.keras
model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
model.compile("sgd", "mse")
x = np.ones((8, 3), "float32")
model.fit(x, x[:, :1], epochs=2, verbose=0, callbacks=[seedlock.keras.Trace("own.trace")])
"""


@pytest.mark.slow
def test_a_trace_callback_of_the_scripts_own_does_not_take_the_runs_epoch_records(tmp_path: Path) -> None:
    (tmp_path / "s.py").write_text(OWN_TRACE_CALLBACK)
    p = run_seedlock(
        ["run", "--trace", "run.trace", "s.py"], cwd=tmp_path, env=clean_env(KERAS_BACKEND="torch")
    )
    assert p.returncode == 0, p.stderr
    kinds = [json.loads(line).get("kind") for line in (tmp_path / "run.trace").read_text().splitlines()[1:]]
    own = [json.loads(line).get("kind") for line in (tmp_path / "own.trace").read_text().splitlines()[1:]]
    assert own.count("epoch") == 2
    assert kinds.count("epoch") == 2 and kinds[-1] == "stdout", kinds


SWAPPED = (
    FIRST
    + """import torch
torch.manual_seed(0)
encoder, decoder = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
if first and SWAP:
    encoder, decoder = decoder, encoder  # the same set of weights, each under the other's name
print("done")
"""
)


@pytest.mark.slow
def test_two_models_swapped_between_runs_differ(tmp_path: Path) -> None:
    code, out = check(tmp_path, "SWAP = True\n" + SWAPPED)
    assert code == 1 and "NOT REPRODUCIBLE" in out and ("torch:decoder" in out or "torch:encoder" in out), out
    same = tmp_path / "same"
    same.mkdir()
    code, out = check(same, "SWAP = False\n" + SWAPPED)  # the twin
    assert code == 0 and "REPRODUCIBLE" in out, out


CLOCK_SEEDED = (
    "import time\nimport numpy as np\nnp.random.seed({seed})\nprint(np.random.normal(size=3).tolist())\n"
)


@pytest.mark.parametrize(
    "seed,verdict",
    # A day, not an hour: two runs ~1.5 s apart straddle an hour's end about once in 2,400 checks.
    [("int(time.time())", 1), ("int(time.time() // 86400)", 2), ("1234", 0)],
    ids=["seconds", "days", "fixed"],
)
@pytest.mark.slow
def test_check_is_not_fooled_by_a_seed_from_the_clock(tmp_path: Path, seed: str, verdict: int) -> None:
    # Runs started in one second once read one time and repeated each other: REPRODUCIBLE.
    code, out = check(tmp_path, CLOCK_SEEDED.format(seed=seed))
    assert code == verdict, out
    if verdict == 1:
        assert "NOT REPRODUCIBLE" in out and "SL104" in out  # seen to differ, and the line named
    if verdict == 2:  # equal runs, but a day later they would not be
        assert "no verdict" in out and "s.py:3" in out and "ignore[SL104]" in out and "Traceback" not in out


def test_diff_with_a_run_cut_short_gives_no_verdict(tmp_path: Path) -> None:
    full = _trace(tmp_path / "full", ["epoch", "final", "stdout"])
    code, out = _diff(full, _trace(tmp_path / "cut", ["epoch"]))  # os._exit after epoch 0: equal so far
    assert code == 2 and "no verdict" in out and "cut" in out, out
    code, out = _diff(_trace(tmp_path / "cut2", ["epoch"]), full)  # either way round
    assert code == 2 and "no verdict" in out, out
    code, out = _diff(full, _trace(tmp_path / "ended", ["epoch", "stdout"]))  # the twin: it ran to its end
    assert code == 1 and "DIFFERENT" in out, out


@pytest.mark.slow
def test_a_script_that_changes_directory_keeps_checks_files_together(tmp_path: Path) -> None:
    script = (
        "import os\nos.makedirs('elsewhere', exist_ok=True)\nos.chdir('elsewhere')\n" + TORCH_CHANGED_AT_EXIT
    )
    code, out = check(tmp_path, script, "--workdir", "wd")
    assert code == 1 and "NOT REPRODUCIBLE" in out, out
    assert "max abs difference" in out  # from the final records' saved values, found where they belong
    assert not list((tmp_path / "elsewhere").rglob("*")), list((tmp_path / "elsewhere").rglob("*"))
    names = {p.name for p in (tmp_path / "wd" / "run-1").iterdir()}
    assert {"manifest.json", "trace.jsonl"} <= names and any(n.endswith(".npz") for n in names), names


HANG = "import os, time\nopen(f'started-{os.getpid()}', 'w').close()\nwhile True:\n    time.sleep(1)\n"


@pytest.mark.slow
@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_check_stops_its_runs(tmp_path: Path, sig: int, code: int) -> None:
    # The runs have sessions of their own (the terminal's Ctrl-C does not reach them): seedlock
    # must kill them. It hung on Ctrl-C, and on SIGTERM died leaving both runs going.
    (tmp_path / "hang.py").write_text(HANG)
    p = subprocess.Popen(
        [sys.executable, "-m", "seedlock", "check", "--no-localize", "hang.py"],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while len(list(tmp_path.rglob("started-*"))) < 2:  # both runs are going
        assert p.poll() is None and time.monotonic() < deadline, p.communicate()
        time.sleep(0.05)
    pids = [int(f.name.split("-")[1]) for f in tmp_path.rglob("started-*")]
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    assert p.returncode == code, err
    assert "Traceback" not in err
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


UNSAVED = (
    FIRST
    + """import torch
class Rotary(torch.nn.Module):  # no parameters: only a buffer that is not saved
    def __init__(self, base):
        super().__init__()
        self.register_buffer("inv_freq", base ** -torch.arange(0, 4, 2).float(), persistent=False)
rotary = Rotary(10000.0 if first or not DIFFER else 10001.0)
print("done")
"""
)


@pytest.mark.slow
@pytest.mark.parametrize("differ", [True, False], ids=["differs", "twin"])
def test_a_module_of_unsaved_buffers_is_compared(tmp_path: Path, differ: bool) -> None:
    code, out = check(tmp_path, f"DIFFER = {differ}\n" + UNSAVED)
    assert (code, "NOT REPRODUCIBLE" in out) == ((1, True) if differ else (0, False)), out


@pytest.mark.parametrize(
    "command",
    [
        ["check", "--no-localize", "hang.py"],
        ["repeat", "--seeds", "2", "-j", "2", "--no-fork", "--name", "h", "hang.py"],
    ],
    ids=["check", "repeat"],
)
@pytest.mark.slow
def test_runs_die_with_a_killed_seedlock(tmp_path: Path, command: list[str]) -> None:
    # SIGKILL cannot be caught: the runs (in sessions of their own) lived on, for hours if training.
    (tmp_path / "hang.py").write_text(HANG)
    p = subprocess.Popen(
        [sys.executable, "-m", "seedlock", *command],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while len(list(tmp_path.rglob("started-*"))) < 2:
        assert p.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    pids = [int(f.name.split("-")[1]) for f in tmp_path.rglob("started-*")]
    p.kill()
    p.wait()
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in pids):  # reaped by init once the kernel's signal lands
        assert time.monotonic() < deadline, [pid for pid in pids if _alive(pid)]
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:  # a zombie not yet reaped is dead too
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.slow
def test_a_module_seeded_from_the_clock_gets_no_verdict_either(tmp_path: Path) -> None:
    # `check -m pkg.train` never scanned the module: seedlock's own sys.path lacks the current directory.
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "train.py").write_text(CLOCK_SEEDED.format(seed="int(time.time() // 86400)"))
    console = Path(sys.executable).with_name("seedlock")  # `python -m seedlock` would put the cwd on sys.path
    p = subprocess.run(
        [str(console), "check", "--no-localize", "-m", "pkg.train"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 2 and "no verdict" in p.stderr and "train.py:3" in p.stderr, p.stdout + p.stderr

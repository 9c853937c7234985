"""Traces: the file format, crash safety, validation, comparison, ULPs; Keras and torch hooks in subprocesses."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, clean_env, run_py, run_seedlock
from seedlock import trace
from seedlock.config import ENV_TRACE
from seedlock.errors import SeedlockError
from seedlock.fingerprint import fingerprint
from seedlock.trace import NotATrace, TraceWriter, read_trace, tracefile
from seedlock.trace.compare import Divergence, compare_traces, ulp_distance


@pytest.fixture(autouse=True)
def no_active_trace(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(ENV_TRACE, raising=False)
    yield
    trace.stop()
    tracefile._writers.clear()


def write_run(
    path: Path,
    steps: int = 5,
    *,
    change: dict[int, str] | None = None,
    final: float = 1.0,
    algorithm: str = "auto",
) -> Path:
    """A small per-step trace; ``change={step: tensor}`` nudges that tensor by one ULP at that step."""
    with TraceWriter(path, framework="numpy", granularity="step", algorithm=algorithm) as w:
        for step in range(1, steps + 1):
            t = {"w1": np.full(3, step, np.float32), "w2": np.full(2, step, np.float32)}
            name = (change or {}).get(step)
            if name:
                t[name] = np.nextafter(t[name], np.float32(np.inf))
            w.write("step", step=step, metrics={"loss": 1.0 / step}, tensors=t, grads={"w1": t["w1"] * 2})
        w.final({"w": np.array([0.5, final], np.float32)})
    return path


# --- format, round trip, crash safety -----------------------------------------------------------


def test_round_trip_is_bitwise(tmp_path: Path) -> None:
    metrics = {
        "loss": 0.1 + 0.2,
        "f32": float(np.float32(0.1)),
        "neg0": -0.0,
        "nan": float("nan"),
        "inf": float("inf"),
        "count": 3,
        "ok": True,
        "np": np.float32(2.5),
    }
    with TraceWriter(
        tmp_path / "t.jsonl", framework="keras", granularity="batch", meta={"backend": "jax"}
    ) as w:
        written = w.write(
            "batch",
            step=7,
            epoch=1,
            batch=2,
            metrics=metrics,
            tensors={"w": np.ones(2)},
            grads={"w": np.zeros(2)},
            optimizer="Adam#0",
        )
    t = read_trace(tmp_path / "t.jsonl")
    assert (t.framework, t.granularity, t.header["meta"], t.truncated) == (
        "keras",
        "batch",
        {"backend": "jax"},
        False,
    )
    (r,) = t.records
    assert (r.kind, r.step, r.epoch, r.batch, r.extra, r.line) == (
        "batch",
        7,
        1,
        2,
        {"optimizer": "Adam#0"},
        2,
    )
    assert r.tensors == written.tensors == {"w": fingerprint(np.ones(2), name="w").tensors["w"].digest}
    assert {k: repr(v) for k, v in r.metrics.items()} == {
        "loss": repr(0.1 + 0.2),
        "f32": repr(float(np.float32(0.1))),
        "neg0": "-0.0",
        "nan": "nan",
        "inf": "inf",
        "count": "3",
        "ok": "1",
        "np": "2.5",
    }
    assert r.where == "batch record at epoch 1, batch 2, step 7"
    line = (tmp_path / "t.jsonl").read_text().splitlines()[1]
    assert '"nan":"nan"' in line and '"loss":0.30000000000000004' in line  # strict JSON, repr floats


def test_final_record_has_the_fingerprint_and_values(tmp_path: Path) -> None:
    state = {"w": np.arange(4, dtype=np.float32).reshape(2, 2), "n": 3, "tag": "x"}
    with TraceWriter(tmp_path / "t.jsonl") as w:
        w.final(state, step=9, metrics={"loss": 0.5})
    t = read_trace(tmp_path / "t.jsonl")
    assert t.final is not None and t.final.extra["digest"] == fingerprint(state).digest
    assert t.final.step == 9 and t.final.values == {"file": "t.jsonl.0.npz", "raw": {}}
    saved = t.values(t.final)
    assert saved is not None and sorted(saved.files) == ["n", "w"]  # strings are not arrays
    np.testing.assert_array_equal(saved["w"], state["w"])


def test_crash_loses_nothing_already_recorded(tmp_path: Path) -> None:
    path = tmp_path / "crash.jsonl"
    code = textwrap.dedent(f"""
        import os, numpy as np
        from seedlock.trace import TraceWriter
        w = TraceWriter({str(path)!r}, framework="numpy")
        for step in (1, 2):
            w.write("step", step=step, tensors={{"w": np.full(2, step)}})
        os._exit(3)  # no close, no atexit, no buffer flush at exit
    """)
    assert run_py(["-c", code]).returncode == 3
    with open(path, "a") as f:
        f.write('{"kind":"step","step":3,"tens')  # a line cut mid-write
    t = read_trace(path)
    assert [r.step for r in t] == [1, 2] and t.truncated


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "is empty"),
        (b"epoch 1 loss 0.3\n", "not a seedlock trace"),
        (b'{"kind": "epoch"}\n', "not a seedlock trace"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not a seedlock trace"),
        (b'{"seedlock_trace": 99, "kind": "header"}\n', "upgrade seedlock"),
        (
            b'{"seedlock_trace": 1, "kind": "header"}\n{"kind": "st\n{"kind": "step"}\n',
            "line 2 is not a valid",
        ),
        (
            b'{"seedlock_trace": 1, "kind": "header"}\n{"kind": "step", "step": "3"}\n',
            "line 2 is not a valid",
        ),
    ],
)
def test_not_a_trace_is_one_line_with_a_fix(tmp_path: Path, content: bytes, says: str) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(content)
    with pytest.raises(SeedlockError, match=says) as err:
        read_trace(path)
    assert isinstance(err.value, NotATrace) and "\n" not in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotATrace, match="no such trace file; check the path"):
        read_trace(tmp_path / "nope.jsonl")


# --- the active writer -----------------------------------------------------------------------------


def test_record_is_a_no_op_without_a_trace(tmp_path: Path) -> None:
    assert trace.record(1, w=np.ones(2)) is None and trace.active() is None


def test_record_writes_to_the_trace_named_by_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "env.jsonl"
    monkeypatch.setenv(ENV_TRACE, str(path))
    trace.record(1, metrics={"loss": 0.5}, w=np.ones(2))
    trace.record(2, kind="eval", w=np.zeros(2))
    assert trace.open_writer(path) is trace.active()  # one writer per path: a callback joins it
    t = read_trace(path)
    assert [(r.kind, r.step, list(r.tensors)) for r in t] == [("step", 1, ["w"]), ("eval", 2, ["w"])]


# --- comparing ---------------------------------------------------------------------------------------


def test_identical_runs_do_not_diverge(tmp_path: Path) -> None:
    assert compare_traces(write_run(tmp_path / "a"), write_run(tmp_path / "b")) is None


def test_first_divergent_step_and_tensor(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a")
    d = compare_traces(a, write_run(tmp_path / "b", change={3: "w2", 4: "w1"}))
    assert isinstance(d, Divergence)
    assert (d.reason, d.kind, d.step, d.index, d.name, d.differing) == (
        "tensor",
        "step",
        3,
        2,
        "w2",
        ("tensors/w2",),
    )
    assert d.a != d.b and len(d.a) == 32
    assert str(d) == "step record at step 3 (#2): tensor 'w2' differs"


def test_metrics_compare_bitwise_with_ulps(tmp_path: Path) -> None:
    def one(path: Path, loss: float) -> Path:
        with TraceWriter(path) as w:
            w.write("epoch", epoch=0, metrics={"loss": loss, "nan": float("nan")})
        return path

    d = compare_traces(one(tmp_path / "a", 0.25), one(tmp_path / "b", float(np.nextafter(0.25, 1.0))))
    assert d is not None and (d.reason, d.name, d.max_ulp) == ("metric", "loss", 1)
    assert d.max_abs == pytest.approx(2**-54)
    assert compare_traces(one(tmp_path / "c", 0.0), one(tmp_path / "d", -0.0)) is not None
    assert compare_traces(one(tmp_path / "e", 0.25), tmp_path / "a") is None  # nan == nan: same bits
    with TraceWriter(tmp_path / "f") as w:  # a NaN with its sign bit set, as x86 makes them
        w.write("epoch", epoch=0, metrics={"loss": 0.25, "nan": -float("nan")})
    assert (
        math.copysign(1.0, read_trace(tmp_path / "f").records[0].metrics["nan"]) == -1.0
    )  # read back with its bits
    d = compare_traces(tmp_path / "a", tmp_path / "f")
    assert d is not None and (d.reason, d.name) == ("metric", "nan")


def test_missing_and_extra_records(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a")
    short = tmp_path / "short"
    short.write_text(
        "".join(a.read_text().splitlines(keepends=True)[:3]) + '{"kind": "st'
    )  # crashed at step 3
    d = compare_traces(a, short)
    assert d is not None and (d.reason, d.step, d.index) == ("missing", 3, 2)
    assert "last line cut" in str(d)
    d = compare_traces(write_run(tmp_path / "a4", steps=4), a)
    assert d is not None and (d.reason, d.step) == ("extra", 5)


def test_final_values_give_max_abs_and_ulp(tmp_path: Path) -> None:
    x = np.float32(1.0)
    three = float(np.nextafter(np.nextafter(np.nextafter(x, np.float32(2)), np.float32(2)), np.float32(2)))
    d = compare_traces(write_run(tmp_path / "a"), write_run(tmp_path / "b", final=three))
    assert d is not None and (d.kind, d.name, d.max_ulp) == ("final", "w", 3)
    assert d.max_abs == pytest.approx(3 * 2**-23)
    assert (
        "max abs diff" in str(d) and "3 ULP" in str(d) and "1 more differ" in str(d)
    )  # and the digest field


def test_bfloat16_values_are_compared(tmp_path: Path) -> None:
    ml_dtypes = pytest.importorskip("ml_dtypes")
    base = np.array([1.0, 2.0], dtype=ml_dtypes.bfloat16)
    bumped = base.copy()
    bumped.view(np.uint16)[1] += 2  # two bfloat16 ULPs
    for name, v in (("a", base), ("b", bumped)):
        with TraceWriter(tmp_path / name) as w:
            w.final({"w": v})
    d = compare_traces(tmp_path / "a", tmp_path / "b")
    assert d is not None and d.max_ulp == 2 and d.max_abs == pytest.approx(2 * 2**-6)


# --- digests by two algorithms: dh1 (a GPU's) and xxh3_128 (the host's) ---------------------------


def test_two_algorithms_without_values_are_not_comparable_never_equal(tmp_path: Path) -> None:
    host, dev = write_run(tmp_path / "host"), write_run(tmp_path / "dev", algorithm="dh1")
    assert (
        compare_traces(dev, write_run(tmp_path / "dev2", algorithm="dh1")) is None
    )  # one algorithm: as before
    for a, b, first, second in ((host, dev, "xxh3_128", "dh1"), (dev, host, "dh1", "xxh3_128")):
        d = compare_traces(a, b)
        assert d is not None and (d.reason, d.kind, d.step, d.index, d.name) == (
            "incomparable",
            "step",
            1,
            0,
            "w1",
        )
        assert d.differing == ("tensors/w1", "tensors/w2", "grads/w1")
        assert str(d).startswith(
            f"step record at step 1 (#0): tensor 'w1' cannot be compared (2 more in this record): "
            f"trace a digested it with {first}, trace b with {second}"
        )
        assert "algorithm='dh1'" in str(d) and "values=True" in str(d)
    d = compare_traces(host, dev, values=False)  # the final record's values are not read: nothing settles
    assert d is not None and d.reason == "incomparable"
    # `seedlock diff`: neither IDENTICAL nor DIFFERENT, but one line saying why, and exit code 2.
    p = run_py(["-m", "seedlock", "diff", str(host), str(dev)])
    assert p.returncode == 2 and p.stdout == "" and "Traceback" not in p.stderr
    assert p.stderr.startswith("seedlock: error: traces ") and "cannot be compared" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_a_real_difference_after_unsettled_digests_is_reported_as_such(tmp_path: Path) -> None:
    host = write_run(tmp_path / "host")
    d = compare_traces(
        host, write_run(tmp_path / "dev", algorithm="dh1", final=float(np.nextafter(np.float32(1), 2)))
    )
    assert d is not None and (d.reason, d.kind, d.name, d.max_ulp) == ("tensor", "final", "w", 1)
    assert "trace a's saved values rehashed with dh1" in str(d)
    assert "digests before it could not be compared, from the step record at step 1 (#0) on" in str(d)


def test_two_algorithms_are_settled_from_saved_values(tmp_path: Path) -> None:
    ml_dtypes = pytest.importorskip("ml_dtypes")
    w = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "h": np.ones((3, 2), ml_dtypes.bfloat16), "n": 3}

    def final(name: str, algorithm: str, values: bool = True, **change: np.ndarray) -> Path:
        with TraceWriter(tmp_path / name, algorithm=algorithm) as tw:
            tw.final({**w, **change}, values=values)
        return tmp_path / name

    host, dev = final("host", "xxh3"), final("dev", "dh1")
    assert read_trace(dev).records[0].values["shape"] == {"h": [3, 2]}  # raw bytes keep their shape
    assert compare_traces(host, dev) is None and compare_traces(dev, host) is None  # rehashed: the same bytes
    assert compare_traces(host, final("dev_only", "dh1", values=False)) is None  # one side's values suffice
    bumped = w["h"].copy()
    bumped.view(np.uint16)[2, 1] += 1
    d = compare_traces(host, final("dev_h", "dh1", h=bumped))
    assert d is not None and (d.reason, d.name, d.max_ulp, d.differing) == ("tensor", "h", 1, ("tensors/h",))
    assert d.note == "trace a's saved values rehashed with dh1"
    (tmp_path / read_trace(host).records[0].values["file"]).unlink()  # no values left on either side
    d = compare_traces(host, final("dev_none", "dh1", values=False))
    assert (
        d is not None
        and d.reason == "incomparable"
        and d.differing == ("tensors/w", "tensors/h", "tensors/n")
    )


def test_bad_algorithm_says_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(SeedlockError, match=r"unknown digest algorithm 'gpu'; pass algorithm='auto'"):
        TraceWriter(tmp_path / "t", algorithm="gpu")


def test_doctests() -> None:
    import doctest

    from seedlock.trace import compare, records

    for module in (tracefile, compare, records):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_different_granularities_compare_the_kinds_both_have(tmp_path: Path) -> None:
    for name, gran in (("e", "epoch"), ("b", "batch")):
        with TraceWriter(tmp_path / name, granularity=gran) as w:
            if gran == "batch":
                w.write("batch", epoch=0, batch=0, tensors={"w": 1.0})
            w.write("epoch", epoch=0, tensors={"w": 2.0})
    assert compare_traces(tmp_path / "e", tmp_path / "b") is None


def test_diff_of_an_epoch_trace_and_an_exit_trace_says_what_it_compared_both_ways(tmp_path: Path) -> None:
    for name, gran in (("e.trace", "epoch"), ("x.trace", "exit")):
        with TraceWriter(tmp_path / name, granularity=gran) as w:
            if gran == "epoch":
                for epoch in range(3):
                    w.write("epoch", epoch=epoch, tensors={"w": float(epoch)})
            w.final({"w": np.array([0.5], np.float32)})
    outs = [
        run_seedlock(["diff", a, b], cwd=tmp_path)
        for a, b in (("e.trace", "x.trace"), ("x.trace", "e.trace"))
    ]
    assert [o.returncode for o in outs] == [0, 0], outs[0].stderr
    assert [o.stdout.splitlines()[0] for o in outs] == ["IDENTICAL: 1 records compared, bitwise equal"] * 2
    assert "not compared: trace A's 3 epoch records" in outs[0].stdout
    assert "not compared: trace B's 3 epoch records" in outs[1].stdout
    data = json.loads(run_seedlock(["diff", "--json", "x.trace", "e.trace"], cwd=tmp_path).stdout)
    assert data["compared"] == {
        "records": 1,
        "kinds": ["final", "stdout"],
        "not_compared": {"a": {}, "b": {"epoch": 3}},
    }


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_ulp_distance(dtype: type) -> None:
    one = dtype(1)
    up = np.nextafter(one, dtype(2))
    assert int(ulp_distance(one, up)) == 1 == int(ulp_distance(up, one))
    tiny = np.nextafter(dtype(0), dtype(1))
    assert ulp_distance(np.array([0, -0.0, tiny], dtype), np.array([-0.0, -0.0, -tiny], dtype)).tolist() == [
        1,
        0,
        3,
    ]
    mantissa = {np.float16: 10, np.float32: 23, np.float64: 52}[dtype]
    assert int(ulp_distance(one, dtype(2))) == 2**mantissa
    assert ulp_distance(np.ones((2, 3), dtype), np.ones((2, 3), dtype)).shape == (2, 3)


def test_ulp_distance_needs_one_float_dtype() -> None:
    with pytest.raises(TypeError, match="one dtype"):
        ulp_distance(np.float32(1), np.float64(1))
    with pytest.raises(TypeError):
        ulp_distance(np.int32(1), np.int32(1))


# --- Keras callbacks and the torch hook, in subprocesses ----------------------------------------------

KERAS = """
import json, os, sys
import numpy as np, keras
import seedlock.keras, seedlock.trace
from seedlock.fingerprint import fingerprint

out, runs = sys.argv[1], sys.argv[2].split(",")
rng = np.random.default_rng(0)
x, y = rng.standard_normal((64, 8), dtype=np.float32), rng.standard_normal((64, 1), dtype=np.float32)
digests = {}
for name in runs:
    keras.backend.clear_session()  # same layer names, so the same variable paths, in every run
    keras.utils.set_random_seed(2 if name == "c" else 1)
    m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
    m.compile(optimizer="adam", loss="mse", metrics=["mae"])
    cbs = [seedlock.keras.Trace(os.path.join(out, name + ".batch.jsonl"), every="batch"),
           seedlock.keras.Trace(os.path.join(out, name + ".epoch.jsonl"))]
    m.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, callbacks=cbs)
    digests[name] = fingerprint(m).digest
if keras.backend.backend() == "tensorflow":
    import tensorflow as tf, tf_keras
    tf.random.set_seed(1)
    t = tf_keras.Sequential([tf_keras.Input((8,)), tf_keras.layers.Dense(1)])
    t.compile(optimizer="adam", loss="mse")
    t.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0,
          callbacks=[seedlock.keras.TFKerasTrace(os.path.join(out, "tfk.jsonl"), every="batch")])
    digests["tfk"] = fingerprint(t).digest
if keras.backend.backend() == "torch":
    import torch, seedlock.trace.torch_hooks
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    hook = seedlock.trace.torch_hooks.install_optimizer_hook(os.path.join(out, "hook.jsonl"))
    for _ in range(3):
        opt.zero_grad()
        ((net(torch.from_numpy(x)) - torch.from_numpy(y)) ** 2).mean().backward()
        opt.step()
    hook.remove()
    opt.step()  # not recorded
    seedlock.trace.open_writer(os.path.join(out, "hook.jsonl")).final({"net": net, "opt": opt})
    digests["hook"] = fingerprint({"net": net, "opt": opt}).digest
print(json.dumps(digests))
"""


BACKENDS = ("tensorflow", "torch", "jax")


@pytest.fixture(scope="module")
def keras_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, subprocess.Popen[str]]]:
    """One process per backend, all started at once: each spends seconds importing, mostly on one core."""
    runs = {}
    for backend in BACKENDS:
        out = tmp_path_factory.mktemp(backend)
        which = "a,b" if backend == "jax" else "a,b,c"  # JAX compiles slowly here; its a/b check is the point
        env = clean_env(KERAS_BACKEND=backend, JAX_PLATFORMS="cpu")
        runs[backend] = (
            out,
            subprocess.Popen(
                [sys.executable, "-c", KERAS, str(out), which],
                cwd=ROOT,
                env=env,
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            ),
        )
    return runs


@pytest.fixture(scope="module", params=BACKENDS)
def keras_run(
    request: pytest.FixtureRequest, keras_runs: dict[str, tuple[Path, subprocess.Popen[str]]]
) -> tuple[str, Path, dict]:
    out, proc = keras_runs[request.param]
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-3000:]
    return request.param, out, json.loads(stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.xdist_group("trace-keras")  # one worker starts the three processes, not each worker
def test_keras_trace_per_epoch_and_per_batch(keras_run: tuple[str, Path, dict]) -> None:
    backend, out, digests = keras_run
    epoch, batch = read_trace(out / "a.epoch.jsonl"), read_trace(out / "a.batch.jsonl")
    assert (epoch.framework, epoch.granularity, epoch.header["meta"]["backend"]) == (
        "keras",
        "epoch",
        backend,
    )
    assert [(r.kind, r.step, r.epoch) for r in epoch] == [("epoch", 4, 0), ("epoch", 8, 1), ("final", 8, 1)]
    assert "adam/sequential_dense_kernel_momentum" in epoch.records[0].tensors
    assert set(epoch.records[0].metrics) == {"loss", "mae"}
    assert [(r.kind, r.step, r.batch) for r in batch][:5] == [("batch", i + 1, i) for i in range(4)] + [
        ("epoch", 4, None)
    ]
    assert len(batch) == 11 and list(batch.records[0].tensors) == [
        "sequential/dense/kernel",
        "sequential/dense/bias",
        "sequential/dense_1/kernel",
        "sequential/dense_1/bias",
    ]
    for t in (epoch, batch):
        assert t.final is not None and t.final.extra["digest"] == digests["a"]
    assert (out / "a.epoch.jsonl.2.npz").exists()


@pytest.mark.slow
@pytest.mark.xdist_group("trace-keras")  # one worker starts the three processes, not each worker
def test_keras_traces_of_one_seed_agree_and_of_two_seeds_diverge(keras_run: tuple[str, Path, dict]) -> None:
    backend, out, digests = keras_run
    assert digests["a"] == digests["b"]
    assert compare_traces(out / "a.batch.jsonl", out / "b.batch.jsonl") is None
    assert compare_traces(out / "a.epoch.jsonl", out / "a.batch.jsonl") is None  # epoch records agree
    if backend != "jax":
        d = compare_traces(out / "a.batch.jsonl", out / "c.batch.jsonl")
        assert d is not None and (d.kind, d.epoch, d.batch, d.step) == ("batch", 0, 0, 1)
        assert (d.reason, d.name) == ("tensor", "sequential/dense/kernel")


@pytest.mark.slow
@pytest.mark.xdist_group("trace-keras")
def test_tf_keras_trace(keras_run: tuple[str, Path, dict]) -> None:
    backend, out, digests = keras_run
    if backend != "tensorflow":
        pytest.skip("tf-keras runs on TensorFlow")
    t = read_trace(out / "tfk.jsonl")
    assert t.framework == "tf_keras" and [r.kind for r in t].count("batch") == 8
    assert "dense/kernel:0" in t.records[0].tensors and any(
        n.startswith("Adam/m/") for n in t.records[4].tensors
    )
    assert t.final is not None and t.final.extra["digest"] == digests["tfk"]


@pytest.mark.slow
@pytest.mark.xdist_group("trace-keras")
def test_torch_optimizer_hook_records_every_step(keras_run: tuple[str, Path, dict]) -> None:
    backend, out, digests = keras_run
    if backend != "torch":
        pytest.skip("the hook is tested in the torch process")
    t = read_trace(out / "hook.jsonl")
    assert (t.framework, t.granularity) == ("torch", "step")
    steps = [r for r in t if r.kind == "step"]
    assert [(r.step, r.extra["optimizer"]) for r in steps] == [(1, "SGD#0"), (2, "SGD#0"), (3, "SGD#0")]
    assert list(steps[0].tensors) == list(steps[0].grads) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert steps[0].tensors != steps[1].tensors
    assert t.final is not None and t.final.extra["digest"] == digests["hook"]
    assert os.path.exists(out / "hook.jsonl.3.npz")


def test_ulps_are_not_counted_across_zero(tmp_path: Path) -> None:
    """0.0073 against -0.0001 is 1,960,739,434 float32 ULPs apart: a number that reads as enormous
    and says nothing. Across zero the absolute difference alone is shown."""
    for name, last in (("a", 0.0073), ("b", -0.0001)):
        with TraceWriter(tmp_path / name, granularity="exit") as w:
            w.final({"w": np.array([1.0, last], np.float32)})
    div = compare_traces(tmp_path / "a", tmp_path / "b")
    assert div is not None and div.max_ulp is None and div.max_abs == pytest.approx(0.0074, rel=1e-3)
    assert "no ULP count across zero" in str(div) and "ULP;" not in str(div)
    assert int(ulp_distance(np.float32(0.0073), np.float32(-0.0001))) > 10**9  # what it used to show


def test_diff_of_two_folders_compares_trace_by_trace(tmp_path: Path) -> None:
    """A multi-process run leaves the run's trace and one per rank: two runs compare file by file."""
    for run, nudge in (("a", 0.0), ("b", 0.0), ("c", 1e-3)):
        (tmp_path / run).mkdir()
        for name in ("trace.jsonl", "trace.rank0.jsonl", "trace.rank1.jsonl"):
            with TraceWriter(tmp_path / run / name, granularity="exit") as w:
                w.final({"w": np.array([1.0 + (nudge if name.endswith("rank1.jsonl") else 0.0)], np.float32)})
    same = run_seedlock(["diff", "a", "b"], cwd=tmp_path)
    assert same.returncode == 0 and same.stdout.startswith("IDENTICAL: 3 traces compared, file by file"), (
        same.stdout
    )
    other = run_seedlock(["diff", "--json", "a", "c"], cwd=tmp_path)
    data = json.loads(other.stdout)
    assert other.returncode == 1 and data["identical"] is False
    assert [n for n, r in data["traces"].items() if not r["identical"]] == ["trace.rank1.jsonl"]
    (tmp_path / "c" / "trace.rank1.jsonl").unlink()
    missing = run_seedlock(["diff", "a", "c"], cwd=tmp_path)
    assert missing.returncode == 1 and "trace.rank1.jsonl: DIFFERENT: only in A" in missing.stdout
    bad = run_seedlock(["diff", "a", "a/trace.jsonl"], cwd=tmp_path)
    assert bad.returncode == 2 and "two trace files or two folders" in bad.stderr

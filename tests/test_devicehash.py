"""dh1, the device digest: NumPy, torch and JAX agree bit for bit, on CPU; the GPU scripts run on CPU."""

from __future__ import annotations

import copy
import doctest
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest
import xxhash

from conftest import ROOT, clean_env
from seedlock.fingerprint import (
    DeviceLeaf,
    Leaf,
    dh1,
    digest_as,
    digest_leaf,
    digests,
    fingerprint,
    tensor_digest,
)
from seedlock.fingerprint import devicehash as dh
from seedlock.fingerprint import dh1_jax as dhj
from seedlock.fingerprint import dh1_torch as dht
from seedlock.fingerprint.devicehash import _MASK, LANES, jax_digest, numpy_digest, torch_digest
from seedlock.fingerprint.leaves import leaf_of

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
jnp = jax.numpy

GPU = ROOT / "benchmarks" / "gpu"
DTYPES = [
    np.float32,
    np.float64,
    np.float16,
    ml_dtypes.bfloat16,
    ml_dtypes.float8_e4m3fn,
    np.int8,
    np.uint8,
    np.int16,
    np.uint16,
    np.int32,
    np.int64,
    np.bool_,
    np.complex64,
    np.complex128,
]
SHAPES = [(), (0,), (1,), (3,), (7,), (5, 3), (2, 0, 3), (1023,), (129, 3)]


@pytest.fixture(autouse=True)
def _jax_on_the_host() -> Any:
    """JAX arrays made here live on the CPU, as they do in CI, also on a GPU machine (where
    JAX's default device is the GPU and these tests' host-path expectations would not hold)."""
    with jax.default_device(jax.devices("cpu")[0]):
        yield


def _random(shape: tuple[int, ...], dtype: type, seed: int = 0) -> np.ndarray:
    """Random bytes as ``dtype`` (NaN payloads, subnormals and all), bools as 0/1."""
    dt = np.dtype(dtype)
    n = int(np.prod(shape))
    raw = np.random.default_rng(seed).integers(0, 256, n * dt.itemsize, dtype=np.uint8)
    if dt.kind == "b":
        return (raw % 2).astype(bool).reshape(shape)
    return raw.view(dt).reshape(shape)


def _torch_of(a: np.ndarray) -> torch.Tensor:
    """The same bytes as a torch tensor (bfloat16/float8 through their raw bits)."""
    special = {"bfloat16": (np.uint16, torch.bfloat16), "float8_e4m3fn": (np.uint8, torch.float8_e4m3fn)}
    if a.dtype.name in special:
        raw, dtype = special[a.dtype.name]
        return torch.from_numpy(a.view(raw).copy()).view(dtype)
    return torch.from_numpy(a.copy())


def _jax_of(a: np.ndarray) -> jax.Array:
    return jnp.asarray(a)


def _three(a: np.ndarray) -> tuple[str, str, str]:
    if a.dtype.itemsize == 8 or a.dtype == np.complex128:
        with jax.enable_x64(True):  # 64-bit dtypes exist in JAX only in x64 mode
            dj = jax_digest(_jax_of(a))
    else:
        dj = jax_digest(_jax_of(a))
    return numpy_digest(a), torch_digest(_torch_of(a)), dj


# --- agreement --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_numpy_torch_jax_agree(dtype: type) -> None:
    for i, shape in enumerate(SHAPES):
        a = _random(shape, dtype, seed=i)
        d_np, d_torch, d_jax = _three(a)
        assert d_np == d_torch == d_jax, (shape, d_np, d_torch, d_jax)
        assert d_np.startswith("dh1:") and len(d_np) == 36


@pytest.mark.slow
def test_jax_large_arrays_and_small_buckets_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    a = _random((5000,), np.float16, seed=3)
    bucketed = jax_digest(_jax_of(a))  # padded to 8192 items, masked
    monkeypatch.setattr(dhj, "_BUCKET_MAX", 0)  # the large-array path: one program per size
    assert jax_digest(_jax_of(a)) == bucketed == numpy_digest(a)
    monkeypatch.setattr(dhj, "_PIECE_BYTES", 1024)  # pieces: 1024-byte slices, offsets per piece
    assert jax_digest(_jax_of(a)) == bucketed


def test_torch_views_layouts_and_alignment() -> None:
    base = torch.from_numpy(_random((6, 10), np.float32, seed=5))
    cases = {
        "transpose": base.t(),
        "step slice": base[:, ::3],
        "offset slice": base[1:, 2:],
        "int8 at odd offset": torch.arange(40, dtype=torch.int8)[3:30],  # int32 view needs a clone
        "bool tail": torch.tensor([True, False, True, True, False]),
        "requires_grad": torch.nn.Parameter(base.clone()),
        "conj view": torch.complex(base, -base).conj(),
        "0-d": torch.tensor(2.5, dtype=torch.float64),
        "empty": torch.zeros(0, 3)[:, ::2],
        "one item, strided": torch.arange(9.0)[::4][1:2],
        "bfloat16 column": base.to(torch.bfloat16)[:, 1],
        "sparse": base.relu().to_sparse(),
    }
    for name, t in cases.items():
        src = (t.to_dense() if t.layout != torch.strided else t).detach().resolve_conj()
        dense = torch.empty(src.shape, dtype=src.dtype).copy_(src)  # fresh C-order strides
        expected = numpy_digest(
            dense.view(torch.uint8).numpy() if dense.dtype == torch.bfloat16 else dense.numpy(),
            dtype=str(dense.dtype)[6:],
            shape=tuple(dense.shape),
        )
        assert torch_digest(t) == torch_digest(t, compile=False) == expected, name


@pytest.mark.slow
def test_compiled_graph_matches_eager() -> None:
    # On CUDA, torch_digest compiles _torch_row_lanes and _torch_lanes (inductor + Triton) and
    # splits each chunk between them. Here: the same functions traced whole (fullgraph: no graph
    # breaks) with dynamic sizes, run by aot_eager, and no size may make them recompile.
    import torch._dynamo

    fns = tuple(
        torch.compile(f, backend="aot_eager", fullgraph=True, dynamic=True)
        for f in (dht._torch_row_lanes, dht._torch_lanes)
    )
    for n, base in ((1000, 0), (777, 12345), (64, 2**32 + 7)):
        words = torch.from_numpy(_random((n,), np.int32, seed=n))
        off = dht._off_tensor(base, "cpu")
        assert fns[1](words, off).tolist() == dht._torch_lanes(words, off).tolist()
    fns[0](
        torch.zeros(3 * dht._ROW, dtype=torch.int32), dht._off_tensor(0, "cpu")
    )  # as _compiled_fns warms up
    fns[1](torch.zeros(16, dtype=torch.int32), dht._off_tensor(0, "cpu"))
    with torch._dynamo.config.patch(error_on_recompile=True):
        for n in (
            1,
            2,
            3,
            dht._ROW - 1,
            dht._ROW,
            2 * dht._ROW - 1,
            2 * dht._ROW,
            2 * dht._ROW + 1,
            7 * dht._ROW + 5,
        ):
            a = _random((n,), np.uint32, seed=n)
            for base in (0, 2**32 - 8 * dht._ROW):
                parts = dht._torch_chunk_lanes(torch.from_numpy(a.view(np.int32)), base, fns)
                assert dht._sum_lanes(parts) == [v & _MASK for v in dh._np_lanes(a, base)], (n, base)


# --- the algorithm ----------------------------------------------------------------------


def _reference_lanes(words: list[int], base: int) -> list[int]:
    """The module docstring's formula, word by word, in Python integers."""
    lanes = [0] * LANES
    for i, w in enumerate(words, start=base):
        lo, hi = i & _MASK, i >> 32
        for k in range(LANES):
            x = (w * dh1._M[k] + lo * dh1._A[k] + hi * dh1._B[k] + dh1._S[k]) & _MASK
            x ^= x >> 16
            x = (x * dh1._N1[k]) & _MASK
            x ^= x >> 13
            x = (x * dh1._N2[k]) & _MASK
            x ^= x >> 16
            lanes[k] = (lanes[k] + x) & _MASK
    return lanes


@pytest.mark.parametrize("base", [0, 1000, 2**32 - 5, 3 * 2**32 + 11])
def test_implementations_follow_the_formula(base: int) -> None:
    words = _random((40,), np.uint32, seed=base % 97)
    expected = _reference_lanes(words.tolist(), base)
    assert dh._np_lanes(words, base) == expected  # crosses 2**32 words for base 2**32 - 5
    if (base & _MASK) + 40 <= 2**32:  # torch/JAX pieces never cross a multiple of 2**32 words
        t = dht._torch_lanes(torch.from_numpy(words.view(np.int32)), dht._off_tensor(base, "cpu"))
        assert [v & _MASK for v in t.tolist()] == expected
        off = jnp.asarray(np.array(dh._offsets(base), np.uint32))
        assert np.asarray(dhj._lanes()(jnp.asarray(words), off, np.uint32(40))).tolist() == expected


def test_reduction_order_does_not_matter(monkeypatch: pytest.MonkeyPatch) -> None:
    words = _random((10_000,), np.uint32, seed=9)
    whole = dh._np_lanes(words)
    rng = random.Random(0)
    cuts = sorted(rng.sample(range(1, words.size), 12))
    chunks = list(zip([0, *cuts], [*cuts, words.size], strict=True))
    rng.shuffle(chunks)  # shuffle, then sum: integer sums mod 2**32 commute
    parts = [dh._np_lanes(words[a:b], a) for a, b in chunks]
    assert [sum(col) & _MASK for col in zip(*parts, strict=True)] == whole
    tw = torch.from_numpy(words.view(np.int32))
    tparts = [dht._torch_lanes(tw[a:b], dht._off_tensor(a, "cpu")).tolist() for a, b in chunks]
    assert [sum(col) & _MASK for col in zip(*tparts, strict=True)] == whole
    a = words.view(np.float32)
    digest = numpy_digest(a)
    for chunk in (7, 1000, 4096):  # other chunkings of each implementation: the same digest
        monkeypatch.setattr(dh, "_NP_CHUNK", chunk)
        monkeypatch.setitem(dht._TORCH_EAGER_CHUNK, "cpu", chunk)
        assert numpy_digest(a) == torch_digest(torch.from_numpy(a)) == digest


@pytest.mark.parametrize("dtype", [np.float32, np.float16, ml_dtypes.bfloat16, np.float64, np.int8, np.bool_])
def test_one_ulp_anywhere_changes_every_lane(dtype: type) -> None:
    a = _random((1001,), dtype, seed=1)
    if np.dtype(dtype).kind == "f" or dtype is ml_dtypes.bfloat16:
        a = np.random.default_rng(1).standard_normal(1001).astype(dtype)
    lanes = dh._np_lanes(dh._np_words(a)[0])
    base = numpy_digest(a)
    for pos in (0, 1, 500, 999, 1000):  # first, middle, last, the padded tail word
        b = a.copy()
        if dtype is np.bool_:
            b[pos] = not b[pos]
        else:  # one ULP: the next representable value (for ints, +1)
            bits = b.view(f"u{b.dtype.itemsize}")
            with np.errstate(over="ignore"):  # 0xff + 1 wraps to 0: still a change
                bits[pos] += bits.dtype.type(1)
        changed = dh._np_lanes(dh._np_words(b)[0])
        assert all(x != y for x, y in zip(lanes, changed, strict=True)), pos
        assert len({base, *_three(b)}) == 2, pos  # all three implementations see the change


def test_swaps_shifts_and_reinterpretations_change_the_digest() -> None:
    a = np.random.default_rng(2).standard_normal(512).astype(np.float32)
    d = numpy_digest(a)
    rng = np.random.default_rng(3)
    for _ in range(200):
        i, j = rng.choice(a.size, 2, replace=False)
        b = a.copy()
        b[[i, j]] = b[[j, i]]
        assert numpy_digest(b) != d
    assert numpy_digest(np.roll(a, 1)) != d
    assert numpy_digest(a[::-1]) != d
    assert numpy_digest(a.reshape(16, 32)) != d  # same bytes, other shape
    assert numpy_digest(a.view(np.int32)) != d  # same bytes, other dtype
    assert numpy_digest(np.zeros(4, np.uint8)) != numpy_digest(np.zeros(3, np.uint8))  # byte length counts
    assert numpy_digest(np.zeros(5, np.int8)) != numpy_digest(np.zeros(8, np.int8))  # padding is not data


# --- API ----------------------------------------------------------------------------------


def test_device_digest_dispatch_and_algorithms() -> None:
    from seedlock.fingerprint import tensor_digest
    from seedlock.fingerprint.leaves import leaf_of

    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    d = numpy_digest(a)
    assert (
        dh.device_digest(a) == dh.device_digest(torch.from_numpy(a)) == dh.device_digest(jnp.asarray(a)) == d
    )
    leaf = leaf_of(torch.from_numpy(a).to(torch.bfloat16))  # raw uint8 bytes with dtype "bfloat16"
    assert leaf is not None and dh.device_digest(leaf) == torch_digest(torch.from_numpy(a).to(torch.bfloat16))
    assert dh.device_digest(1.5) == numpy_digest(np.array(1.5))
    assert dh.algorithm_of(d) == dh.ALGORITHM == "dh1"
    assert dh.algorithm_of(tensor_digest(a)) == "xxh3_128"
    assert digest_as("xxh3_128", a) == tensor_digest(a) and digest_as("dh1", a) == d
    with pytest.raises(ValueError, match="unknown digest algorithm"):
        digest_as("md5", a)
    with pytest.raises(TypeError, match="one tensor"):
        dh.device_digest({"w": a})
    with pytest.raises(TypeError, match="x64"):
        jax_digest(np.zeros(2))  # float64 would silently become float32


# --- fingerprint(): dh1 for tensors on an accelerator (DeviceLeaf), or everywhere on request ---------


def _host_xxh3(a: np.ndarray) -> str:
    """A tensor's digest as seedlock computed it before dh1 existed."""
    head = f"{a.dtype.name}\0{','.join(map(str, a.shape))}\0".encode()
    return xxhash.xxh3_128(b"seedlock.tensor.v1\0" + head + np.ascontiguousarray(a).tobytes()).hexdigest()


def _frameworks() -> dict[str, tuple[Any, np.ndarray]]:
    """CPU tensors of each framework, with the NumPy array of their bytes."""
    f32 = _random((5, 3), np.float32, seed=11)
    bf16 = _random((4, 2), ml_dtypes.bfloat16, seed=12)
    i8 = _random((7,), np.int8, seed=13)
    flags = _random((3, 3), np.bool_, seed=14)
    return {
        "numpy": (f32, f32),
        "torch": (_torch_of(f32), f32),
        "jax": (_jax_of(f32), f32),
        "torch bfloat16": (_torch_of(bf16), bf16),
        "jax bfloat16": (_jax_of(bf16), bf16),
        "torch int8 column": (_torch_of(i8.reshape(7, 1))[:, 0], i8),
        "jax bool": (_jax_of(flags), flags),
    }


def test_algorithm_dh1_routes_every_framework_through_dh1() -> None:
    for name, (x, a) in _frameworks().items():
        d = numpy_digest(a)
        assert tensor_digest(x, algorithm="dh1") == d == dh.device_digest(x), name
        assert digests({"w": x}, algorithm="dh1") == {"w": d}, name
        td = fingerprint({"w": x}, algorithm="dh1").tensors["w"]
        assert (td.digest, td.algorithm) == (d, "dh1"), name


def test_auto_keeps_cpu_tensors_on_the_host_path() -> None:
    for name, (x, a) in _frameworks().items():
        assert isinstance(leaf_of(x), Leaf), name  # on a CPU: host bytes, never a DeviceLeaf
        assert tensor_digest(x) == tensor_digest(x, algorithm="xxh3") == _host_xxh3(a), name
        assert fingerprint({"w": x}).tensors["w"].algorithm == "xxh3_128", name


def test_torch_model_fingerprinted_with_dh1() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 2))
    fp = fingerprint(model, algorithm="dh1")
    assert fp == fingerprint(model, algorithm="dh1") == fingerprint(copy.deepcopy(model), algorithm="dh1")
    assert fp.algorithm == "dh1" and {t.algorithm for t in fp.tensors.values()} == {"dh1"}
    assert fp.tensors["0.weight"].digest == numpy_digest(model[0].weight.detach().numpy())
    host = fingerprint(model)
    assert (fp.sum, fp.l2) == (host.sum, host.l2) and fp.incomparable(host) == list(fp.tensors)
    with torch.no_grad():
        w = model[2].weight
        w[1, 2] = torch.nextafter(w[1, 2], torch.tensor(float("inf")))  # one ULP
    changed = fingerprint(model, algorithm="dh1")
    assert changed != fp and fp.diff(changed) == ["2.weight"]


def _device_leaf(x: Any) -> DeviceLeaf:
    """What leaf_of makes of a tensor on an accelerator, here of a CPU one (no accelerator here)."""
    name = str(x.dtype)[6:] if isinstance(x, torch.Tensor) else np.dtype(x.dtype).name
    return DeviceLeaf(name, tuple(x.shape), x, "cpu")


def test_device_leaf_is_digested_and_summarised_where_it_lives() -> None:
    values = np.random.default_rng(7).standard_normal((6, 5)).astype(np.float32)
    cases = {
        "torch float32": torch.from_numpy(values),
        "torch bfloat16": torch.from_numpy(values).to(torch.bfloat16),
        "torch int64": torch.arange(-3, 9).reshape(3, 4),
        "torch bool": torch.tensor([True, False, True]),
        "torch complex": torch.complex(torch.ones(2), torch.zeros(2)),
        "torch empty": torch.zeros(0, 4),
        "jax float32": jnp.asarray(values),
        "jax bfloat16": jnp.asarray(values, jnp.bfloat16),
        "jax int32": jnp.arange(-4, 8, dtype=jnp.int32),
        "jax bool": jnp.asarray([True, True, False]),
        "jax huge": jnp.full(4, 1e30, jnp.float32),
        "jax empty": jnp.zeros((0, 2)),
    }
    for name, x in cases.items():
        leaf = _device_leaf(x)
        td = digest_leaf(leaf, summaries=True)
        host = fingerprint(x).tensors["value"]  # the host path: a Leaf, xxh3_128, NumPy reductions
        assert (
            td.digest == tensor_digest(x, algorithm="dh1") == tensor_digest(leaf) == dh.device_digest(leaf)
        ), name
        assert (td.algorithm, td.dtype, td.shape) == ("dh1", host.dtype, host.shape), name
        assert digest_leaf(leaf, algorithm="xxh3_128").digest == host.digest == tensor_digest(leaf.host()), (
            name
        )
        np.testing.assert_array_equal(leaf.data, leaf.host().data)
        if host.sum is None:
            assert td.sum is None and td.l2 is None, name
        else:
            assert td.sum == pytest.approx(host.sum, rel=1e-5, abs=1e-5), name
            assert td.l2 == pytest.approx(host.l2, rel=1e-5), name


def test_doctests() -> None:
    for module in (dh, dh1, dhj, dht):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__


@pytest.mark.slow
def test_speed_sanity_print() -> None:
    """Not an assertion: throughput of each implementation here, for the record (-s shows it)."""
    a = np.random.default_rng(0).standard_normal(1 << 21).astype(np.float32)
    for name, fn, x in (
        ("numpy", numpy_digest, a),
        ("torch eager", torch_digest, torch.from_numpy(a)),
        ("jax", jax_digest, jnp.asarray(a)),
    ):
        fn(x)
        t0 = time.perf_counter()
        fn(x)
        print(f"dh1 {name}: {a.nbytes / (time.perf_counter() - t0) / 1e9:.2f} GB/s on {a.nbytes >> 20} MiB")


# --- the GPU scripts, on CPU -----------------------------------------------------------------


def _start(args: list[str], **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=clean_env(**env),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@pytest.mark.slow
def test_gpu_scripts_say_what_they_skip_on_cpu() -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is here: the scripts run for real (benchmarks/gpu/README.md)")
    procs = [
        _start([str(GPU / "fingerprint_gpu.py"), "--cpu-numel", "65536", "--reps", "1"]),
        _start([str(GPU / "cuda_launcher_check.py")]),
    ]
    (fp_out, _), (launch_out, _) = (p.communicate(timeout=120) for p in procs)
    assert procs[0].returncode == 0 and "no GPU: CPU path only" in fp_out and "dh1 digests agree" in fp_out, (
        fp_out
    )
    assert procs[1].returncode == 0 and "skipped: no CUDA" in launch_out, launch_out


@pytest.mark.slow
def test_determinism_script_cpu_smoke() -> None:
    """`--cpu-smoke` end to end for torch: plain x2, seedlock run x2, --audit, the table."""
    smoke = subprocess.run(
        [sys.executable, str(GPU / "determinism_gpu.py"), "--cpu-smoke", "--frameworks", "torch"],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    out = smoke.stdout
    assert smoke.returncode == 0, out + smoke.stderr
    assert "seedlock run x2: bitwise identical" in out
    assert "torch put_ on cpu ran" in out  # the audit run recorded the op
    assert "| torch | CPU | yes | 0 | yes |" in out


def test_triton_candidate_kernel_agrees_with_numpy() -> None:
    """benchmarks/gpu/dh1_triton.py, the hand-written kernel that may replace the compiled ones,
    in Triton's interpreter: only where triton is installed (CUDA builds of torch bring it)."""
    import importlib.util

    if importlib.util.find_spec("triton") is None:
        pytest.skip("triton is not installed; benchmarks/gpu/dh1_triton.py checks the kernel on a GPU")
    env = {"TRITON_INTERPRET": "1"} if not torch.cuda.is_available() else {}
    proc = _start([str(GPU / "dh1_triton.py")], **env)
    out = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0 and "all agree with numpy" in out, out


@pytest.mark.slow
def test_determinism_script_keras_worker(tmp_path: Path) -> None:
    """The Keras worker, once, on JAX (keras-torch and the full --cpu-smoke with all three
    frameworks ran too when this was written; each Keras process costs ~10 s on CPU)."""
    pytest.importorskip("keras")
    out = tmp_path / "keras-jax.json"
    proc = _start(
        [str(GPU / "determinism_gpu.py"), "--worker", "keras-jax", "--out", str(out), "--cpu-smoke"],
        KERAS_BACKEND="jax",
    )
    log = proc.communicate(timeout=240)[0]
    assert proc.returncode == 0, log
    result = json.loads(out.read_text())
    assert result["backend"] == "jax" and result["steps_per_s"] > 0
    assert result["dh1"] and all(d.startswith("dh1:") for d in result["dh1"].values())


TORCH_FIT = """\
import torch
model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
x = torch.randn(8, 3)
for _ in range(3):
    opt.zero_grad()
    model(x).pow(2).mean().backward()
    opt.step()
print(float(model(x).sum()))
"""


@pytest.mark.slow
def test_run_digest_dh1_traces_compare_with_dh1_traces_only(tmp_path: Path) -> None:
    """`seedlock run --trace --digest dh1`: what a GPU machine records, here on the CPU. Two such
    traces of one seed are IDENTICAL; against a host-digested trace there is no verdict."""
    from conftest import run_seedlock
    from seedlock.trace import read_trace

    (tmp_path / "fit.py").write_text(TORCH_FIT)
    traces = {}
    for name, digest in (("d1", "dh1"), ("d2", "dh1"), ("host", None)):
        traces[name] = tmp_path / f"{name}.jsonl"
        extra = ["--digest", digest] if digest else []
        p = run_seedlock(
            ["run", "--trace", str(traces[name]), *extra, "fit.py"], cwd=tmp_path, env=clean_env()
        )
        assert p.returncode == 0, p.stderr[-2000:]
    dev, host = read_trace(traces["d1"]), read_trace(traces["host"])
    steps = [r for r in dev if r.kind == "step"]
    assert len(steps) == 3 and all(d.startswith("dh1:") for r in steps for d in r.tensors.values())
    assert not any(d.startswith("dh1:") for r in host if r.kind == "step" for d in r.tensors.values())
    same = run_seedlock(["diff", str(traces["d1"]), str(traces["d2"])])
    assert same.returncode == 0 and same.stdout.startswith("IDENTICAL"), same.stdout + same.stderr
    mixed = run_seedlock(["diff", str(traces["d1"]), str(traces["host"])])
    assert mixed.returncode == 2 and "cannot be compared" in mixed.stderr and "Traceback" not in mixed.stderr
    bad = run_seedlock(["run", "--digest", "sha1", "fit.py"], cwd=tmp_path)
    assert bad.returncode == 2 and "sha1" in bad.stderr and "Traceback" not in bad.stderr

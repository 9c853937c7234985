"""Bitwise fingerprints: NumPy in-process; Keras, tf-keras, torch and JAX in subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import xxhash

from conftest import ROOT, clean_env, run_py
from seedlock.errors import SeedlockError
from seedlock.fingerprint import (
    Fingerprint,
    NotComparable,
    UnsupportedObject,
    combine,
    digests,
    fingerprint,
    tensor_digest,
)
from seedlock.fingerprint.devicehash import numpy_digest

GOLDEN = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "step": 3, "name": "x", "none": None}
# Pins the digest format: if this changes, every stored fingerprint and trace becomes incomparable.
GOLDEN_DIGEST = "ba7e873c023f85e8d304919e012ebb54"


def state() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "layer1/kernel": rng.standard_normal((4, 3), dtype=np.float32),
        "layer1/bias": np.zeros(3, np.float32),
    }


def json_out(args: list[str], **env: str) -> dict:
    proc = run_py(args, env=clean_env(**env))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- NumPy and Python values -------------------------------------------------------------------


def test_equal_bytes_equal_fingerprints() -> None:
    a, b = state(), {k: v.copy() for k, v in reversed(state().items())}
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a).digest == fingerprint(b).digest
    assert hash(fingerprint(a)) == hash(fingerprint(b))
    assert fingerprint(GOLDEN).digest == GOLDEN_DIGEST


def test_one_ulp_changes_digest_and_diff_names_the_tensor() -> None:
    a, b = state(), state()
    b["layer1/kernel"][2, 1] = np.nextafter(b["layer1/kernel"][2, 1], np.float32(np.inf))
    fa, fb = fingerprint(a), fingerprint(b)
    assert fa != fb
    assert fa.diff(fb) == ["layer1/kernel"]
    assert fa.tensors["layer1/bias"] == fb.tensors["layer1/bias"]


def test_dtype_shape_and_name_are_part_of_the_digest() -> None:
    x = np.arange(6, dtype=np.float32)
    base = fingerprint({"x": x})
    assert fingerprint({"x": x.view(np.int32)}) != base  # same bytes, other dtype
    assert fingerprint({"x": x.reshape(2, 3)}) != base  # same bytes, other shape
    assert fingerprint({"y": x}) != base
    assert fingerprint({"x": x}, name="model") != base
    assert fingerprint({"x": x.astype(np.float64)}) != base
    assert fingerprint(np.zeros(0)) != fingerprint(np.zeros(()))  # shape (0,) vs ()


def test_diff_lists_changed_then_removed_then_added() -> None:
    a = fingerprint({"keep": 1.0, "change": 1.0, "gone": 1.0})
    b = fingerprint({"keep": 1.0, "change": 2.0, "new": 1.0})
    assert a.diff(b) == ["change", "gone", "new"]
    assert a.diff(a) == []


def test_layouts_and_byte_orders_do_not_matter_values_do() -> None:
    x = np.arange(12, dtype=np.float64).reshape(3, 4)
    assert fingerprint(x.T) == fingerprint(np.ascontiguousarray(x.T))  # hashed in C order
    assert fingerprint(x.astype(">f8")) == fingerprint(x)
    assert fingerprint(np.float32(1.5)) == fingerprint(np.array(1.5, np.float32))
    assert fingerprint(np.array(0.0)) != fingerprint(np.array(-0.0))  # bitwise, not ==


def test_names_from_nested_containers_and_scalars() -> None:
    fp = fingerprint([{"w": np.ones(2)}, (3, "relu", None, True, 2**70)])
    assert list(fp.tensors) == ["0/w", "1/0", "1/1", "1/2", "1/3", "1/4"]
    assert [t.dtype for t in fp.tensors.values()] == ["float64", "int64", "str", "none", "bool", "pyint"]
    assert list(fingerprint(np.ones(2)).tensors) == ["value"]
    assert list(fingerprint(np.ones(2), name="w").tensors) == ["w"]


def test_a_name_made_unique_never_takes_another_leafs_name() -> None:
    a, b, c, other = (np.full(2, v, np.float32) for v in (1.0, 2.0, 3.0, 9.0))
    fp = fingerprint({"x": a, "": {"x": b}, "x#1": c})
    assert list(fp.tensors) == ["x", "x#1", "x#1#1"]  # b and c were both "x#1": one of them was lost
    assert fp != fingerprint({"x": a, "": {"x": other}, "x#1": c})


def test_summaries_are_sum_and_l2_and_can_be_skipped() -> None:
    fp = fingerprint({"a": np.array([3.0, 4.0], np.float32), "b": np.array([True, False, True]), "s": "x"})
    assert fp.tensors["a"].sum == 7.0 and fp.tensors["a"].l2 == 5.0
    assert fp.tensors["b"].sum == 2.0 and fp.tensors["s"].sum is None
    assert fp.sum == 9.0 and fp.l2 == pytest.approx(np.sqrt(27.0))
    big = np.random.default_rng(1).standard_normal(3 * 2**19).astype(np.float32)  # spans several blocks
    assert fingerprint(big).sum == pytest.approx(float(big.astype(np.float64).sum()), rel=1e-5)
    assert fingerprint(big).l2 == pytest.approx(float(np.linalg.norm(big.astype(np.float64))), rel=1e-6)
    bare = fingerprint(big, summaries=False)
    assert bare == fingerprint(big) and bare.sum is None and bare.tensors["value"].l2 is None


def test_json_round_trip_and_tampering() -> None:
    fp = fingerprint(state())
    back = Fingerprint.from_dict(json.loads(json.dumps(fp.to_dict())))
    assert back == fp and back.tensors == fp.tensors and back.sum == fp.sum
    data = fp.to_dict()
    data["tensors"]["layer1/bias"]["digest"] = "0" * 32
    with pytest.raises(SeedlockError, match="does not match"):
        Fingerprint.from_dict(data)
    with pytest.raises(SeedlockError, match="not a seedlock fingerprint"):
        Fingerprint.from_dict({"digest": "x"})


def test_digests_and_tensor_digest_agree_with_fingerprint() -> None:
    s = state()
    fp = fingerprint(s)
    assert digests(s) == {n: t.digest for n, t in fp.tensors.items()}
    assert tensor_digest(s["layer1/bias"]) == fp.tensors["layer1/bias"].digest


def test_unsupported_objects_say_what_to_pass() -> None:
    with pytest.raises(UnsupportedObject, match=r"cannot fingerprint .*object.* at 'x'; pass a model"):
        fingerprint({"x": object()})
    with pytest.raises(SeedlockError, match="object array"):
        fingerprint(np.array([object()]))


def here_arrays(keys: list[str]) -> dict[str, np.ndarray]:
    return {k: np.full(2, i, np.float32) for i, k in sorted(enumerate(keys), key=lambda t: t[1])}


def test_canonical_order_is_stable_across_processes() -> None:
    keys = ["b", "a", "c/d", "10", "2", "ü"]
    here = fingerprint(here_arrays(keys))
    code = textwrap.dedent(f"""
        import json, numpy as np
        from seedlock.fingerprint import fingerprint
        keys = {keys!r}
        value = {{k: i for i, k in enumerate(keys)}}
        d = {{k: np.full(2, value[k], np.float32) for k in set(keys)}}  # order follows the hash seed
        dh1 = fingerprint(d, algorithm="dh1").digest
        print(json.dumps([fingerprint(d).digest, list(d), dh1, [m for m in ("torch", "jax") if m in sys.modules]]))
    """)
    orders = set()
    for seed in ("1", "2"):
        digest, order, dh1, frameworks = json_out(["-c", "import sys" + code], PYTHONHASHSEED=seed)
        assert digest == here.digest and dh1 == fingerprint(here_arrays(keys), algorithm="dh1").digest
        assert frameworks == []  # the dh1 path imports no framework for NumPy arrays
        orders.add(tuple(order))
    assert len(orders) == 2 or len(set(keys)) == 1  # different insertion orders, same digest


# --- algorithms: xxh3_128 on the host, dh1 (seedlock.fingerprint.devicehash) on accelerators or on request ----------


def old_xxh3(a: np.ndarray) -> str:
    """A tensor's digest as seedlock computed it before dh1: what every stored trace holds."""
    head = f"{a.dtype.name}\0{','.join(map(str, a.shape))}\0".encode()
    return xxhash.xxh3_128(b"seedlock.tensor.v1\0" + head + np.ascontiguousarray(a).tobytes()).hexdigest()


def test_default_and_xxh3_keep_host_digests_dh1_is_the_device_digest() -> None:
    w = GOLDEN["w"]
    assert isinstance(w, np.ndarray)
    assert (
        tensor_digest(w)
        == tensor_digest(w, algorithm="xxh3")
        == tensor_digest(w, algorithm="xxh3_128")
        == old_xxh3(w)
    )
    assert tensor_digest(w, algorithm="dh1") == numpy_digest(w)
    host, dev = fingerprint(GOLDEN), fingerprint(GOLDEN, algorithm="dh1")
    assert host.digest == GOLDEN_DIGEST and host.algorithm == host.tensors["w"].algorithm == "xxh3_128"
    assert {t.algorithm for t in dev.tensors.values()} == {"dh1"} and dev.algorithm == "dh1"
    assert dev.tensors["w"].digest == numpy_digest(w) and dev.digest.startswith("dh1:")
    assert digests(GOLDEN, algorithm="dh1") == {n: t.digest for n, t in dev.tensors.items()}
    assert (dev.sum, dev.l2, dev.tensors["w"].sum) == (
        host.sum,
        host.l2,
        host.tensors["w"].sum,
    )  # same host reducers
    assert Fingerprint.from_dict(json.loads(json.dumps(dev.to_dict()))) == dev


def test_dh1_fingerprints_equal_for_equal_bytes_and_not_for_one_ulp() -> None:
    a, b = state(), state()
    fa = fingerprint(a, algorithm="dh1")
    assert fingerprint(b, algorithm="dh1") == fa
    b["layer1/kernel"][3, 0] = np.nextafter(b["layer1/kernel"][3, 0], np.float32(np.inf))
    fb = fingerprint(b, algorithm="dh1")
    assert fb != fa and fa.diff(fb) == ["layer1/kernel"]


def test_combine_is_unchanged_for_host_digests_and_defined_for_device_digests() -> None:
    d = {"b": old_xxh3(np.ones(2)), "a": old_xxh3(np.zeros(3))}
    old = xxhash.xxh3_128(b"seedlock.fingerprint.v1\0")
    for n in sorted(d):
        old.update(len(n).to_bytes(8, "little") + n.encode() + bytes.fromhex(d[n]))
    assert combine(d) == old.hexdigest()
    mixed = {**d, "c": numpy_digest(np.ones(2))}
    assert combine(mixed).startswith("dh1:") and combine(mixed) == combine(dict(reversed(mixed.items())))
    assert combine(mixed) != combine({**d, "c": numpy_digest(np.zeros(2))})


def test_digests_by_two_algorithms_are_neither_equal_nor_different() -> None:
    host, dev = fingerprint(GOLDEN), fingerprint(GOLDEN, algorithm="dh1")
    assert host.incomparable(dev) == list(GOLDEN)
    says = r"^fingerprints not comparable: 4 tensors .*\('w': xxh3_128 vs dh1\).*algorithm='dh1'"
    with pytest.raises(NotComparable, match=says):
        _ = host == dev
    with pytest.raises(NotComparable, match=says):
        _ = host != dev
    with pytest.raises(NotComparable, match=says):
        host.diff(dev)
    assert fingerprint({"other": 1.0}, algorithm="dh1") != host  # no tensor in common: different, truly
    # One tensor's digests likewise; its sum and L2 norm (for humans) never decide equality.
    with pytest.raises(NotComparable, match=r"^tensor digests not comparable: xxh3_128 vs dh1"):
        _ = host.tensors["w"] == dev.tensors["w"]
    bare = fingerprint(GOLDEN, summaries=False).tensors["w"]
    assert host.tensors["w"] == bare and bare.sum is None and host.tensors["w"].sum is not None
    assert host.tensors["w"] != fingerprint({"w": np.zeros(3)}).tensors["w"]


@pytest.mark.parametrize("call", [fingerprint, digests, tensor_digest])
def test_bad_algorithm_says_what_to_pass(call: object) -> None:
    with pytest.raises(
        SeedlockError,
        match=r"^unknown digest algorithm 'sha256'; pass algorithm='auto' .* 'dh1' or 'xxh3_128'$",
    ):
        call(np.ones(2), algorithm="sha256")  # type: ignore[operator]


def test_doctests() -> None:
    import doctest

    from seedlock.fingerprint import digest as module
    from seedlock.fingerprint import leaves

    for m in (module, leaves):
        result = doctest.testmod(m)
        assert result.attempted > 0 and result.failed == 0, m.__name__


# --- frameworks, in subprocesses ----------------------------------------------------------------

KERAS = """
import json, numpy as np, keras, tensorflow as tf, tf_keras
from seedlock.fingerprint import fingerprint

def build():
    keras.backend.clear_session()  # layer names (and so variable paths) restart
    keras.utils.set_random_seed(7)
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.BatchNormalization()])
    m.compile(optimizer="adam", loss="mse")
    return m

x, y = np.ones((8, 4), np.float32), np.zeros((8, 3), np.float32)
m1 = build(); f1 = fingerprint(m1)
m2 = build(); f2 = fingerprint(m2)
m1.fit(x, y, batch_size=8, epochs=1, verbose=0)  # one step
f3 = fingerprint(m1)
m1.optimizer.iterations.assign(5)  # optimizer state alone
f4 = fingerprint(m1)
t = tf_keras.Sequential([tf_keras.Input((4,)), tf_keras.layers.Dense(3)])
t.compile(optimizer="adam", loss="mse")
t.fit(x, y, batch_size=8, epochs=1, verbose=0)
a = np.arange(6, dtype=np.float32).reshape(2, 3)
print(json.dumps({
    "same_seed_equal": f1 == f2, "fit_changes": f1 != f3, "names_before": list(f1.tensors),
    "names_after": list(f3.tensors), "diff_fit": f1.diff(f3), "diff_iterations": f3.diff(f4),
    "tf_keras_names": list(fingerprint(t).tensors),
    "tf_equal": fingerprint(tf.Variable(a)) == fingerprint(a) == fingerprint(tf.constant(a)),
}))
"""

TORCH_JAX = """
import dataclasses, functools, json, numpy as np, torch, jax, jax.numpy as jnp
from seedlock.fingerprint import fingerprint

def make():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))

class Cached(torch.nn.Module):
    def __init__(self, v):
        super().__init__(); self.lin = torch.nn.Linear(2, 2)
        self.register_buffer("cache", torch.full((3,), v), persistent=False)

def cached(v):
    torch.manual_seed(0)
    return fingerprint(Cached(v))

m1, m2 = make(), make()
opt = torch.optim.SGD(m1.parameters(), lr=0.1, momentum=0.9)
same = fingerprint(m1) == fingerprint(m2)
o0 = fingerprint(opt)
m1(torch.randn(8, 4)).sum().backward(); opt.step()
o1 = fingerprint(opt)
x = np.arange(6, dtype=np.float32)
b = torch.arange(6, dtype=torch.bfloat16)

@functools.partial(jax.tree_util.register_dataclass, data_fields=["w", "b"], meta_fields=[])
@dataclasses.dataclass
class Dense:
    w: jax.Array
    b: jax.Array

tree = {"dense": Dense(jnp.ones((2, 2)), jnp.zeros(2)), "scale": (jnp.float32(2.0),)}
as_numpy = {"dense": {"w": np.ones((2, 2), np.float32), "b": np.zeros(2, np.float32)}, "scale": (np.float32(2.0),)}
print(json.dumps({
    "module_equal": same, "module_names": list(fingerprint(m1).tensors), "module_diff": fingerprint(m2).diff(fingerprint(m1)),
    "opt_names": list(o1.tensors), "opt_diff": o0.diff(o1),
    "torch_is_numpy": fingerprint(torch.from_numpy(x)) == fingerprint(x) == fingerprint(torch.from_numpy(x).requires_grad_()),
    "bf16": [fingerprint(b).tensors["value"].dtype, fingerprint(b).sum, fingerprint(b) != fingerprint(b.to(torch.float16))],
    "bf16_jax_is_torch": fingerprint(b) == fingerprint(jnp.arange(6, dtype=jnp.bfloat16)),
    "unsaved": [list(cached(1.0).tensors), cached(1.0) == cached(1.0), cached(1.0).diff(cached(2.0))],
    "jax_names": list(fingerprint(tree).tensors), "jax_is_numpy": fingerprint(tree) == fingerprint(as_numpy),
}))
"""


@pytest.fixture(scope="module")
def framework_runs() -> dict[str, subprocess.Popen[str]]:
    """Both framework processes, started at once: each spends seconds importing, mostly on one core."""

    def start(code: str, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=clean_env(**env),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    return {
        "keras": start(KERAS, KERAS_BACKEND="tensorflow"),
        "torch_jax": start(TORCH_JAX, JAX_PLATFORMS="cpu"),
    }


def finish(proc: subprocess.Popen[str]) -> dict:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def keras_result(framework_runs: dict[str, subprocess.Popen[str]]) -> dict:
    return finish(framework_runs["keras"])


@pytest.fixture(scope="module")
def torch_jax_result(framework_runs: dict[str, subprocess.Popen[str]]) -> dict:
    return finish(framework_runs["torch_jax"])


@pytest.mark.slow
@pytest.mark.xdist_group("fingerprint-frameworks")  # one worker starts both processes
def test_keras_model_covers_weights_and_optimizer_variables(keras_result: dict) -> None:
    r = keras_result
    assert r["same_seed_equal"] and r["fit_changes"]
    assert r["names_before"][0] == "sequential/dense/kernel"
    assert not any(n.startswith("adam/") for n in r["names_before"])  # optimizer not built yet
    assert (
        "adam/iteration" in r["names_after"] and "adam/sequential_dense_kernel_momentum" in r["names_after"]
    )
    assert "sequential/batch_normalization/moving_mean" in r["names_after"]
    assert "adam/sequential_dense_kernel_velocity" in r["diff_fit"]
    assert r["diff_iterations"] == ["adam/iteration"]


@pytest.mark.slow
@pytest.mark.xdist_group("fingerprint-frameworks")  # one worker starts both processes
def test_tf_keras_and_tensorflow_tensors(keras_result: dict) -> None:
    assert "dense/kernel:0" in keras_result["tf_keras_names"]
    assert any(n.startswith("Adam/m/") for n in keras_result["tf_keras_names"])
    assert keras_result["tf_equal"]


@pytest.mark.slow
@pytest.mark.xdist_group("fingerprint-frameworks")  # one worker starts both processes
def test_torch_module_and_optimizer(torch_jax_result: dict) -> None:
    r = torch_jax_result
    assert r["module_equal"]
    assert r["module_names"] == [
        "0.weight",
        "0.bias",
        "1.weight",
        "1.bias",
        "1.running_mean",
        "1.running_var",
        "1.num_batches_tracked",
    ]
    assert set(r["module_diff"]) >= {"0.weight", "1.running_mean", "1.num_batches_tracked"}  # buffers too
    assert "state/0/momentum_buffer" in r["opt_names"] and "param_groups/0/lr" in r["opt_names"]
    assert "state/0/momentum_buffer" in r["opt_diff"]  # added by the first step
    assert r["torch_is_numpy"]
    assert r["bf16"] == ["bfloat16", 15.0, True]
    assert r["unsaved"] == [
        ["lin.weight", "lin.bias", "cache"],
        True,
        ["cache"],
    ]  # non-persistent buffers too


@pytest.mark.slow
@pytest.mark.xdist_group("fingerprint-frameworks")  # one worker starts both processes
def test_jax_pytree(torch_jax_result: dict) -> None:
    assert torch_jax_result["jax_names"] == ["dense/w", "dense/b", "scale/0"]
    assert torch_jax_result["jax_is_numpy"]
    assert torch_jax_result["bf16_jax_is_torch"]

"""Reading tensors out of objects: models, optimizers, tensors of any framework, containers.

No framework is imported here: an object is recognised by the packages of the classes in its
MRO (so a user's subclass of ``keras.Model`` counts), then checked against the classes of the
framework that ``sys.modules`` already holds.

>>> import numpy as np
>>> [(name, leaf.dtype, leaf.shape) for name, leaf in iter_leaves({"w": np.ones((2, 3)), "n": [1]})]
[('w', 'float64', (2, 3)), ('n/0', 'int64', ())]

A torch tensor or JAX array on an accelerator (CUDA, ROCm, TPU...) becomes a :class:`DeviceLeaf`:
it stays there, to be digested there (``dh1``, :mod:`seedlock.fingerprint.devicehash`); everything else is a
:class:`Leaf` of host bytes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from seedlock.errors import SeedlockError

_ROOT_NAME = "value"  # name of a bare tensor when no name= is given


class UnsupportedObject(SeedlockError, TypeError):
    """An object :func:`fingerprint` cannot read tensors from."""


class Leaf(NamedTuple):
    """One tensor as bytes: ``data`` is C-contiguous; ``dtype`` is the logical dtype name (for a
    bfloat16 torch tensor, ``data`` is its raw uint8 view and ``dtype`` is ``"bfloat16"``)."""

    dtype: str
    shape: tuple[int, ...]
    data: np.ndarray


class DeviceLeaf(NamedTuple):
    """One tensor left on its accelerator: ``tensor`` is the framework's own (torch or JAX),
    ``device`` says where (``"cuda:0"``, ``"tpu:0"``), ``dtype``/``shape`` as in :class:`Leaf`."""

    dtype: str
    shape: tuple[int, ...]
    tensor: Any
    device: str

    def host(self) -> Leaf:
        """Its bytes copied to the host: for the xxh3_128 digest and saved values."""
        if "torch" in _roots(self.tensor):
            return _torch_leaf(self.tensor)
        return _np_leaf(np.asarray(self.tensor))

    @property
    def data(self) -> np.ndarray:
        """``host().data``, for code written for :class:`Leaf` (a copy at every access)."""
        return self.host().data


_root_cache: dict[type, frozenset[str]] = {}


def _roots(obj: Any) -> frozenset[str]:
    """Top-level packages of the classes in obj's MRO: a user's subclass of keras.Model counts."""
    cls = type(obj)
    roots = _root_cache.get(cls)
    if roots is None:  # cached: a tf.Variable's MRO has 20 classes, and traces ask at every step
        roots = _root_cache[cls] = frozenset(
            c.__module__.split(".")[0] for c in cls.__mro__ if isinstance(c.__module__, str)
        )
    return roots


def _join(prefix: str, key: object) -> str:
    return f"{prefix}/{key}" if prefix else str(key)


def _np_leaf(a: np.ndarray) -> Leaf:
    if a.dtype.hasobject:
        raise UnsupportedObject("an object array holds pointers, not values; convert it to a numeric dtype")
    if a.dtype.byteorder == ">":  # digests are over little-endian bytes, whatever the machine
        a = a.astype(a.dtype.newbyteorder("<"))
    if not a.flags.c_contiguous:
        a = np.ascontiguousarray(a)
    return Leaf(a.dtype.name if a.dtype.fields is None else str(a.dtype), tuple(a.shape), a)


def _bytes_leaf(dtype: str, data: bytes) -> Leaf:
    return Leaf(dtype, (), np.frombuffer(data, np.uint8))


def _torch_leaf(t: Any) -> Leaf:
    # Traces call this for every parameter and gradient at every step: checks before conversions.
    import torch

    t = t.detach()
    if t.layout != torch.strided:
        t = t.to_dense()
    if not t.is_cpu:
        t = t.cpu()
    if t.is_conj() or t.is_neg():
        t = t.resolve_conj().resolve_neg()
    if not t.is_contiguous():
        t = t.contiguous()
    dtype = str(t.dtype)[6:]  # "torch.float32" -> "float32"
    try:
        return Leaf(dtype, tuple(t.shape), t.numpy())  # shares memory
    except (TypeError, RuntimeError):  # bfloat16, float8: no NumPy dtype, hash the raw bytes
        return Leaf(dtype, tuple(t.shape), t.reshape(-1).view(torch.uint8).numpy())


def _jax_device_leaf(x: Any) -> DeviceLeaf | None:
    """A JAX array on an accelerator, left there; None on the CPU (or a tracer, a key array)."""
    try:
        devices = sorted(x.devices(), key=lambda d: d.id)
        dtype = np.dtype(x.dtype).name
    except Exception:  # a tracer, a deleted buffer, a typed PRNG key: the host path says what is wrong
        return None
    if not devices or devices[0].platform == "cpu":
        return None
    where = f"{devices[0].platform}:{devices[0].id}" + (
        f" (+{len(devices) - 1} shards)" if len(devices) > 1 else ""
    )
    return DeviceLeaf(dtype, tuple(x.shape), x, where)


def leaf_of(obj: Any) -> Leaf | DeviceLeaf | None:
    """The bytes of a single tensor or scalar; None when ``obj`` is not one. A torch tensor or
    JAX array on an accelerator is a :class:`DeviceLeaf`, not copied to the host."""
    if isinstance(obj, np.ndarray):
        return _np_leaf(obj)
    if obj is None:
        return _bytes_leaf("none", b"")
    if isinstance(obj, str):
        return _bytes_leaf("str", obj.encode("utf-8", "surrogatepass"))
    if isinstance(obj, bytes | bytearray):
        return _bytes_leaf("bytes", bytes(obj))
    if isinstance(obj, bool | float | complex | np.generic):
        return _np_leaf(np.asarray(obj))
    if isinstance(obj, int):
        if -(2**63) <= obj < 2**63:
            return _np_leaf(np.asarray(obj, np.int64))
        return _bytes_leaf("pyint", str(obj).encode())
    roots = _roots(obj)
    variable: Any = getattr(sys.modules.get("keras"), "Variable", None) if "keras" in roots else None
    if variable is not None and isinstance(obj, variable):
        return leaf_of(obj.value)  # the backend's own tensor: no conversion copy
    if "torch" in roots:
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(obj, torch.Tensor):
            if not obj.is_cpu:
                return DeviceLeaf(str(obj.dtype)[6:], tuple(obj.shape), obj, str(obj.device))
            return _torch_leaf(obj)
    if "tensorflow" in roots and hasattr(obj, "numpy") and hasattr(obj, "dtype"):
        tf = sys.modules.get("tensorflow")
        if tf is not None and isinstance(obj, tf.Variable):
            obj = obj.value()  # no copy: TF copies a variable's buffer on write while we hold it
        # np.asarray shares an eager CPU tensor's buffer; .numpy() would copy it (10x slower)
        return _np_leaf(np.asarray(obj))
    if roots & {"jax", "jaxlib"} and hasattr(obj, "__array__") and hasattr(obj, "dtype"):
        return _jax_device_leaf(obj) or _np_leaf(np.asarray(obj))
    return None


def _keras_variables(obj: Any, keras: Any) -> list[tuple[str, Any]] | None:
    """(path, value) of a Keras 3 object's variables; None if it is not a Keras object."""
    if isinstance(obj, keras.Variable):
        return [("", obj.value)]
    if isinstance(obj, keras.optimizers.Optimizer):
        return [(v.path, v.value) for v in obj.variables]
    if isinstance(obj, keras.layers.Layer):
        out = [(v.path, v.value) for v in obj.weights]
        opt = getattr(obj, "optimizer", None)
        if opt is not None and getattr(opt, "built", False):
            out += [(v.path, v.value) for v in opt.variables]
        return out
    return None


def _tf_keras_variables(obj: Any, tf_keras: Any) -> list[tuple[str, Any]] | None:
    if isinstance(obj, tf_keras.layers.Layer):
        out = [(v.name, v) for v in obj.weights]
        opt = getattr(obj, "optimizer", None)
        if opt is not None:
            variables = opt.variables
            out += [(v.name, v) for v in (variables() if callable(variables) else variables)]
        return out
    return None


def _children(obj: Any, roots: frozenset[str]) -> Iterator[tuple[str, Any]] | None:
    """(relative name, child) pairs of a container-like object; None when not one."""
    if "keras" in roots and "keras" in sys.modules:
        keras = sys.modules["keras"]  # Keras 2 (TensorFlow <= 2.15) is tf-keras under another name
        found = (_keras_variables if hasattr(keras, "Variable") else _tf_keras_variables)(obj, keras)
        if found is not None:
            return iter(found)
    if "tf_keras" in roots and "tf_keras" in sys.modules:
        found = _tf_keras_variables(obj, sys.modules["tf_keras"])
        if found is not None:
            return iter(found)
    if "torch" in roots and "torch" in sys.modules:
        torch = sys.modules["torch"]
        if isinstance(obj, torch.optim.Optimizer):
            return iter(obj.state_dict().items())
        if isinstance(obj, torch.nn.Module):
            # Non-persistent buffers (rotary caches, masks) are not saved, but they shape every
            # forward pass: a difference there is a difference in the model.
            state = obj.state_dict()
            unsaved = [(n, b) for n, b in obj.named_buffers() if b is not None and n not in state]
            return iter([*state.items(), *unsaved])
    if isinstance(obj, Mapping):
        return ((str(k), v) for k, v in obj.items())
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # namedtuple: field names, as JAX does
        return zip(obj._fields, obj, strict=True)
    if isinstance(obj, list | tuple):
        return ((str(i), v) for i, v in enumerate(obj))
    if "jax" in sys.modules:
        return _pytree_children(obj, sys.modules["jax"])
    return None


def _pytree_children(obj: Any, jax: Any) -> Iterator[tuple[str, Any]] | None:
    leaves, _ = jax.tree_util.tree_flatten_with_path(obj)
    if len(leaves) == 1 and leaves[0][0] == () and leaves[0][1] is obj:
        return None  # not a registered pytree node
    return (("/".join(_key_name(k) for k in path), leaf) for path, leaf in leaves)


def _key_name(key: Any) -> str:
    for attr in ("key", "name", "idx"):  # DictKey, GetAttrKey, SequenceKey / FlattenedIndexKey
        if hasattr(key, attr):
            return str(getattr(key, attr))
    return str(key)


def iter_leaves(obj: Any, *, name: str | None = None) -> Iterator[tuple[str, Leaf | DeviceLeaf]]:
    """(name, Leaf) for every tensor in ``obj``, in discovery order, names made unique.

    A generator, so that one tensor at a time is converted (TF copies values out of its runtime).
    """
    taken: set[str] = set()
    count: dict[str, int] = {}
    for leaf_name, leaf in _walk(obj, name or ""):
        base = leaf_name or _ROOT_NAME
        unique, n = base, count.get(base, 0)
        # Skip names already given, made ones too: {"x": a, "": {"x": b}, "x#1": c} named b and c
        # both "x#1", and one of them was lost from the fingerprint.
        while unique in taken:
            n += 1
            unique = f"{base}#{n}"
        count[base] = n
        taken.add(unique)
        yield unique, leaf


def _walk(obj: Any, prefix: str) -> Iterator[tuple[str, Leaf | DeviceLeaf]]:
    leaf = leaf_of(obj)
    if leaf is not None:
        yield prefix, leaf
        return
    children = _children(obj, _roots(obj))
    if children is None:
        raise UnsupportedObject(
            f"cannot fingerprint {type(obj).__module__}.{type(obj).__qualname__}"
            f"{f' at {prefix!r}' if prefix else ''}; pass a model, optimizer, tensor, array, "
            "scalar, or a dict/list of them"
        )
    for key, child in children:
        yield from _walk(child, _join(prefix, key) if key else prefix)

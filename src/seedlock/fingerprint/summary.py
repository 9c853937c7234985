"""``sum`` and ``l2`` of a tensor on its accelerator, reduced there: two numbers reach the host.

For humans, as on the host (:mod:`seedlock.fingerprint`): the same dtypes get numbers (floats,
bfloat16, integers, bools as counts; none for complex and float8), accumulated in float64
where the device has it (float32 on Apple's MPS, and in JAX without ``jax_enable_x64``).
They may differ from the host's in the last bits: reduction order is the device's.
"""

from __future__ import annotations

import math
from typing import Any

from seedlock.fingerprint.leaves import DeviceLeaf

Summary = tuple[float | None, float | None]
_NONE: Summary = (None, None)


def summary(leaf: DeviceLeaf) -> Summary:
    """(sum, l2) of a device leaf's elements; (None, None) where the dtype has no such meaning."""
    if leaf.dtype.startswith(("complex", "float8", "float4")):
        return _NONE
    if hasattr(leaf.tensor, "detach"):  # torch; else a JAX array
        return _torch(leaf.tensor)
    return _jax(leaf.tensor)


def _torch(t: Any) -> Summary:
    import torch

    t = t.detach()
    if t.layout != torch.strided:
        t = t.to_dense()
    if t.dtype == torch.bool:
        n = float(t.count_nonzero())
        return n, math.sqrt(n)
    for acc in (torch.float64, torch.float32):  # MPS has no float64
        try:
            x = t if t.is_floating_point() else t.to(acc)  # vector_norm takes floats only
            s, l2 = torch.stack([t.sum(dtype=acc), torch.linalg.vector_norm(x, dtype=acc)]).tolist()
            return float(s), float(l2)
        except (RuntimeError, TypeError):  # a dtype or device without the kernel
            continue
    return _NONE


def _jax(x: Any) -> Summary:
    import jax
    import jax.numpy as jnp

    if x.dtype == jnp.bool_:
        n = float(jnp.count_nonzero(x))
        return n, math.sqrt(n)
    if not (jnp.issubdtype(x.dtype, jnp.floating) or jnp.issubdtype(x.dtype, jnp.integer)):
        return _NONE
    if x.size == 0:
        return 0.0, 0.0
    acc = jnp.float64 if jax.config.read("jax_enable_x64") else jnp.float32
    v = x.astype(acc)
    s, sq = (float(r) for r in jnp.stack([jnp.sum(v), jnp.sum(v * v)]))
    if math.isinf(sq):  # squares overflow far below the dtype's max: scale by the largest magnitude
        m = jnp.max(jnp.abs(v))
        sq = float(m) ** 2 * float(jnp.sum(jnp.square(v / m)))
    return s, math.sqrt(sq)

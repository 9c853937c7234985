"""Localisation below the step: which layer's forward output first differs at the divergent step.

Two more runs of the script, up to the first divergent step, record every layer's output
digest in forward (completion) order; the first entry that differs names the layer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seedlock.config import ENV_LOCALIZE
from seedlock.frameworks.base import Config
from seedlock.trace.layers import layers_name
from seedlock.verify.runner import Target, run_many

if TYPE_CHECKING:
    from seedlock.trace import Divergence


def window(divergence: Divergence) -> dict[str, Any] | None:
    """The training window to record, from the divergent record's kind and position."""
    kind = divergence.kind
    if kind in ("epoch", "batch") and divergence.epoch is not None:
        return {
            "framework": "keras",
            "epoch": divergence.epoch,
            "batch": divergence.batch if kind == "batch" else None,
        }
    if kind == "step" and divergence.step is not None:
        return {"framework": "torch", "step": divergence.step}
    return None


def first_difference(a: list[list[str]], b: list[list[str]]) -> tuple[int, str] | None:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i, x[0] if x[0] == y[0] else f"{x[0]} (other run: {y[0]})"
    return None


def localize(
    target: Target,
    config: Config,
    divergence: Divergence,
    workdir: Path,
    *,
    plain: bool,
    extra_env: dict[str, str] | None = None,
    rank: str | None = None,
) -> dict[str, Any]:
    """Rerun up to the divergent step recording layer outputs; ``rank``: the rank whose trace
    parted (every rank records its own layers)."""
    spec = window(divergence)
    if spec is None:
        return {
            "layer": None,
            "message": "not localised below the step: the divergence is not at a training step "
            "(a final or stdout record); record steps with the Keras Trace callback or the torch hook",
        }
    env = {**(extra_env or {}), ENV_LOCALIZE: json.dumps(spec)}
    results = run_many(
        target, 2, config, workdir, plain=plain, granularity="epoch", extra_env=env, tag="localize"
    )
    calls, saved = [], []
    for r in results:
        path = r.trace.with_name(layers_name(rank))
        if not path.exists():
            return {
                "layer": None,
                "message": f"not localised: the localising run {r.index + 1} wrote no layer record "
                f"(exit code {r.returncode})",
            }
        data = json.loads(path.read_text())
        calls.append(data["calls"])
        saved.append((data.get("values") or [], path.with_suffix(".npz")))
    amounts = _amounts(divergence.name, saved)
    if not calls[0]:
        return {"layer": None, "message": "not localised: no layer outputs were recorded in that step"}
    where = f"epoch {spec['epoch']}" if spec["framework"] == "keras" else f"step {spec['step']}"
    found = first_difference(calls[0], calls[1])
    if found is None:
        return {
            "layer": None,
            **amounts,
            "message": f"no layer's forward output differs in {where} ({len(calls[0])} layer calls "
            "compared): the divergence comes from the backward pass or the optimizer update",
        }
    index, name = found
    return {
        "layer": name,
        "call": index,
        "window": spec,
        **amounts,
        "message": f"first visible in the forward output of layer {name!r} ({where}, layer call {index + 1})",
    }


def _amounts(name: str | None, saved: list[tuple[list[str], Path]]) -> dict[str, Any]:
    """Max abs difference and ULP distance of the divergent tensor, from the localising runs' values.

    Only meaningful if the localising runs diverged as the checked runs did; they run the same
    code up to the same step, eagerly for Keras."""
    import numpy as np

    from seedlock.trace.compare import same_sign_ulp, ulp_distance

    if name is None or not all(name in names and path.exists() for names, path in saved):
        return {}
    arrays = [np.load(path)[f"t{names.index(name)}"] for names, path in saved]
    a, b = arrays
    if a.shape != b.shape or a.dtype != b.dtype or a.dtype.kind != "f":
        return {}
    diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
    ulp, crossed = same_sign_ulp(a, b, ulp_distance(a, b)) if a.size else (0, None)
    return {"max_abs": float(diff.max()) if diff.size else 0.0, "max_ulp": ulp, "sign_note": crossed}

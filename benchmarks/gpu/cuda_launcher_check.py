"""Did `seedlock run`'s GPU settings take effect? CUBLAS_WORKSPACE_CONFIG for torch, XLA_FLAGS for JAX.

    python benchmarks/gpu/cuda_launcher_check.py

Each check runs a child twice: plainly (neither variable set) and under ``python -m seedlock
run``. torch: with deterministic algorithms on, a cuBLAS matmul must raise torch's
CUBLAS_WORKSPACE_CONFIG RuntimeError without the variable (where this torch still checks it)
and run with it; an ``index_add_`` with many collisions, repeated, must be bitwise identical
under ``seedlock run``. JAX: ``XLA_FLAGS`` must hold ``--xla_gpu_deterministic_ops=true`` (an
XLA that no longer knows the flag aborts, which fails the check) and a colliding scatter-add,
repeated, must be bitwise identical. Prints "skipped: no CUDA" without a GPU. Exit status 1
if a check under ``seedlock run`` fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

TORCH_CHILD = r'''
import json, os, sys, torch
torch.use_deterministic_algorithms(True)  # as seedlock does: the matmul check needs it in both runs
out = {"CUBLAS_WORKSPACE_CONFIG": os.environ.get("CUBLAS_WORKSPACE_CONFIG")}
a = torch.randn(512, 512, device="cuda")
try:
    out["matmul"] = "ok" if bool(torch.isfinite(a @ a).all()) else "nonfinite"
except RuntimeError as exc:
    out["matmul"] = "error: " + str(exc)[:300]
torch.use_deterministic_algorithms("--locked" in sys.argv)  # plain: atomics, as users get by default
g = torch.Generator(device="cuda").manual_seed(0)
idx = torch.randint(0, 64, (1 << 22,), device="cuda", generator=g)
vals = torch.randn(1 << 22, device="cuda", generator=g)
runs = [torch.zeros(64, device="cuda").index_add_(0, idx, vals).view(torch.int32).cpu() for _ in range(5)]
out["index_add_identical"] = all(bool((r == runs[0]).all()) for r in runs)
print("RESULT " + json.dumps(out))
'''

JAX_CHILD = r'''
import json, os
import numpy as np
import jax, jax.numpy as jnp
out = {"XLA_FLAGS": os.environ.get("XLA_FLAGS"), "backend": jax.default_backend()}
idx = jax.random.randint(jax.random.key(0), (1 << 22,), 0, 64)
vals = jax.random.normal(jax.random.key(1), (1 << 22,))
f = jax.jit(lambda v: jnp.zeros(64).at[idx].add(v))
runs = [np.asarray(f(vals)).view(np.uint32) for _ in range(5)]
out["scatter_identical"] = all(bool((r == runs[0]).all()) for r in runs)
print("RESULT " + json.dumps(out))
'''


def _env() -> dict[str, str]:
    drop = ("CUBLAS_WORKSPACE_CONFIG", "XLA_FLAGS", "PYTHONHASHSEED")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEEDLOCK_") and k not in drop}
    env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
    return env


def _child(code: str, launcher: list[str], tmp: Path) -> tuple[dict[str, object] | None, str]:
    script = tmp / "child.py"
    script.write_text(code)
    cmd = [sys.executable, *launcher, str(script), *(["--locked"] if launcher else [])]
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:]), proc.stderr
    return None, f"exit {proc.returncode}: {proc.stderr[-1500:]}"


def check_torch(tmp: Path) -> bool:
    plain, err = _child(TORCH_CHILD, [], tmp)
    locked, err2 = _child(TORCH_CHILD, ["-m", "seedlock", "run"], tmp)
    print("torch plain (no CUBLAS_WORKSPACE_CONFIG):", plain or err)
    print("torch under seedlock run:               ", locked or err2)
    if plain is not None:
        raised = str(plain["matmul"]).startswith("error") and "CUBLAS_WORKSPACE_CONFIG" in str(plain["matmul"])
        print("  without it, torch raised the cuBLAS error:", "yes" if raised else
              "no (this torch/CUDA does not require the variable; nothing to verify there)")
    ok = (locked is not None and locked["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8" and locked["matmul"] == "ok"
          and locked["index_add_identical"] is True)
    print(f"  torch: {'OK' if ok else 'FAILED'}: seedlock run set the variable, cuBLAS ran deterministic, "
          "index_add_ repeated bitwise")
    return ok


def check_jax(tmp: Path) -> bool:
    plain, err = _child(JAX_CHILD, [], tmp)
    if plain is not None and plain["backend"] != "gpu":
        print(f"JAX: skipped: its backend is {plain['backend']!r}, not gpu")
        return True
    locked, err2 = _child(JAX_CHILD, ["-m", "seedlock", "run"], tmp)
    print("JAX plain (no XLA_FLAGS):", plain or err)
    print("JAX under seedlock run:  ", locked or err2)
    if plain is not None:
        print("  plain scatter-add repeated bitwise:", plain["scatter_identical"],
              "(False shows the flag matters on this GPU)")
    ok = (locked is not None and "--xla_gpu_deterministic_ops=true" in str(locked["XLA_FLAGS"])
          and locked["scatter_identical"] is True)
    print(f"  JAX: {'OK' if ok else 'FAILED'}: XLA accepted the flag and the scatter-add repeated bitwise")
    return ok


def main() -> int:
    try:
        import torch

        cuda = torch.cuda.is_available()
    except ImportError:
        cuda = False
    if not cuda:
        print("skipped: no CUDA")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        ok = check_torch(Path(tmp))
        try:
            import jax  # noqa: F401  - only whether it is installed; the child imports it
        except ImportError:
            print("JAX: skipped: not installed")
        else:
            ok = check_jax(Path(tmp)) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

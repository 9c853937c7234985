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

Then the fork-server of ``seedlock repeat`` on CUDA: trials forked from a zygote that imported
torch must equal fresh-process trials seed by seed (and the 4 seeds must differ from each
other); when a module imported by the script initialises CUDA, repeat must run every trial
in a fresh process and say that CUDA is why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

TORCH_CHILD = r"""
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
"""

JAX_CHILD = r"""
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
"""


TRAIN = r"""
import json
import torch
import helper  # helper.py, beside no script: empty, or one that touches CUDA when imported
x = torch.randn(4096, 32, device="cuda")
y = torch.randn(4096, 1, device="cuda")
model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1)).cuda()
opt = torch.optim.SGD(model.parameters(), 0.05)
idx = torch.randint(0, 64, (1 << 20,), device="cuda")
for _ in range(20):
    loss = ((model(x) - y) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
bags = torch.zeros(64, device="cuda").index_add_(0, idx, torch.randn(1 << 20, device="cuda"))
print(json.dumps({"loss": float(loss), "bag0": float(bags[0])}))
"""
HELPERS = {
    "plain": "",
    "cuda at import": "import torch\n_ = torch.zeros(1, device='cuda')  # initialises CUDA\n",
}


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
        raised = str(plain["matmul"]).startswith("error") and "CUBLAS_WORKSPACE_CONFIG" in str(
            plain["matmul"]
        )
        print(
            "  without it, torch raised the cuBLAS error:",
            "yes"
            if raised
            else "no (this torch/CUDA does not require the variable; nothing to verify there)",
        )
    ok = (
        locked is not None
        and locked["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
        and locked["matmul"] == "ok"
        and locked["index_add_identical"] is True
    )
    print(
        f"  torch: {'OK' if ok else 'FAILED'}: seedlock run set the variable, cuBLAS ran deterministic, "
        "index_add_ repeated bitwise"
    )
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
        print(
            "  plain scatter-add repeated bitwise:",
            plain["scatter_identical"],
            "(False shows the flag matters on this GPU)",
        )
    ok = (
        locked is not None
        and "--xla_gpu_deterministic_ops=true" in str(locked["XLA_FLAGS"])
        and locked["scatter_identical"] is True
    )
    print(f"  JAX: {'OK' if ok else 'FAILED'}: XLA accepted the flag and the scatter-add repeated bitwise")
    return ok


def check_forkserver(tmp: Path) -> bool:
    """`seedlock repeat` forks CUDA trials from a zygote that imported torch (CUDA not yet
    initialised there), bitwise equal to fresh processes; where an import initialises CUDA,
    it runs every trial in a fresh process and says why."""
    from seedlock.repeat.store import Store

    ok = True
    for name, helper in HELPERS.items():
        work = tmp / name.replace(" ", "_")
        work.mkdir()
        (work / "train.py").write_text(TRAIN)
        lib = tmp / f"{work.name}_lib"  # outside the script's directory: as an installed package, preimported
        lib.mkdir()
        (lib / "helper.py").write_text(helper)
        env = {**_env(), "PYTHONPATH": os.pathsep.join([str(lib), os.environ.get("PYTHONPATH", "")])}
        found = {}
        for exp, extra in (("forked", []), ("cold", ["--no-fork"])):
            cmd = [
                sys.executable,
                "-m",
                "seedlock",
                "repeat",
                "--seeds",
                "4",
                "-j",
                "2",
                "--name",
                exp,
                *extra,
                "train.py",
            ]
            proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
            notes = [x for x in proc.stderr.splitlines() if "fork" in x or "fresh" in x or "verified" in x]
            print(f"repeat ({name}, {exp}): exit {proc.returncode}; {proc.stdout.strip().splitlines()[-1:]}")
            for line in notes:
                print(f"    {line}")
            if proc.returncode != 0:
                print(proc.stderr[-1500:])
                ok = False
            with Store(work / ".seedlock" / "seedlock.db", create=False) as store:
                found[exp] = {t.seed: t.fingerprint for t in store.trials(exp)}
            if exp == "forked":
                forked = any("each trial is forked" in x for x in notes)
                verified = any("verified: seed 0 forked equals a cold run bitwise" in x for x in notes)
                fallback = any("fresh process instead of forking" in x and "CUDA" in x for x in notes)
                want = (forked and verified) if name == "plain" else fallback
                print(
                    f"  {name}: {'OK' if want else 'FAILED'}: "
                    + (
                        "forked and verified against a cold run"
                        if name == "plain"
                        else "fell back to fresh processes, naming CUDA"
                    )
                )
                ok = ok and want
        same = found["forked"] == found["cold"] and len(found["cold"]) == 4 and all(found["cold"].values())
        digests = sorted({str(v)[:12] for v in found["cold"].values()})
        print(
            f"  {name}: trials {'bitwise equal' if same else 'DIFFER'} seed by seed, forked vs fresh "
            f"({len(digests)} distinct fingerprints over 4 seeds: {digests})"
        )
        ok = ok and same and len(digests) == 4
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
        ok = check_forkserver(Path(tmp)) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

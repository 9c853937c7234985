"""Environment findings, computed from a :func:`seedlock.doctor.environment.collect` dict.

Working from the dict, not the live process, lets a manifest recorded elsewhere be
re-checked later. Each check is a small function; ``warn`` is kept for things that do
break reproducibility, ``info`` for things worth knowing when results differ between machines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from seedlock.doctor.findings import STATUSES, Finding

Info = dict[str, Any]
Check = Callable[[Info], Iterator[Finding]]
CHECKS: list[Check] = []
CUBLAS_OK = (":4096:8", ":16:8")
THREADS_COST = "on a 2-core box one thread cost +43-75 % on a conv net, while op determinism costs +4-12 %"


def check(fn: Check) -> Check:
    CHECKS.append(fn)
    return fn


def _value(info: Info, var: str) -> str | None:
    value: str | None = info.get("env", {}).get(var, {}).get("value")
    return value


def _has(info: Info, *packages: str) -> bool:
    return any(p in info.get("packages", {}) for p in packages)


def _gpus(info: Info) -> list[dict[str, Any]]:
    devices: list[dict[str, Any]] = info.get("gpu", {}).get("devices", [])
    return devices


@check
def python(info: Info) -> Iterator[Finding]:
    py, osi = info.get("python", {}), info.get("os", {})
    yield Finding(
        "env.python",
        "info",
        f"Python {py.get('version')} ({py.get('implementation')}) on {osi.get('system')} {osi.get('machine')}",
        why="float formatting, hashing and some library wheels differ between Python versions",
        fix="compare runs on the same Python minor version; the manifest records it",
    )


@check
def hashseed(info: Info) -> Iterator[Finding]:
    h = info.get("hash", {})
    start, now = h.get("PYTHONHASHSEED_at_start"), h.get("PYTHONHASHSEED_now")
    why = "str and bytes hashes, and so set order and the order of sets of strings, change from process to process"
    fix = "start the script with `seedlock run`, or export PYTHONHASHSEED=0 before Python starts"
    if h.get("fixed"):
        shown = start if start is not None else "0 (hash randomization off)"
        yield Finding(
            "env.hashseed", "ok", f"PYTHONHASHSEED={shown} took effect at interpreter start", why=why, fix=fix
        )
    else:
        late = f"; PYTHONHASHSEED={now} was set after start, too late for this process" if now else ""
        yield Finding(
            "env.hashseed",
            "warn",
            f"hash randomization is on (PYTHONHASHSEED not set at start){late}",
            why=why,
            fix=fix,
        )


@check
def cpu(info: Info) -> Iterator[Finding]:
    c = info.get("cpu", {})
    flags = [f for f in c.get("isa_flags", []) if f.startswith(("avx", "amx", "sve"))]
    yield Finding(
        "env.cpu",
        "info",
        f"CPU {c.get('model') or 'unknown'}, {c.get('count')} cores; {' '.join(flags) or 'no AVX/AMX flags'}",
        why="oneDNN, MKL, OpenBLAS and XLA pick kernels by instruction set: a machine with other flags "
        "(avx512/amx vs avx2) can give float results that differ in the last bits",
        fix="compare bit for bit only between machines with the same flags (a run manifest records them), "
        "or turn oneDNN off with TF_ENABLE_ONEDNN_OPTS=0",
    )


@check
def gpu(info: Info) -> Iterator[Finding]:
    g, devices = info.get("gpu", {}), _gpus(info)
    if not devices:
        yield Finding(
            "env.gpu",
            "info",
            "no NVIDIA GPU found" + ("" if g.get("nvidia_smi") else " (nvidia-smi not on PATH)"),
        )
        return
    names = sorted({d.get("name", "?") for d in devices})
    yield Finding(
        "env.gpu",
        "info",
        f"{len(devices)} GPU(s): {', '.join(names)}; driver {g.get('driver')}, CUDA {g.get('cuda_driver')}",
        why="GPU model, driver, CUDA and cuDNN versions select different kernels: results differ across them",
        fix="compare bit for bit only on the same GPU model and driver; the manifest records them",
    )


@check
def cublas(info: Info) -> Iterator[Finding]:
    value = _value(info, "CUBLAS_WORKSPACE_CONFIG")
    why = "torch.use_deterministic_algorithms raises on CUDA matmuls unless cuBLAS has a fixed workspace"
    fix = "export CUBLAS_WORKSPACE_CONFIG=:4096:8 before CUDA starts (`seedlock run` does)"
    if value is not None and value not in CUBLAS_OK:
        yield Finding(
            "env.cublas",
            "warn",
            f"CUBLAS_WORKSPACE_CONFIG={value!r} is not :4096:8 or :16:8",
            why=why,
            fix=fix,
        )
    elif value is None and _gpus(info) and _has(info, "torch"):
        yield Finding(
            "env.cublas", "warn", "CUBLAS_WORKSPACE_CONFIG is unset on a CUDA machine", why=why, fix=fix
        )


@check
def xla(info: Info) -> Iterator[Finding]:
    flags = _value(info, "XLA_FLAGS") or ""
    if _gpus(info) and _has(info, "jax", "jaxlib") and "xla_gpu_deterministic_ops=true" not in flags:
        yield Finding(
            "env.xla",
            "warn",
            "XLA_FLAGS lacks --xla_gpu_deterministic_ops=true on a GPU machine with JAX",
            why="XLA's GPU reductions and scatters are nondeterministic without it",
            fix="export XLA_FLAGS=--xla_gpu_deterministic_ops=true before JAX starts (`seedlock run` does)",
        )


@check
def onednn(info: Info) -> Iterator[Finding]:
    o = info.get("onednn", {})
    if o.get("enabled") is True:
        yield Finding(
            "env.onednn",
            "info",
            f"TensorFlow oneDNN kernels are on ({o.get('reason')})",
            why="oneDNN's float results depend on the CPU's instruction sets and thread count: the same "
            "seed gives slightly different numbers on another machine",
            fix="export TF_ENABLE_ONEDNN_OPTS=0 before TensorFlow starts to compare across machines (slower)",
        )


@check
def threads(info: Info) -> Iterator[Finding]:
    t = info.get("threads", {})
    pinned = {k: v for k, v in t.items() if k.isupper() and v is not None}
    desc = ", ".join(f"{k}={v}" for k, v in pinned.items()) or "thread counts not pinned"
    yield Finding(
        "env.threads",
        "info",
        f"{t.get('cpu_count')} CPUs; {desc}",
        why="parallel float reductions add in an order that depends on the thread count: results can "
        "differ between machines with different core counts",
        fix=f"pin threads only when comparing across machines: `seedlock run --threads N` ({THREADS_COST})",
    )


@check
def late_vars(info: Info) -> Iterator[Finding]:
    for name, var in info.get("env", {}).items():
        changed = var.get("start_known") and var.get("value") != var.get("at_start")
        if changed and not var.get("can_take_effect") and name != "PYTHONHASHSEED":
            # Only a hint: os.environ may have changed before the framework read it.
            yield Finding(
                f"env.late.{name}",
                "info",
                f"{name} changed after start, and is read {var.get('read')}: that has happened already",
                why="a setting changed after the framework read it does not apply to this process",
                fix=f"set {name} before the process starts: `seedlock run`, or export it in the shell",
            )


@check
def keras(info: Info) -> Iterator[Finding]:
    backend, legacy = _value(info, "KERAS_BACKEND"), _value(info, "TF_USE_LEGACY_KERAS")
    needs = {"tensorflow": ("tensorflow", "tensorflow-cpu"), "jax": ("jax",), "torch": ("torch",)}
    if backend is not None and backend in needs and not _has(info, *needs[backend]):
        yield Finding(
            "env.keras",
            "warn",
            f"KERAS_BACKEND={backend} but {backend} is not installed",
            fix=f"install {backend}, or set KERAS_BACKEND to an installed backend",
        )
    if legacy not in (None, "", "0") and not _has(info, "tf-keras"):
        yield Finding(
            "env.keras",
            "warn",
            "TF_USE_LEGACY_KERAS is set but tf-keras is not installed",
            why="tf.keras then fails to import",
            fix="pip install tf-keras, or unset TF_USE_LEGACY_KERAS",
        )


@check
def packages(info: Info) -> Iterator[Finding]:
    if _has(info, "tensorflow") and _has(info, "tensorflow-cpu"):
        yield Finding(
            "env.packages",
            "warn",
            "both tensorflow and tensorflow-cpu are installed",
            why="they write the same files: which one you get depends on install order",
            fix="pip uninstall one of them, then reinstall the other",
        )


@check
def seeds(info: Info) -> Iterator[Finding]:
    seed, pl = _value(info, "SEEDLOCK_SEED"), _value(info, "PL_GLOBAL_SEED")
    if seed is not None and not (seed.strip().isdigit() and int(seed) < 2**32):
        yield Finding(
            "env.seed",
            "error",
            f"SEEDLOCK_SEED={seed!r} is not an integer in [0, 2**32)",
            fix="export SEEDLOCK_SEED=42, or pass --seed to `seedlock run`",
        )
    elif seed is not None and pl is not None and seed != pl:
        yield Finding(
            "env.seed",
            "info",
            f"SEEDLOCK_SEED={seed} and PL_GLOBAL_SEED={pl} differ",
            why="Lightning's workers reseed from PL_GLOBAL_SEED",
            fix="pass the same seed to seedlock and Lightning's seed_everything()",
        )


def check_environment(info: Info) -> list[Finding]:
    """Every check on ``info``, the most serious first (stable within a level)."""
    out = [f for fn in CHECKS for f in fn(info)]
    return sorted(out, key=lambda f: -STATUSES.index(f.status))

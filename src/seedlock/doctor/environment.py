"""What this machine and process look like, as far as reproducibility goes.

:func:`collect` returns a JSON-serialisable dict (it goes into run manifests as is);
:func:`findings` turns such a dict into :class:`~seedlock.doctor.findings.Finding` objects.
Nothing here imports a framework: versions come from package metadata, and a framework's
runtime is only asked when the process has already imported it.

>>> info = collect()
>>> sorted(info)[:4]
['cpu', 'env', 'gpu', 'hash']
>>> info["env"]["PYTHONHASHSEED"]["read"]
'at interpreter start'
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from seedlock.config import ENV_ACTIVE, ENV_THREADS
from seedlock.doctor.findings import Finding
from seedlock.seeds import ENV_SEED

# Distributions whose versions change numerics or seeding behaviour.
PACKAGES: tuple[str, ...] = (
    "numpy",
    "scipy",
    "tensorflow",
    "tensorflow-cpu",
    "keras",
    "tf-keras",
    "torch",
    "torchvision",
    "jax",
    "jaxlib",
    "jax-cuda12-plugin",
    "pytensor",
    "scikit-learn",
    "ray",
    "lightning",
    "pytorch-lightning",
    "nvidia-cudnn-cu11",
    "nvidia-cudnn-cu12",
    "nvidia-cublas-cu12",
    "xxhash",
    "seedlock",
)
# Instruction sets that decide which float kernels oneDNN/MKL/OpenBLAS/XLA pick.
ISA_PREFIXES: tuple[str, ...] = ("avx", "amx", "fma", "f16c", "sse4", "sve", "asimd", "bf16", "i8mm")
FRAMEWORKS: tuple[str, ...] = ("numpy", "tensorflow", "keras", "tf_keras", "torch", "jax", "pytensor")
THREAD_VARS: tuple[str, ...] = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
    ENV_THREADS,
)


def _imported(*modules: str) -> Callable[[], bool]:
    return lambda: any(m in sys.modules for m in modules)


def _cuda_up() -> bool:
    torch = sys.modules.get("torch")
    try:
        return bool(torch is not None and torch.cuda.is_initialized())
    except Exception:  # an unknown torch: assume the worst
        return True


def _xla_up() -> bool:
    if "jax" not in sys.modules:  # never import jax just to ask
        return False
    from seedlock.frameworks.jax import _backend_started

    return _backend_started()


@dataclass(frozen=True)
class EnvVar:
    """A variable that affects determinism, and the moment after which setting it is too late."""

    name: str
    read: str
    too_late: Callable[[], bool]
    purpose: str


ENV_VARS: tuple[EnvVar, ...] = (
    EnvVar(
        "PYTHONHASHSEED",
        "at interpreter start",
        lambda: True,
        "str/bytes hash seed: set and dict-of-str order",
    ),
    EnvVar(
        "TF_DETERMINISTIC_OPS",
        "when TensorFlow is imported",
        _imported("tensorflow"),
        "deterministic TF kernels (older TF; enable_op_determinism() is the current switch)",
    ),
    EnvVar(
        "TF_CUDNN_DETERMINISTIC",
        "when TensorFlow is imported",
        _imported("tensorflow"),
        "deterministic cuDNN algorithms (older TF; superseded by TF_DETERMINISTIC_OPS)",
    ),
    EnvVar(
        "TF_ENABLE_ONEDNN_OPTS",
        "when TensorFlow is imported",
        _imported("tensorflow"),
        "oneDNN CPU kernels (on by default on x86 Linux): results depend on the CPU's instruction sets",
    ),
    EnvVar(
        "CUBLAS_WORKSPACE_CONFIG",
        "when CUDA initialises",
        _cuda_up,
        "deterministic cuBLAS workspaces (:4096:8 or :16:8) for torch.use_deterministic_algorithms",
    ),
    EnvVar(
        "XLA_FLAGS",
        "when the XLA backend starts",
        _xla_up,
        "--xla_gpu_deterministic_ops=true for JAX/XLA on GPU",
    ),
    EnvVar(
        "OMP_NUM_THREADS",
        "when the OpenMP runtime loads",
        _imported("numpy", "torch", "tensorflow"),
        "OpenMP thread count: reduction order in torch and oneDNN",
    ),
    EnvVar(
        "MKL_NUM_THREADS", "when MKL loads", _imported("numpy", "torch", "tensorflow"), "MKL thread count"
    ),
    EnvVar(
        "TF_NUM_INTRAOP_THREADS",
        "when TensorFlow is imported",
        _imported("tensorflow"),
        "TF intra-op thread pool",
    ),
    EnvVar(
        "TF_NUM_INTEROP_THREADS",
        "when TensorFlow is imported",
        _imported("tensorflow"),
        "TF inter-op thread pool",
    ),
    EnvVar(
        "CUDA_VISIBLE_DEVICES",
        "when CUDA initialises",
        _cuda_up,
        "which GPUs (and so which GPU model) a run uses",
    ),
    EnvVar(
        "KERAS_BACKEND",
        "when Keras is imported",
        _imported("keras"),
        "Keras 3 backend: tensorflow, jax or torch",
    ),
    EnvVar(
        "TF_USE_LEGACY_KERAS",
        "when TensorFlow is imported",
        _imported("tensorflow"),
        "tf.keras is tf-keras (Keras 2)",
    ),
    EnvVar(ENV_SEED, "by seedlock.seed_everything() and derive()", lambda: False, "seedlock's master seed"),
    EnvVar(
        "PL_GLOBAL_SEED",
        "by Lightning's seed_everything() and its workers",
        lambda: False,
        "Lightning's seed",
    ),
)


def _run(argv: list[str]) -> str | None:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def parse_cpuinfo(text: str) -> tuple[str | None, list[str]]:
    """The CPU model and its determinism-relevant instruction-set flags, from /proc/cpuinfo text.

    >>> parse_cpuinfo("model name\\t: AMD EPYC\\nflags\\t\\t: fpu sse4_2 avx2 avx512f amx_tile\\n")
    ('AMD EPYC', ['amx_tile', 'avx2', 'avx512f', 'sse4_2'])
    """
    model: str | None = None
    flags: list[str] = []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware") and model is None:
            model = value.strip() or None
        elif key in ("flags", "features") and not flags:  # x86 / aarch64; every core repeats them
            flags = sorted({f for f in value.split() if f.startswith(ISA_PREFIXES)})
    return model, flags


def parse_nvidia_smi(query: str, header: str | None) -> dict[str, Any]:
    """GPUs from ``nvidia-smi --query-gpu=name,driver_version,memory.total[,compute_cap]
    --format=csv,noheader`` and the CUDA version from plain ``nvidia-smi``'s header.

    >>> parse_nvidia_smi("NVIDIA H100 80GB HBM3, 550.54.15, 81559 MiB, 9.0\\n", "| CUDA Version: 12.4 |")
    {'devices': [{'name': 'NVIDIA H100 80GB HBM3', 'driver': '550.54.15', 'memory': '81559 MiB', 'compute_cap': '9.0'}], 'driver': '550.54.15', 'cuda_driver': '12.4'}
    """
    keys = ("name", "driver", "memory", "compute_cap")
    devices = [
        dict(zip(keys, (p.strip() for p in row.split(",")), strict=False))
        for row in query.splitlines()
        if row.strip()
    ]
    match = re.search(r"CUDA Version:\s*([\d.]+)", header or "")
    return {
        "devices": devices,
        "driver": devices[0].get("driver") if devices else None,
        "cuda_driver": match.group(1) if match else None,
    }


def _cpu() -> dict[str, Any]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            model, flags = parse_cpuinfo(f.read())
    except OSError:
        model, flags = None, []
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "model": model or platform.processor() or None,
        "count": os.cpu_count(),
        "affinity": affinity,
        "isa_flags": flags,
    }


def _gpu() -> dict[str, Any]:
    out: dict[str, Any] = {"devices": [], "driver": None, "cuda_driver": None, "nvidia_smi": False}
    smi = shutil.which("nvidia-smi")
    if smi is not None:
        fields = "name,driver_version,memory.total"
        query = _run([smi, f"--query-gpu={fields},compute_cap", "--format=csv,noheader"])
        if query is None:  # drivers older than 510 lack compute_cap
            query = _run([smi, f"--query-gpu={fields}", "--format=csv,noheader"])
        out.update(parse_nvidia_smi(query or "", _run([smi])), nvidia_smi=True)
    torch = sys.modules.get("torch")  # only when the process already imported it
    if torch is not None:
        try:
            out["torch_cuda"] = torch.version.cuda
            if torch.cuda.is_available():
                out["cudnn"] = torch.backends.cudnn.version()
        except Exception:  # a broken CUDA install must not break the audit
            pass
    return out


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed versions of ``names`` (missing ones left out), from metadata: nothing is imported."""
    out: dict[str, str] = {}
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


def _threads() -> dict[str, Any]:
    out: dict[str, Any] = {"cpu_count": os.cpu_count()}
    out.update({var: os.environ.get(var) for var in THREAD_VARS})
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch"] = torch.get_num_threads()
    tf = sys.modules.get("tensorflow")
    if tf is not None and hasattr(tf, "config"):
        out["tensorflow_intra_op"] = tf.config.threading.get_intra_op_parallelism_threads()
        out["tensorflow_inter_op"] = tf.config.threading.get_inter_op_parallelism_threads()
    return out


def onednn_state(value: str | None, tf_installed: bool, system: str, machine: str) -> dict[str, Any]:
    """Whether TensorFlow's oneDNN kernels are on, and why.

    >>> onednn_state(None, True, "Linux", "x86_64")["enabled"]
    True
    >>> onednn_state("0", True, "Linux", "x86_64")["enabled"]
    False
    """
    if not tf_installed:
        return {"TF_ENABLE_ONEDNN_OPTS": value, "enabled": None, "reason": "TensorFlow not installed"}
    if value is not None:
        on = value.strip().lower() in ("1", "true", "yes", "on")
        return {"TF_ENABLE_ONEDNN_OPTS": value, "enabled": on, "reason": f"TF_ENABLE_ONEDNN_OPTS={value}"}
    if system == "Linux" and machine.lower() in ("x86_64", "amd64"):
        return {"TF_ENABLE_ONEDNN_OPTS": None, "enabled": True, "reason": "TensorFlow's default on x86 Linux"}
    return {
        "TF_ENABLE_ONEDNN_OPTS": None,
        "enabled": None,
        "reason": f"depends on the TensorFlow build for {system} {machine}",
    }


def _hash() -> dict[str, Any]:
    from seedlock.frameworks.python import startup_hashseed

    known = os.path.exists("/proc/self/environ")
    at_start = startup_hashseed() if known else os.environ.get("PYTHONHASHSEED")
    return _hash_info(bool(sys.flags.hash_randomization), at_start, os.environ.get("PYTHONHASHSEED"), known)


def _hash_info(randomized: bool, at_start: str | None, now: str | None, known: bool) -> dict[str, Any]:
    return {
        "randomization": randomized,
        "PYTHONHASHSEED_at_start": at_start,
        "start_known": known,  # False: no /proc, so at_start is a guess from os.environ
        "PYTHONHASHSEED_now": now,
        "fixed": not randomized or (at_start is not None and at_start.strip().isdigit()),
    }


def _var_info(
    var: EnvVar, value: str | None, at_start: str | None, known: bool, late: bool
) -> dict[str, Any]:
    return {
        "value": value,
        "at_start": at_start,
        "start_known": known,
        "read": var.read,
        "can_take_effect": not late,  # would setting it now still work in this process?
    }


def startup_environ() -> dict[str, str] | None:
    """The environment this interpreter started with (None where /proc is missing).

    ``os.environ`` may have changed since; Linux keeps the original in /proc/self/environ.
    """
    try:
        with open("/proc/self/environ", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}


def _env_vars() -> dict[str, dict[str, Any]]:
    start = startup_environ()
    out: dict[str, dict[str, Any]] = {}
    for var in ENV_VARS:
        try:
            late = var.too_late()
        except Exception:
            late = True
        at_start = None if start is None else start.get(var.name)
        out[var.name] = _var_info(var, os.environ.get(var.name), at_start, start is not None, late)
    return out


def collect() -> dict[str, Any]:
    """Audit this process and machine: a JSON-serialisable dict (see the module docstring)."""
    packages = package_versions()
    system, machine = platform.system(), platform.machine()
    tf_installed = any(name in packages for name in ("tensorflow", "tensorflow-cpu"))
    return {
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "os": {
            "system": system,
            "release": platform.release(),
            "machine": machine,
            "platform": platform.platform(),
        },
        "cpu": _cpu(),
        "gpu": _gpu(),
        "packages": packages,
        "threads": _threads(),
        "onednn": onednn_state(os.environ.get("TF_ENABLE_ONEDNN_OPTS"), tf_installed, system, machine),
        "hash": _hash(),
        "env": _env_vars(),
        "imported": [m for m in FRAMEWORKS if m in sys.modules],
        "seedlock_active": os.environ.get(ENV_ACTIVE) == "1",
    }


def as_started_with(info: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """``info`` (a :func:`collect` of this process) for a child started with ``environ``: the hash
    seed, the variables and ``seedlock_active`` as that child has them, the rest (machine,
    packages) as measured here. How ``seedlock repeat``, which audits once, describes each trial.

    >>> child = as_started_with(collect(), {"PYTHONHASHSEED": "0", "SEEDLOCK_SEED": "3", "SEEDLOCK_ACTIVE": "1"})
    >>> child["hash"]["randomization"], child["hash"]["fixed"], child["env"]["SEEDLOCK_SEED"]["value"]
    (False, True, '3')
    """
    seed = environ.get("PYTHONHASHSEED")
    off = seed is not None and seed.strip().isdigit() and int(seed) == 0  # PYTHONHASHSEED=0 turns it off
    out = dict(info)
    out["hash"] = _hash_info(not off, seed, seed, True)  # known: the environment it is started with
    # Every variable is set before the child's interpreter starts: none is too late.
    out["env"] = {
        var.name: _var_info(var, environ.get(var.name), environ.get(var.name), True, False)
        for var in ENV_VARS
    }
    out["seedlock_active"] = environ.get(ENV_ACTIVE) == "1"
    out["imported"] = []
    return out


def findings(info: dict[str, Any] | None = None) -> list[Finding]:
    """Findings for an audit dict (by default a fresh :func:`collect`), most serious first.

    >>> ids = {f.id for f in findings()}
    >>> {"env.python", "env.hashseed", "env.cpu"} <= ids
    True
    """
    from seedlock.doctor.checks import check_environment

    return check_environment(collect() if info is None else info)

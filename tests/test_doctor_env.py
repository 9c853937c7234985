"""The environment audit: real subprocesses for what depends on process start, data for the rest."""

from __future__ import annotations

import json
import sys
from typing import Any

from conftest import clean_env, run_py, run_seedlock
from seedlock.doctor.checks import check_environment
from seedlock.doctor.environment import ENV_VARS, collect, onednn_state, parse_cpuinfo, parse_nvidia_smi

# Real /proc/cpuinfo and nvidia-smi output, trimmed.
CPUINFO_X86 = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu vme sse4_1 sse4_2 avx f16c avx2 fma avx512f avx512_bf16 amx_bf16 amx_tile amx_int8

processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu vme sse4_1 sse4_2 avx f16c avx2 fma avx512f avx512_bf16 amx_bf16 amx_tile amx_int8
"""
CPUINFO_ARM = (
    "processor\t: 0\nBogoMIPS\t: 243.75\nFeatures\t: fp asimd evtstrm aes sve bf16 i8mm\nCPU part\t: 0xd4f\n"
)
SMI_QUERY = (
    "NVIDIA H100 80GB HBM3, 550.54.15, 81559 MiB, 9.0\nNVIDIA H100 80GB HBM3, 550.54.15, 81559 MiB, 9.0\n"
)
SMI_HEADER = "| NVIDIA-SMI 550.54.15    Driver Version: 550.54.15    CUDA Version: 12.4     |\n"


def doctor_json(*args: str, **env: str) -> tuple[int, dict[str, Any]]:
    r = run_seedlock(["doctor", "--json", *args], env=clean_env(**env))
    assert r.returncode in (0, 1), r.stderr
    return r.returncode, json.loads(r.stdout)


def by_id(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["id"]: f for f in data["findings"]}


def test_hash_randomization_of_doctors_own_shell_is_information() -> None:
    """Every normal shell has hash randomization on: that is doctor's own process, not a run that
    `seedlock run` starts, so it is said but does not fail doctor (it did: exit 1 everywhere)."""
    rc, data = doctor_json()
    finding = by_id(data)["env.hashseed"]
    assert (
        finding["status"] == "info"
        and "seedlock run" in finding["fix"]
        and "in this shell" in finding["title"]
    )
    assert data["environment"]["hash"]["fixed"] is False
    assert rc == (1 if any(f["status"] in ("warn", "error") for f in data["findings"]) else 0)
    assert not any(f["status"] in ("warn", "error") for f in data["findings"] if f["id"] == "env.hashseed")


def test_hash_randomization_warns_when_the_audit_is_asked_for() -> None:
    rc, data = doctor_json("--env")
    assert by_id(data)["env.hashseed"]["status"] == "warn" and rc == 1


def test_hash_seed_set_at_start_is_ok() -> None:
    rc, data = doctor_json(PYTHONHASHSEED="1")
    assert by_id(data)["env.hashseed"]["status"] == "ok"
    env = data["environment"]["env"]
    assert env["PYTHONHASHSEED"]["value"] == "1" and env["PYTHONHASHSEED"]["can_take_effect"] is False
    assert rc == (1 if any(f["status"] in ("warn", "error") for f in data["findings"]) else 0)


def test_collect_is_json_and_imports_no_framework() -> None:
    code = (
        "import json, sys\nfrom seedlock.doctor import collect, findings\ninfo = collect()\njson.dumps(info)\n"
        "findings(info)\nprint([m for m in ('numpy', 'torch', 'tensorflow', 'jax', 'keras') if m in sys.modules])\n"
    )
    r = run_py(["-c", code])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_variable_set_after_its_reader_started_is_flagged() -> None:
    code = (
        "import os, numpy\nos.environ['OMP_NUM_THREADS'] = '1'\nfrom seedlock.doctor import collect, findings\n"
        "info = collect()\nprint(info['env']['OMP_NUM_THREADS']['can_take_effect'], [f.id for f in findings(info)])\n"
    )
    r = run_py(["-c", code])
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("False") and "env.late.OMP_NUM_THREADS" in r.stdout


def test_collect_sections() -> None:
    info = collect()
    assert info["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert info["packages"]["seedlock"]
    assert set(info["env"]) == {v.name for v in ENV_VARS}
    assert {"PYTHONHASHSEED", "CUBLAS_WORKSPACE_CONFIG", "XLA_FLAGS", "PL_GLOBAL_SEED"} <= set(info["env"])
    assert info["threads"]["cpu_count"] and "OMP_NUM_THREADS" in info["threads"]


def test_parse_cpuinfo() -> None:
    model, flags = parse_cpuinfo(CPUINFO_X86)
    assert model == "Intel(R) Xeon(R) Platinum 8480+"
    assert flags == [
        "amx_bf16",
        "amx_int8",
        "amx_tile",
        "avx",
        "avx2",
        "avx512_bf16",
        "avx512f",
        "f16c",
        "fma",
        "sse4_1",
        "sse4_2",
    ]
    assert parse_cpuinfo(CPUINFO_ARM) == (None, ["asimd", "bf16", "i8mm", "sve"])


def test_parse_nvidia_smi() -> None:
    gpu = parse_nvidia_smi(SMI_QUERY, SMI_HEADER)
    assert [d["name"] for d in gpu["devices"]] == ["NVIDIA H100 80GB HBM3"] * 2
    assert (gpu["driver"], gpu["cuda_driver"], gpu["devices"][0]["compute_cap"]) == (
        "550.54.15",
        "12.4",
        "9.0",
    )
    assert parse_nvidia_smi("", None) == {"devices": [], "driver": None, "cuda_driver": None}


def test_onednn_defaults() -> None:
    assert onednn_state(None, True, "Linux", "x86_64")["enabled"] is True
    assert onednn_state("0", True, "Linux", "x86_64")["enabled"] is False
    assert onednn_state("1", True, "Darwin", "arm64")["enabled"] is True
    assert onednn_state(None, True, "Linux", "aarch64")["enabled"] is None
    assert onednn_state(None, False, "Linux", "x86_64")["enabled"] is None


def test_gpu_machine_checks() -> None:
    info = collect()
    info["gpu"] = {**parse_nvidia_smi(SMI_QUERY, SMI_HEADER), "nvidia_smi": True}
    info["packages"].update(torch="2.13.0", jax="0.10.2")
    for var in ("CUBLAS_WORKSPACE_CONFIG", "XLA_FLAGS"):
        info["env"][var]["value"] = None
    status = {f.id: f.status for f in check_environment(info)}
    assert status["env.cublas"] == status["env.xla"] == "warn"
    assert status["env.gpu"] == "info"
    info["env"]["CUBLAS_WORKSPACE_CONFIG"]["value"] = ":4096:8"
    info["env"]["XLA_FLAGS"]["value"] = "--xla_gpu_deterministic_ops=true"
    ids = {f.id for f in check_environment(info)}
    assert "env.cublas" not in ids and "env.xla" not in ids


def test_bad_settings_are_flagged() -> None:
    info = collect()
    info["env"]["SEEDLOCK_SEED"]["value"] = "-3"
    info["env"]["CUBLAS_WORKSPACE_CONFIG"]["value"] = ":8:4096"
    info["packages"].update({"tensorflow": "2.21.0", "tensorflow-cpu": "2.21.0"})
    found = check_environment(info)
    status = {f.id: f.status for f in found}
    assert (
        status["env.seed"] == "error" and status["env.cublas"] == "warn" and status["env.packages"] == "warn"
    )
    assert found[0].id == "env.seed"  # most serious first

"""Renderings of findings: text lines, JSON objects, SARIF 2.1.0 (for code-scanning UIs)."""

from __future__ import annotations

import os
from pathlib import Path, PurePath
from typing import Any

from seedlock.doctor.findings import STATUSES, Finding
from seedlock.doctor.static.registry import RULES

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_LEVELS = {"error": "error", "warn": "warning", "info": "note", "ok": "none"}
HEADLINE_PACKAGES = ("numpy", "tensorflow", "tensorflow-cpu", "keras", "torch", "jax")


def text_lines(findings: list[Finding]) -> list[str]:
    """``file:line:col: RULE message — fix`` for located findings, an indented block for the others.

    >>> text_lines([Finding("SL101", "warn", "random.Random() without a seed", fix="pass a seed",
    ...                     file="t.py", line=2, col=5)])
    ['t.py:2:5: SL101 random.Random() without a seed — pass a seed']
    """
    out: list[str] = []
    for f in findings:
        if f.file is not None:
            out.append(f"{f.location()}: {f.id} {f.title} — {f.fix}")
            continue
        out.append(f"  {f.status:<5} {f.id:<14} {f.title}")
        if f.status != "ok":
            out.extend(
                f"  {'':<5} {'':<14} {label}: {text}"
                for label, text in (("why", f.why), ("fix", f.fix))
                if text
            )
    return out


def counts(findings: list[Finding]) -> str:
    """``2 warnings, 1 note``, or ``no problems found``.

    >>> counts([Finding("a", "warn", "x"), Finding("b", "info", "y"), Finding("c", "ok", "z")])
    '1 warning, 1 note'
    """
    names = {"error": "error", "warn": "warning", "info": "note"}
    parts = []
    for status in reversed(STATUSES[1:]):
        n = sum(f.status == status for f in findings)
        if n:
            parts.append(f"{n} {names[status]}{'s' if n > 1 else ''}")
    return ", ".join(parts) or "no problems found"


def _packages(info: dict[str, Any], names: tuple[str, ...] | None = None) -> str:
    pkgs: dict[str, str] = info.get("packages", {})
    return ", ".join(f"{k} {v}" for k, v in pkgs.items() if names is None or k in names) or "none of note"


def env_lines(info: dict[str, Any], findings: list[Finding]) -> list[str]:
    """The full environment audit, for ``seedlock doctor`` with no paths."""
    py, osi, cpu, gpu = info["python"], info["os"], info["cpu"], info["gpu"]
    threads, onednn = info["threads"], info["onednn"]
    devices = ", ".join(d.get("name", "?") for d in gpu.get("devices", [])) or "none found"
    pinned = (
        ", ".join(f"{k}={v}" for k, v in threads.items() if k.isupper() and v is not None) or "not pinned"
    )
    dnn = {True: "on", False: "off", None: "unknown"}[onednn.get("enabled")]
    lines = [
        "seedlock doctor: environment",
        f"  python    {py['version']} {py['implementation']} ({py['executable']})",
        f"  os        {osi['platform']}",
        f"  cpu       {cpu.get('model') or 'unknown'}, {cpu.get('count')} cores; {' '.join(cpu.get('isa_flags', []))}",
        f"  gpu       {devices}"
        + (f" (driver {gpu['driver']}, CUDA {gpu['cuda_driver']})" if gpu.get("driver") else ""),
        f"  packages  {_packages(info)}",
        f"  threads   {threads.get('cpu_count')} CPUs, {pinned}",
        f"  oneDNN    {dnn} ({onednn.get('reason')})",
        "",
        "variables (value, when it is read, whether setting it now still takes effect in this process)",
    ]
    for name, var in info["env"].items():
        value = "unset" if var["value"] is None else repr(var["value"])
        late = "" if var["can_take_effect"] else " (too late now)"
        lines.append(f"  {name:<24} {value:<14} read {var['read']}{late}")
    lines += ["", "findings", *text_lines(findings), "", f"seedlock doctor: {counts(findings)}"]
    return lines


def env_summary(info: dict[str, Any], findings: list[Finding]) -> str:
    """One line about the environment, under a scan's findings."""
    py, osi = info["python"], info["os"]
    bad = [f.id for f in findings if f.failing]
    tail = (
        f"; {counts([f for f in findings if f.failing])} ({', '.join(bad)}): run `seedlock doctor`"
        if bad
        else ""
    )
    return f"environment: Python {py['version']}, {osi['system']} {osi['machine']}, {_packages(info, HEADLINE_PACKAGES)}{tail}"


def _uri(file: str) -> tuple[str, bool]:
    """A SARIF artifact URI, and whether it is relative to the working directory."""
    path = PurePath(os.path.normpath(file))
    if path.is_absolute():
        return Path(path).as_uri(), False
    return path.as_posix(), True


def _rule_entry(rule_id: str, title: str, why: str, fix: str, level: str) -> dict[str, Any]:
    return {
        "id": rule_id,
        "name": rule_id.replace(".", "_"),
        "shortDescription": {"text": title},
        "fullDescription": {"text": why or title},
        "help": {"text": fix or title},
        "defaultConfiguration": {"level": SARIF_LEVELS[level]},
    }


def to_sarif(findings: list[Finding], *, version: str = "0") -> dict[str, Any]:
    """A SARIF 2.1.0 log: one run, every registered rule, one result per finding."""
    rules = [_rule_entry(r.id, r.title, r.why, r.fix, r.level) for r in RULES.values()]
    index = {r["id"]: i for i, r in enumerate(rules)}
    for f in findings:
        if f.id not in index:  # environment findings have no registry entry
            index[f.id] = len(rules)
            rules.append(_rule_entry(f.id, f.title, f.why, f.fix, f.status))
    results = []
    for f in findings:
        result: dict[str, Any] = {
            "ruleId": f.id,
            "ruleIndex": index[f.id],
            "level": SARIF_LEVELS[f.status],
            "message": {"text": f"{f.title} — {f.fix}" if f.fix else f.title},
        }
        if f.file is not None:
            uri, relative = _uri(f.file)
            artifact: dict[str, Any] = {"uri": uri, **({"uriBaseId": "%SRCROOT%"} if relative else {})}
            region = {"startLine": f.line or 1, "startColumn": f.col or 1}
            result["locations"] = [{"physicalLocation": {"artifactLocation": artifact, "region": region}}]
        results.append(result)
    driver = {"name": "seedlock", "version": version, "rules": rules}
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": driver},
                "originalUriBaseIds": {"%SRCROOT%": {"uri": Path.cwd().as_uri() + "/"}},
                "results": results,
            }
        ],
    }

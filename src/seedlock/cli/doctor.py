"""``seedlock doctor``: audit the environment, or scan scripts for nondeterminism sources."""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any

import click

from seedlock.doctor.findings import Finding
from seedlock.errors import SeedlockError


def _about_this_shell(finding: Finding) -> Finding:
    """The hash seed doctor sees is its own process's: in a normal shell it is random, which says
    nothing about a run that `seedlock run` starts (it sets PYTHONHASHSEED). Information, then,
    not a failure, unless the audit was asked for with --env."""
    if finding.id != "env.hashseed" or not finding.failing:
        return finding
    return dataclasses.replace(
        finding,
        status="info",
        title=f"{finding.title}, in this shell: `python script.py` from here randomises set and "
        "dict-of-str order; `seedlock run` sets PYTHONHASHSEED for the run (--env: count it as a warning)",
    )


def _emit(data: Any) -> None:
    click.echo(json.dumps(data, indent=2))


@click.command(
    epilog="Examples:\n\n\b\n  seedlock doctor                    # audit this environment\n"
    "  seedlock doctor train.py src/      # scan files and directories\n"
    "  seedlock doctor --sarif src/ > seedlock.sarif"
)
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print JSON: the audit, or a list of findings.")
@click.option("--sarif", is_flag=True, help="Print SARIF 2.1.0, for code-scanning tools.")
@click.option(
    "--env/--no-env",
    "env",
    default=None,
    help="Include the environment audit (default: the full audit without PATHS, a one-line summary with them).",
)
def doctor(paths: tuple[str, ...], as_json: bool, sarif: bool, env: bool | None) -> None:
    """Audit the environment, or scan PATHS (files, directories) for sources of nondeterminism.

    Nothing is imported or run: scripts are read with Python's ast module. Each finding has a
    stable rule ID, file:line:col, and the fix; silence one with a trailing
    `# seedlock: ignore[SL101]`. Exit code 0 when nothing at warn or error level was
    found, 1 when something was, 2 on bad input.
    """
    from seedlock._version import __version__
    from seedlock.doctor import environment, output, static

    if as_json and sarif:
        raise SeedlockError("--json and --sarif are exclusive; pick one")
    if not paths and env is False:
        raise SeedlockError(
            "nothing to check with --no-env and no PATHS; pass files or directories to scan, or drop --no-env"
        )
    files = static.iter_files(paths)  # bad paths fail here, before the (slower) audit
    if paths and not files:  # "no problems found in 0 file(s)" read as a clean bill
        raise SeedlockError(
            f"no Python files in {', '.join(map(repr, paths))}; pass .py files, or directories that hold them"
        )
    findings = [f for file in files for f in static.scan_file(file)]
    # Default: audit without PATHS; with PATHS only in text mode (a summary line), JSON/SARIF stay pure.
    audit = env if env is not None else (not paths or not (as_json or sarif))
    info = environment.collect() if audit else None
    env_findings = environment.findings(info) if info is not None else []
    if env is not True:
        env_findings = [_about_this_shell(f) for f in env_findings]
    counted = findings + (env_findings if not paths or env else [])  # the summary line does not count
    if sarif:
        _emit(output.to_sarif(findings + env_findings, version=__version__))
    elif as_json and not paths:
        _emit({"environment": info, "findings": [f.to_dict() for f in env_findings]})
    elif as_json:
        _emit([f.to_dict() for f in findings + env_findings])
    elif not paths and info is not None:
        click.echo("\n".join(output.env_lines(info, env_findings)))
    else:
        for line in output.text_lines(findings):
            click.echo(line)
        click.echo(f"seedlock doctor: {output.counts(findings)} in {len(files)} file(s)")
        if info is not None:
            click.echo(output.env_summary(info, env_findings))
    if any(f.failing for f in counted):
        sys.exit(1)

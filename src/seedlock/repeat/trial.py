"""One trial of ``seedlock repeat``: what to run, how to run it in a fresh process, what it left.

A trial is ``seedlock run --seed S SCRIPT ARGS`` with a trace and a metrics file in its own
directory. The trace holds the exit fingerprint and stdout's digest (granularity ``"exit"``:
per-epoch weight digests cost time and nothing in ``repeat`` reads them), except for the pair
that verifies the fork-server, traced per epoch so that ``seedlock diff`` can say where they
part. Whatever runs it (a fork of the zygote, a fresh process, a Ray task), :func:`collect`
reads the directory the same way, so every executor reports alike.

>>> spec = TrialSpec(seed=3, script="train.py", args=["--lr", "0.1"], cwd="/work", rundir="/tmp/seed-3")
>>> env = trial_env(spec, {"PATH": "/usr/bin", "SEEDLOCK_SEED": "99"})
>>> env["SEEDLOCK_SEED"], env["PYTHONHASHSEED"], env["SEEDLOCK_METRICS"]
('3', '0', '/tmp/seed-3/metrics.jsonl')
>>> classify(-9, timed_out=False, interrupted=False, stderr="", timeout=None)
('killed', 'killed by SIGKILL')
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from seedlock.config import (
    ENV_GRANULARITY,
    ENV_HASHSEED,
    ENV_METRICS,
    ENV_METRICS_RANKS,
    ENV_TRACE,
    without_settings,
)
from seedlock.frameworks.base import Config
from seedlock.launch import workspace
from seedlock.launch.env import child_env
from seedlock.launch.process import FreshProcess, Waitable, boot_argv, own_rendezvous, wait_or_kill
from seedlock.repeat.metrics import Metric, parse_stdout, read_file
from seedlock.repeat.ray_cluster import SECRET_VARS  # never in a trial's environment
from seedlock.repeat.storefile import TrialStatus

STDERR_TAIL = 4000
STDOUT_TAIL = 2000


@dataclass(frozen=True)
class TrialSpec:
    """What to run for one seed. ``role`` is ``"trial"`` (stored) or ``"check"``: the cold run
    that verifies the fork-server, compared and then thrown away."""

    seed: int
    script: str  # as the user typed it: the script's sys.argv[0], relative to cwd
    args: list[str]
    cwd: str
    rundir: str
    timeout: float | None = None
    deterministic: bool = True
    threads: int | None = None
    hashseed: int = 0
    role: str = "trial"
    granularity: str = "exit"
    command: bool = False  # `repeat -- COMMAND`: ``script`` is a program (torchrun), run as it is
    all_ranks: bool = False  # every rank's metrics (NAME@rankR), not rank 0's alone
    devices: str | None = None  # CUDA_VISIBLE_DEVICES: the GPUs a Ray node gave this trial's slot

    def boot_argv(self) -> list[str]:
        return [self.script, *self.args] if self.command else boot_argv(self.script, self.args)

    def file(self, name: str) -> Path:
        return Path(self.rundir) / name


@dataclass
class TrialResult:
    """How a trial ended and what it reported; picklable, so a Ray task can return it."""

    seed: int
    role: str
    status: TrialStatus  # never running: a result is a trial that ended
    exit_code: int | None
    reason: str | None
    duration_s: float
    mode: str  # fork, fresh or ray: what ran it
    stdout_tail: str = ""
    stderr_tail: str = ""
    metrics: list[Metric] = field(default_factory=list)
    fingerprint: str | None = None
    node: dict[str, str] | None = None  # where a Ray trial ran: {"id", "host"}
    notes: list[str] = field(default_factory=list)  # what the node decided (fork-server, its check)


def trial_env(spec: TrialSpec, base: Mapping[str, str]) -> dict[str, str]:
    """``base`` without seedlock's variables (nor secrets), plus ``seedlock run --seed S``'s, the
    trace and metrics file, and the GPUs of a Ray slot.

    Every trial of an experiment gets the same PYTHONHASHSEED (``spec.hashseed``): forked trials
    cannot change it, so fresh-process ones do not either.
    """
    env = {k: v for k, v in without_settings(base).items() if k not in SECRET_VARS}
    env[ENV_HASHSEED] = str(spec.hashseed)
    if spec.devices is not None:
        env["CUDA_VISIBLE_DEVICES"] = spec.devices
    env = child_env(Config(spec.seed, spec.deterministic, spec.threads), env, root=not spec.command)
    if spec.command:  # its ranks trace themselves beside the trial's trace; trials run side by side
        own_rendezvous(env, base)
    env[ENV_TRACE] = str(spec.file("trace.jsonl"))
    env[ENV_GRANULARITY] = spec.granularity
    env[ENV_METRICS] = str(spec.file("metrics.jsonl"))
    if spec.all_ranks:
        env[ENV_METRICS_RANKS] = "all"
    return env


def zygote_env(spec: TrialSpec, base: Mapping[str, str]) -> dict[str, str]:
    """The trials' environment without what is per trial (trace, metrics file): the fork-server's
    zygote imports under it."""
    env = trial_env(spec, base)
    for var in (ENV_TRACE, ENV_METRICS, ENV_GRANULARITY):
        env.pop(var, None)
    return env


def fresh_rundir(spec: TrialSpec) -> None:
    """An empty directory for the trial: a rerun must not read what an earlier attempt left."""
    shutil.rmtree(spec.rundir, ignore_errors=True)
    os.makedirs(spec.rundir, exist_ok=True)


def enter_view(spec: TrialSpec, env: dict[str, str]) -> str:
    """Build the trial's private view of its working directory (:mod:`seedlock.launch.workspace`)
    in its run directory, add its variables to ``env``; the directory to start the trial in.
    Where ``spec.cwd`` is not here (a Ray worker on another node) the trial runs as it is."""
    if not os.path.isdir(spec.cwd):
        return spec.cwd
    snap = workspace.snapshot(spec.cwd, skip=[os.path.dirname(os.path.abspath(spec.rundir))])
    view = workspace.build(spec.file("view"), spec.cwd, snap)
    env.update(view.env())
    return view.cwd


def classify(
    rc: int | None, *, timed_out: bool, interrupted: bool, stderr: str, timeout: float | None
) -> tuple[TrialStatus, str | None]:
    """``(status, reason)`` from an exit code (negative: the signal that ended the process)."""
    if rc == 0:
        return "ok", None
    if interrupted:
        return "interrupted", "seedlock repeat was interrupted; run the same command again to finish it"
    if timed_out:
        return "timeout", f"still running after --timeout {timeout:g} s; killed"
    if rc is None:
        return "failed", "lost: the process that ran it went away"
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        return "killed", f"killed by {name}"
    last = next((line.strip() for line in reversed(stderr.splitlines()) if line.strip()), "")
    return "failed", f"exit code {rc}" + (f": {last[:300]}" if last else "")


def fingerprint(spec: TrialSpec, stdout: bytes, metrics: Sequence[Metric] = ()) -> str:
    """What a trial computed, as one digest: the trace's exit ``"final"`` record (every live model),
    else stdout as a terminal shows it (progress-bar timings masked, :mod:`seedlock.trace.stdout`);
    with every metric it reported (name, step, the value's exact bits) when there are any.

    >>> spec = TrialSpec(seed=0, script="s.py", args=[], cwd=".", rundir="/nonexistent")
    >>> a = fingerprint(spec, b"", [("acc", None, 0.8188)])
    >>> a.startswith("stdout+metrics:"), a == fingerprint(spec, b"", [("acc", None, 0.8258)])
    (True, False)
    >>> fingerprint(spec, b"loss 1\\n").startswith("stdout:")
    True
    """
    kind, base = "stdout", _stdout_digest(stdout)
    path = spec.file("trace.jsonl")
    model = _exit_digest(path)
    ranks = sorted(path.parent.glob("trace.rank*.jsonl")) if model is None and path.parent.is_dir() else []
    if ranks:  # a distributed trial: its ranks' models, rank by rank
        digests = [_exit_digest(p) for p in ranks]
        if all(digests):
            both = "\n".join(f"{p.name}:{d}" for p, d in zip(ranks, digests, strict=True))
            model = hashlib.blake2b(both.encode(), digest_size=16).hexdigest()
    if model is not None:
        kind, base = "model", model
    if not metrics:
        return base if kind == "model" else f"stdout:{base}"
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{kind}:{base}\n".encode())
    for name, step, value in metrics:  # in the order reported: the order is part of the result
        h.update(f"{name}\0{step}\0{float(value).hex()}\n".encode("utf-8", "surrogatepass"))
    return f"{kind}+metrics:{h.hexdigest()}"


def _exit_digest(path: Path) -> str | None:
    """The digest of every live model at exit, from a trace's exit record; None without one."""
    if not path.exists():
        return None
    from seedlock.trace import NotATrace, read_trace

    try:
        finals = [r for r in read_trace(path).records if r.kind == "final" and r.extra.get("at") == "exit"]
    except NotATrace:
        return None
    return str(finals[-1].extra["digest"]) if finals and finals[-1].extra.get("digest") else None


def _stdout_digest(stdout: bytes) -> str:
    from seedlock.trace.stdout import ViewHash

    digest = ViewHash()
    digest.update(stdout)
    return digest.hexdigest()


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def collect(
    spec: TrialSpec, rc: int | None, *, timed_out: bool, interrupted: bool, duration_s: float, mode: str
) -> TrialResult:
    """Everything a finished trial left in its directory, as a :class:`TrialResult`."""
    out = _read(spec.file("stdout.txt"))
    if spec.file("view").is_dir():  # the trial ran in a view: its stdout as if in spec.cwd
        view = workspace.layout(spec.file("view"), spec.cwd)
        out = view.unview_bytes(out)
        workspace.settle(view)
    err = _read(spec.file("stderr.txt")).decode("utf-8", "replace")
    status, reason = classify(
        rc, timed_out=timed_out, interrupted=interrupted and rc != 0, stderr=err, timeout=spec.timeout
    )
    text = out.decode("utf-8", "replace")
    metrics = read_file(spec.file("metrics.jsonl")) + parse_stdout(text)
    return TrialResult(
        seed=spec.seed,
        role=spec.role,
        status=status,
        exit_code=rc,
        reason=reason,
        duration_s=duration_s,
        mode=mode,
        stdout_tail=text[-STDOUT_TAIL:],
        stderr_tail=err[-STDERR_TAIL:],
        metrics=metrics,
        fingerprint=fingerprint(spec, out, metrics) if status == "ok" else None,
    )


# A running trial: a fresh process, or a child forked by the zygote (lost: exit code None).
Proc = Waitable[int | None]


class FreshProc(FreshProcess):
    """``python -m seedlock.launch.boot path SCRIPT ARGS``, as ``seedlock run`` starts it."""

    def __init__(self, spec: TrialSpec, env: Mapping[str, str]) -> None:
        fresh_rundir(spec)
        env = dict(env)
        cwd = enter_view(spec, env)
        super().__init__(spec.boot_argv(), env, cwd, spec.file("stdout.txt"), spec.file("stderr.txt"))


def run(
    spec: TrialSpec,
    start: Callable[[TrialSpec], Proc],
    *,
    mode: str,
    interrupted: Callable[[], bool] = lambda: False,
) -> TrialResult:
    """Start the trial, wait for it (killing it after ``spec.timeout``), then :func:`collect` it."""
    t0 = time.monotonic()
    rc, timed_out = wait_or_kill(start(spec), spec.timeout)
    return collect(
        spec, rc, timed_out=timed_out, interrupted=interrupted(), duration_s=time.monotonic() - t0, mode=mode
    )


def run_fresh(spec: TrialSpec, base_env: Mapping[str, str] | None = None, mode: str = "fresh") -> TrialResult:
    """One trial in a fresh process; also the body of a Ray task (``base_env`` None: the worker's own
    environment). A directory that cannot be made on a remote worker becomes a temporary one."""
    try:
        os.makedirs(spec.rundir, exist_ok=True)
        local = spec
    except OSError:
        local = replace(spec, rundir=tempfile.mkdtemp(prefix=f"seedlock-seed-{spec.seed}-"))
    env = trial_env(local, os.environ if base_env is None else base_env)
    return run(local, lambda s: FreshProc(s, env), mode=mode)

"""``seedlock check --resume``: is a run preempted and resumed from its checkpoint the run that was
never interrupted?

Three runs of the script, each in a private view of the working directory
(:mod:`seedlock.launch.workspace`): one uninterrupted; one preempted as a cluster does it
(SIGTERM, then SIGKILL after a grace period) right after its K-th checkpoint
(:mod:`seedlock.trace.checkpoints` holds it there); and the same command started again in that
run's directory, so that the script resumes as it would in production. The resumed run's trace
records, from the resume point on, and its models at exit must be bitwise the uninterrupted run's.
The resume point is found by content: the checkpoint whose model the resumed run loaded. When they
differ, the state right after the load (weights, optimizer state, learning rate, RNG state, the
first batch) is compared with the uninterrupted run's right after that checkpoint: what differs
there is the cause.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seedlock.config import ENV_CHECKPOINTS, ENV_RNG_CHECKPOINT, ENV_STOP_AT
from seedlock.errors import SeedlockError
from seedlock.frameworks.base import Config
from seedlock.launch import workspace
from seedlock.launch.process import FreshProcess, Live, killpg
from seedlock.verify.causes import Cause
from seedlock.verify.runner import NotIsolated, RunResult, Target, _in_view, read_jsonl, run_env, run_once

GRACE_S = 10.0
# What a resume can lose, in the order a cause is named: the first that differs explains the rest.
PARTS = ("model weights", "optimizer state", "learning rate", "RNG state", "data order")
FIXES = {
    "model weights": "the model loaded is not the one saved: save model.state_dict() and load it with "
    "load_state_dict before training",
    "optimizer state": "save optimizer.state_dict() in the checkpoint and load it after building the optimizer "
    "(momentum and Adam's moments are state)",
    "learning rate": "save the LR scheduler's state_dict() in the checkpoint and load it",
    "RNG state": "restore the RNG state after loading: run under seedlock run (checkpoints carry it, "
    "docs/resume.md), or save torch.get_rng_state(), np.random.get_state() and random.getstate() in the "
    "checkpoint and set them after loading",
    "RNG state, carried": "the checkpoint carried the RNG state and the load restored it, but something drew "
    "from it before training went on, or the uninterrupted run drew after its save: a DataLoader iterator "
    "made once before the loop (iter(loader)), a model built after torch.load, a checkpoint saved mid-epoch; "
    "load after building everything, make the iterator in the loop, checkpoint at epoch ends",
    "data order": "the data order is not restored: give the DataLoader a generator saved in the checkpoint, "
    "or a sampler whose state is saved (sampler.set_epoch for a DistributedSampler)",
}


@dataclass
class ResumeResult:
    equivalent: bool
    checkpoints: int  # how many the uninterrupted run saved
    resume_at: int  # after which the run was preempted
    resumed_from: int | None  # the checkpoint the resumed run loaded, found by its model
    divergence: str | None
    step: int | None
    causes: list[Cause]
    compared: dict[str, Any]
    workdir: str
    grace_killed: bool = False  # SIGTERM did not end it within the grace period: SIGKILL did
    probed: bool = False  # the state after the load was recorded (a torch model): causes can be named
    missing: bool = False  # the first difference is a record the resumed run did not write
    stopped_early: bool = False  # the resumed run was stopped at its first divergent record (live)
    results: list[RunResult] = field(default_factory=list, repr=False)

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.pop("results")
        out["causes"] = [c.to_json() for c in self.causes]
        return out


def events(rundir: Path) -> list[dict[str, Any]]:
    """The checkpoint events a run wrote (a line cut by a kill is skipped)."""
    return read_jsonl(rundir / "checkpoints.jsonl")


def _no_verdict(why: str) -> SeedlockError:
    return SeedlockError(f"no verdict: {why}")


def _env(
    config: Config, rundir: Path, target: Target, view: workspace.View, rng: bool, **extra: str
) -> dict[str, str]:
    env = run_env(config, rundir, plain=False, granularity="epoch", command=target.command)
    env.update(view.env(rundir / "files.txt"))
    env[ENV_CHECKPOINTS] = str((rundir / "checkpoints.jsonl").absolute())
    env[ENV_RNG_CHECKPOINT] = "1" if rng else "0"
    env.update(extra)
    return env


def preempt(
    proc: FreshProcess, rundir: Path, k: int, grace: float, timeout: float | None
) -> tuple[int, bool, bool]:
    """Wait until the run holds after its K-th checkpoint, then SIGTERM its process group and,
    ``grace`` seconds later, SIGKILL it: ``(exit code, stopped there, needed SIGKILL)``."""
    waited = 0.0
    while True:
        try:
            return proc.wait(0.05), False, False  # ended before it got there
        except subprocess.TimeoutExpired:
            waited += 0.05
        if any(e.get("event") == "stopped" for e in events(rundir)):
            break
        if timeout is not None and waited > timeout:
            proc.kill()
            return proc.wait(None), False, False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        return proc.wait(grace), True, False
    except subprocess.TimeoutExpired:
        killpg(proc.pid)
        return proc.wait(None), True, True


def check_resume(
    target: Target,
    *,
    seed: int = 0,
    resume_at: int | None = None,
    grace: float = GRACE_S,
    workdir: Path,
    timeout: float | None = None,
    rng_checkpoint: bool = True,
) -> ResumeResult:
    from seedlock.verify.verdict import RunCrashed

    if resume_at is not None and resume_at < 1:
        raise SeedlockError(f"--resume-at must be at least 1, got {resume_at}; pass e.g. --resume-at 2")
    config = Config(seed=seed, deterministic=True)
    here = os.getcwd()
    before = workspace.snapshot(here, skip=[workdir])
    live = Live()
    target = _in_view(target)
    u_dir, i_dir, r_dir = workdir / "uninterrupted", workdir / "preempted", workdir / "resumed"
    for d in (u_dir, i_dir, r_dir):
        d.mkdir(parents=True, exist_ok=True)
    try:
        u_view = workspace.build(u_dir / "view", here, before)
        u = run_once(
            0, target, _env(config, u_dir, target, u_view, rng_checkpoint), u_dir, timeout, live, u_view
        )
        if not u.ok:
            raise RunCrashed(u, 3, timeout)
        u_events = events(u_dir)
        saves = [e for e in u_events if e.get("event") == "save"]
        n = max((int(e["checkpoint"]) for e in saves), default=0)
        loaded = next((e for e in u_events if e.get("event") == "load"), None)
        if loaded is not None:  # a checkpoint left in the user's directory: it resumed too
            raise _no_verdict(
                f"the uninterrupted run loaded {loaded.get('path')!r}, a checkpoint that was in your working "
                "directory before the check: it resumed rather than started afresh. Run the check where no "
                "checkpoint of an earlier run is (or move it aside)"
            )
        if n == 0:
            raise _no_verdict(
                "the script saved no checkpoint seedlock saw (torch.save to a path, Keras model.save/"
                "save_weights/BackupAndRestore, a Lightning checkpoint): nothing to resume from"
            )
        if n and not any(rec.kind in ("step", "epoch", "batch") for rec in _read(u.trace)):
            raise _no_verdict(
                "the script saved checkpoints but trained nothing seedlock traces (no torch optimizer step, "
                "no Keras epoch): check --resume compares training records"
            )
        k = resume_at if resume_at is not None else (n + 1) // 2
        if k > n:
            raise SeedlockError(
                f"--resume-at {k}, but the uninterrupted run saved {n} checkpoint(s); pass --resume-at 1 to {n}"
            )
        i_view = workspace.build(i_dir / "view", here, before)
        env_i = _env(config, i_dir, target, i_view, rng_checkpoint, **{ENV_STOP_AT: str(k)})
        proc = live.add(
            FreshProcess(target.boot_argv(), env_i, i_view.cwd, i_dir / "stdout.txt", i_dir / "stderr.txt")
        )
        code, stopped, killed = preempt(proc, i_dir, k, grace, timeout)
        if not stopped:
            why = f"exited with code {code}" if code != 0 else "ran to its end"
            raise _no_verdict(
                f"the run to preempt {why} before training went on after its checkpoint {k}: there is no "
                "point to resume from; pass an earlier --resume-at"
            )
        # The same command again, in the same directory: the script finds its checkpoint there.
        # Compared live against the uninterrupted run, and stopped at its first divergent record.
        watch = Against(r_dir / "trace.jsonl", u, u_dir, k, live)
        watch.start()
        try:
            r = run_once(
                2, target, _env(config, r_dir, target, i_view, rng_checkpoint), r_dir, timeout, live, i_view
            )
        finally:
            watch.finish()
        if not r.ok and not watch.stopped:
            raise SeedlockError(str(RunCrashed(r, 3, timeout)).replace("run 3 of 3", "the resumed run", 1))
    finally:
        live.stop()
    reason = workspace.shared_reason(
        here,
        before,
        workspace.snapshot(here, skip=[workdir]),
        [d / "files.txt" for d in (u_dir, i_dir, r_dir)],
    )
    if reason is not None:
        raise NotIsolated(reason)
    if not any(e.get("event") == "load" for e in events(r_dir)):
        raise _no_verdict(
            "the restarted script loaded no checkpoint seedlock saw: it started over (does it look for its "
            "checkpoint where it saved it?), or it loaded through a file object or a library seedlock has no "
            "seam for (torch.load of a path, Keras load_model/load_weights and Lightning's ckpt_path are seen)"
        )
    if not watch.stopped and not any(rec.kind in ("step", "epoch", "batch") for rec in _read(r.trace)):
        held = _held_on(events(i_dir))
        after = len({e["checkpoint"] for e in held if e.get("event") == "save" and int(e["checkpoint"]) > k})
        raise _no_verdict(
            "the resumed run had nothing left to train: the preempted run "
            + (
                f"went on after SIGTERM and saved {after} more checkpoint(s) (a handler that ignores SIGTERM; "
                "a cluster would SIGKILL it after its grace period: pass a shorter --grace, e.g. --grace 0)"
                if after
                else "was stopped after its last checkpoint: pass an earlier --resume-at"
            )
        )
    result = _compare(u, r, u_dir, r_dir, n, k, killed, workdir, rng_checkpoint)
    result.stopped_early = watch.stopped
    if watch.stopped and (result.equivalent or result.missing):
        raise _no_verdict(
            "the resumed run was stopped when a record looked different as it was written, but the records "
            "it wrote agree with the uninterrupted run's from the resume point found afterwards; rerun the check"
        )
    return result


def _compare(
    u: RunResult,
    r: RunResult,
    u_dir: Path,
    r_dir: Path,
    n: int,
    k: int,
    killed: bool,
    workdir: Path,
    rng_checkpoint: bool = True,
) -> ResumeResult:
    from seedlock.trace import read_trace
    from seedlock.trace.compare import compare_traces

    u_events, r_events = events(u_dir), events(r_dir)
    probes = {
        int(e["checkpoint"]): e["state"]
        for e in u_events
        if e.get("event") == "probe" and e["after"] == "save"
    }
    loaded = next((e["state"] for e in r_events if e.get("event") == "probe" and e["after"] == "load"), None)
    # The resume point by content: the checkpoint whose model the resumed run started from.
    found = next(
        (c for c, s in probes.items() if loaded and s["model weights"] == loaded["model weights"]), None
    )
    at = found if found is not None else k
    pos = next(int(e["records"]) for e in u_events if e.get("event") == "save" and int(e["checkpoint"]) == at)
    ut, rt = read_trace(u.trace), read_trace(r.trace)
    pos = _aligned(_after(ut.records), _after(rt.records), pos)
    after = _after(ut.records[pos:])
    shifted = _shift(after, _after(rt.records))
    div = compare_traces(
        dataclasses.replace(ut, records=tuple(after)),
        dataclasses.replace(rt, records=tuple(shifted)),
        values=False,
    )
    causes: list[Cause] = []
    if div is not None and loaded is not None and at in probes:
        differ = [p for p in PARTS if probes[at].get(p) != loaded.get(p)]
        for rank, part in enumerate(differ):
            # The shuffle draws from the RNG: with the RNG state lost, the data order follows.
            follows = (
                " (drawn from the RNG state above)" if part == "data order" and "RNG state" in differ else ""
            )
            causes.append(
                Cause(
                    "resume",
                    rank,
                    f"{part}: right after the load it differs from the uninterrupted run's right after "
                    f"checkpoint {at}{follows}",
                    FIXES["RNG state, carried" if part == "RNG state" and rng_checkpoint else part],
                )
            )
    compared = {"records": len(after), "checkpoints": n, "records_before_resume": pos}
    return ResumeResult(
        div is None,
        n,
        k,
        found,
        None if div is None else str(div),
        None if div is None else div.step,
        causes,
        compared,
        str(workdir),
        killed,
        loaded is not None,
        div is not None and div.reason == "missing",
        False,
        [u, r],
    )


def _read(path: Path) -> list[Any]:
    from seedlock.trace import NotATrace, read_trace

    try:
        return list(read_trace(path).records)
    except NotATrace:
        return []


def _held_on(evs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A preempted run's events after it was held for the preemption."""
    held = next((i for i, e in enumerate(evs) if e.get("event") == "stopped"), len(evs))
    return evs[held:]


def _aligned(base: list[Any], resumed: list[Any], pos: int) -> int:
    """Where the resumed run's records start among the uninterrupted run's. Its epochs go on where
    they were (Keras's BackupAndRestore sets the first epoch): then its first epoch's record, found
    by content. Else (torch's steps count from 1 again) the checkpoint's place: ``pos``, the
    records written before it was saved. A callback that saves before the epoch's record is
    written puts that one record on the other side of the checkpoint, hence the search from
    ``pos - 1``."""
    first = next((rec for rec in resumed if rec.kind != "final"), None)
    if first is None or not first.epoch:
        return pos
    found = (
        i
        for i in range(max(0, pos - 1), len(base))
        if (base[i].kind, base[i].epoch, base[i].batch) == (first.kind, first.epoch, first.batch)
    )
    return next(found, pos)


def _after(records: Any) -> list[Any]:
    """The records compared: steps, epochs, batches and the models at exit; not stdout (a resumed
    script says it resumed)."""
    return [rec for rec in records if rec.kind != "stdout"]


class Against:
    """The resumed run's trace read as it is written and compared with the uninterrupted run's
    records from the resume point on; at the first record that differs, every run is stopped.
    The resume point is the checkpoint the run was preempted after (the final comparison finds it
    again by content)."""

    def __init__(self, path: Path, u: RunResult, u_dir: Path, k: int, live: Live) -> None:
        from seedlock.trace import read_trace
        from seedlock.verify.live import Tail

        self.tail = Tail(path)
        self.base = _after(read_trace(u.trace).records)
        self.pos = next(
            int(e["records"]) for e in events(u_dir) if e.get("event") == "save" and int(e["checkpoint"]) == k
        )
        self.live = live
        self.stopped = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def finish(self) -> None:
        self._done.set()
        self._thread.join()

    def _loop(self) -> None:
        from seedlock.verify.live import POLL_S, TRAINING

        upto = 0
        after: list[Any] | None = None
        while not self._done.wait(POLL_S):
            self.tail.read()
            mine = self.tail.training()
            if not mine:
                continue
            if after is None:
                start = _aligned(self.base, mine, self.pos)
                after = [rec for rec in self.base[start:] if rec.kind in TRAINING]
            shifted = _shift(after, mine[: len(after)])
            for j in range(upto, min(len(shifted), len(after))):
                if shifted[j].to_json() != after[j].to_json():
                    self.stopped = True
                    self.live.stop()
                    return
            upto = min(len(shifted), len(after))


def _shift(base: list[Any], resumed: list[Any]) -> list[Any]:
    """The resumed run's records numbered as the uninterrupted run's: its optimizer steps count
    from 1 again; epochs go on where they were (Keras's BackupAndRestore) or count again."""
    first = {rec.kind: rec for rec in reversed(base)}
    mine = {rec.kind: rec for rec in reversed(resumed)}
    offsets = {}
    for kind, rec in mine.items():
        other = first.get(kind)
        if other is None:
            continue
        offsets[kind] = {
            f: getattr(other, f) - getattr(rec, f)
            for f in ("step", "epoch")
            if getattr(other, f) is not None and getattr(rec, f) is not None
        }
    out = []
    for rec in resumed:
        change = {
            f: getattr(rec, f) + d
            for f, d in offsets.get(rec.kind, {}).items()
            if getattr(rec, f) is not None
        }
        out.append(dataclasses.replace(rec, **change) if change else rec)
    return out

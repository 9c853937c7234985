"""What ``seedlock check`` concludes: :class:`CheckResult` (the verdict, and what it compared),
:class:`RunDivergence` (where two runs first part) and :class:`RunCrashed` (a run failed: no verdict).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from seedlock.errors import SeedlockError
from seedlock.verify import causes as causes_mod
from seedlock.verify.ranks import failed_rank
from seedlock.verify.runner import RunResult

if TYPE_CHECKING:
    from seedlock.trace import Divergence


@dataclass
class RunDivergence:
    """Where two runs first differ: a trace record (``trace``) or a line of stdout (``line``, ``a``, ``b``).

    >>> d = RunDivergence((1, 2), "stdout", "stdout line 3 differs: '0.5' vs '0.6'", line=3, a="0.5", b="0.6")
    >>> d.to_json()["line"], d.to_json()["runs"]
    (3, [1, 2])
    """

    runs: tuple[int | str, int | str]  # the runs compared (1-based), or the traces' labels
    source: str  # "trace" or "stdout"
    summary: str
    trace: Divergence | None = None
    line: int | None = None  # stdout: the first line that differs (1-based), and the two lines
    a: str | None = None
    b: str | None = None
    layer: dict[str, Any] | None = None  # what the localising reruns found (seedlock.verify.localize)
    rank: str | None = None  # the rank whose trace differs, for a distributed job's ranks

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {} if self.trace is None else self.trace.to_dict()
        out.update(runs=list(self.runs), source=self.source)
        if self.trace is None:
            out.update(line=self.line, a=self.a, b=self.b)
        out["summary"] = self.summary
        if self.layer is not None:
            out["layer"] = self.layer
        if self.rank is not None:
            out["rank"] = self.rank
        return out


@dataclass
class CheckResult:
    reproducible: bool
    runs: int
    seed: int | None
    plain: bool
    divergence: RunDivergence | None
    causes: list[causes_mod.Cause]
    compared: dict[str, Any]
    workdir: str
    results: list[RunResult] = field(default_factory=list, repr=False)
    audit: list[dict[str, Any]] | None = None  # --audit: the ops with no deterministic kernel that ran
    explained: list[dict[str, Any]] | None = None  # --explain: the settings tried (seedlock.verify.explain)
    limit: dict[str, Any] | None = None  # --steps/--epochs/--time: what a REPRODUCIBLE is about
    stopped_early: bool = False  # the live comparison stopped the runs at the first divergence
    sequential: bool = False  # the runs went one after another (--sequential), not side by side

    def to_json(self) -> dict[str, Any]:
        return {
            "reproducible": self.reproducible,
            "runs": self.runs,
            "seed": self.seed,
            "plain": self.plain,
            "divergence": None if self.divergence is None else self.divergence.to_json(),
            "causes": [c.to_json() for c in self.causes],
            "compared": self.compared,
            "workdir": self.workdir,
            "audit": self.audit,
            "explained": self.explained,
            "limit": self.limit,
            "stopped_early": self.stopped_early,
            "sequential": self.sequential,
        }


class RunCrashed(SeedlockError):
    """A run failed: say which, how, and show its stderr. Never a verdict.

    When deterministic mode, which seedlock switched on, refused an op, the run's own line saying
    so comes first: that is the cause, not an opaque crash."""

    def __init__(self, result: RunResult, runs: int, timeout: float | None = None):
        if result.timed_out:
            limit = f" after --timeout {timeout:g} s" if timeout is not None else ""
            how = f"was still running{limit} and was killed, with every process it started"
        else:
            how = f"exited with code {result.returncode}"
        lines = result.stderr_tail.strip().splitlines()
        refused = [line for line in lines if line.startswith("seedlock: ") and " refused " in line]
        head = f"run {result.index + 1} of {runs} {how}; no verdict"
        if refused:  # the cause, with check's own way out (it has no --no-deterministic)
            cause = refused[-1].removeprefix("seedlock: ").split("; ")[0]
            head += f". {cause}; to list every such op and compare anyway: seedlock check --audit SCRIPT"
        if any("terminate called without an active exception" in line for line in lines) and any(
            "torch.distributed" in line or "torch/distributed" in line or "gloo" in line.lower()
            for line in lines
        ):  # torch's gloo, not the script's code nor seedlock's: with or without seedlock, about 1 run in 2
            head += (
                ". A rank aborted as gloo tore down while another still had traffic in flight; a "
                "torch.distributed.barrier() before destroy_process_group() avoids it"
            )
        tail = ". Its stderr ends:\n" + "\n".join(lines[-15:]) if lines else ". It wrote nothing on stderr"
        rank = failed_rank(_full_stderr(result))
        if rank is not None and rank[2]:  # the rank's own error, not the launcher's summary of it
            label, code, own = rank
            tail = f". Rank {label} failed first (exit code {code}); its stderr ends:\n" + "\n".join(own)
        super().__init__(head + tail)
        self.result = result
        self.refused = refused[-1] if refused else None


def _full_stderr(result: RunResult) -> str:
    """The run's whole stderr (a rank's error is often far above the launcher's traceback)."""
    try:
        return result.trace.with_name("stderr.txt").read_text(errors="replace")
    except OSError:
        return result.stderr_tail

"""The fork-server's check under ``seedlock repeat``: one seed is also run cold (a fresh process)
and its fingerprint compared with the forked trial's. Until that passes, forked results are held
back; if it fails, every trial is rerun in a fresh process.

:class:`ForkCheck` is that part of :class:`~seedlock.repeat.driver.Driver`: every result passes
through :meth:`ForkCheck.handle` on its way to the store.
"""

from __future__ import annotations

import contextlib
import shlex
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from seedlock.repeat.executors import Executor
    from seedlock.repeat.progress import Progress
    from seedlock.repeat.trial import TrialResult, TrialSpec

VERIFY_TRIES = 3


class ForkCheck:
    """The fork-server's verification, mixed into the driver, whose trials it holds and records."""

    # The driver's, which the check reads and feeds.
    ex: Executor
    progress: Progress
    retry: list[int]
    signal: int | None

    if TYPE_CHECKING:

        def spec(self, seed: int, role: str = "trial") -> TrialSpec: ...

        def record(self, r: TrialResult) -> None: ...

    def init_fork_check(self, forking: bool) -> None:
        # Verification of the fork-server: None (not forking), pending, passed, failed.
        self.verify: str | None = "pending" if forking else None
        self.check_seed: int | None = None
        self.cold: TrialResult | None = None
        self.forked: TrialResult | None = None
        self.held: list[TrialResult] = []
        self.tries = 0
        # A cold run failed as its forked twin did: failures are the script's, not the fork's, and
        # are recorded as they come (held, a script that always failed had every trial "interrupted").
        self.failures_confirmed = False

    def submit_check(self, seed: int) -> None:
        self.check_seed, self.cold, self.forked = seed, None, None
        self.tries += 1
        self.ex.submit(self.spec(seed, "check"))

    def handle(self, r: TrialResult) -> None:
        if r.role == "check":
            if self.verify == "pending" and r.seed == self.check_seed:
                self.cold = r
                self.compare()
            return
        if r.mode == "fork" and self.verify == "failed" and r.status != "interrupted":
            self.retry.append(r.seed)  # still claimed: run it again, fresh
        elif (
            r.mode == "fork"
            and self.verify == "pending"
            and r.status != "interrupted"
            and not (self.failures_confirmed and r.status != "ok" and r.seed != self.check_seed)
        ):
            self.held.append(r)
            if r.seed == self.check_seed:
                self.forked = r
                self.compare()
        else:
            self.record(r)

    def compare(self) -> None:
        """The cold and forked runs of the check seed are both in: decide."""
        cold, forked = self.cold, self.forked
        if cold is None or forked is None:
            return
        say = self.progress.say
        if cold.status == forked.status == "ok" and cold.fingerprint == forked.fingerprint:
            what = "stdout and metrics" if str(cold.fingerprint).startswith("stdout+metrics:") else "stdout"
            only = (
                (
                    f" - {what} only: no Keras or torch model was fingerprinted at exit (none, or the script ended "
                    "with os._exit)"
                )
                if str(cold.fingerprint).startswith("stdout")
                else ""
            )
            say(
                f"verified: seed {cold.seed} forked equals a cold run bitwise (fingerprint "
                f"{str(cold.fingerprint)[:16]}){only}"
            )
            self.release_held("passed")
        elif cold.status == forked.status != "ok" and self.tries < VERIFY_TRIES and self.signal is None:
            self.failures_confirmed = True
            failed = [r for r in self.held if r.status != "ok"]
            self.held = [r for r in self.held if r.status == "ok"]
            for r in failed:
                self.record(r)
            nxt = next((r.seed for r in self.held if r.status == "ok" and r.seed != cold.seed), None)
            if nxt is None:
                self.forked = None
                self.check_seed = None  # the next forked trial that ends ok gets the check
            else:
                self.submit_check(nxt)
                self.forked = next(r for r in self.held if r.seed == nxt)
        elif cold.status == forked.status != "ok":
            say(f"could not verify the fork-server: seed {cold.seed} {cold.status} both forked and cold")
            self.release_held("passed")
        else:
            how = (
                f"fingerprint {forked.fingerprint} vs {cold.fingerprint}"
                if cold.status == forked.status
                else f"{forked.status} forked vs {cold.status} cold"
            )
            # The forked trial's directory is kept aside: its seed now runs again, fresh, in its place.
            forked_dir = Path(self.spec(cold.seed).rundir)
            kept = forked_dir.with_name(forked_dir.name + ".forked")
            shutil.rmtree(kept, ignore_errors=True)
            with contextlib.suppress(OSError):
                forked_dir.rename(kept)
            traces = " ".join(
                shlex.quote(str(Path(d) / "trace.jsonl"))
                for d in (kept, self.spec(cold.seed, "check").rundir)
            )
            say(
                f"warning: seed {cold.seed} forked differs from a cold run ({how}); rerunning every trial in a "
                f"fresh process (where they differ: seedlock diff {traces})"
            )
            self.verify = "failed"
            self.ex.fall_back(f"a forked trial differed from a cold run of seed {cold.seed}")
            self.retry.extend(r.seed for r in self.held)
            self.held.clear()

    def release_held(self, outcome: str) -> None:
        self.verify = outcome
        held, self.held = self.held, []
        for r in held:
            self.record(r)

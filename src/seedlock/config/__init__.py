"""seedlock's settings as they travel from a command to the processes it starts: every
``SEEDLOCK_*`` variable is named here, and read once into one typed :class:`Settings`.

>>> s = Settings.from_env({"SEEDLOCK_SEED": "7", "SEEDLOCK_STRICT": "1", "SEEDLOCK_TRACE": "run.trace"})
>>> s.seed, s.strict, s.trace, s.granularity
(7, True, 'run.trace', 'epoch')
>>> Settings.from_env({}).deterministic
True
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NamedTuple

from seedlock.seeds import ENV_SEED, validate_seed

# What `seedlock run` (and check, repeat) tell the child; the seed's own variable is seedlock.seeds'.
ENV_DETERMINISTIC = "SEEDLOCK_DETERMINISTIC"
ENV_THREADS = "SEEDLOCK_THREADS"
ENV_VERBOSE = "SEEDLOCK_VERBOSE"
ENV_ACTIVE = "SEEDLOCK_ACTIVE"  # set in processes started by `seedlock run`
ENV_PLAIN = "SEEDLOCK_PLAIN"  # instrument, but do not seed: what the script does on its own
ENV_STRICT = "SEEDLOCK_STRICT"  # "1": the launcher calls seedlock.strict.install() after seeding
ENV_AUDIT = "SEEDLOCK_AUDIT"  # "1": the launcher calls seedlock.audit.install() after seeding
ENV_AUDIT_FILE = "SEEDLOCK_AUDIT_FILE"  # where the audit writes its records as JSON
ENV_ENTROPY = "SEEDLOCK_ENTROPY"  # check: each entropy draw and seed of the user's code, a JSON line here
ENV_DRAWS = "SEEDLOCK_DRAWS"  # check: KEY:RUN:PARENT, run 2's OS entropy flips run 1's (audit.draws)
ENV_TRACE = "SEEDLOCK_TRACE"  # record a trace here (auto-instrumentation)
ENV_GRANULARITY = "SEEDLOCK_GRANULARITY"  # epoch, batch or exit
ENV_DIGEST = "SEEDLOCK_DIGEST"  # the trace's digest algorithm: auto, dh1 or xxh3_128
ENV_MANIFEST = "SEEDLOCK_MANIFEST"  # write the run's manifest here
ENV_LOCALIZE = "SEEDLOCK_LOCALIZE"  # JSON: the window of check's localising rerun
ENV_METRICS = "SEEDLOCK_METRICS"  # log_metric() appends JSON lines here (`seedlock repeat`)
ENV_METRICS_RANKS = "SEEDLOCK_METRICS_RANKS"  # "all": every rank's metrics, not rank 0's alone
ENV_HASHSEED = "SEEDLOCK_HASHSEED"  # one hash seed for every trial of a `seedlock repeat` experiment
ENV_PARENT = "SEEDLOCK_PARENT_PID"  # set for the runs of check and repeat: they die with seedlock
ENV_RANK_TRACE = (
    "SEEDLOCK_RANK_TRACE"  # a traced run's trace: each rank it starts writes FILE.rankN.jsonl beside it
)
ENV_CHILDREN = "SEEDLOCK_CHILDREN"  # each seeded child process adds a line here (check counts them)
ENV_RANK_SEEDS = (
    "SEEDLOCK_RANK_SEEDS"  # "1": each rank but rank 0 gets a seed of its own (launch.child.rank_seed)
)
ENV_RNG_CHECKPOINT = "SEEDLOCK_RNG_CHECKPOINT"  # "0": checkpoints do not carry the RNG state (docs/resume.md)
ENV_CHECKPOINTS = "SEEDLOCK_CHECKPOINTS"  # check --resume: each checkpoint saved or loaded, a JSON line here
ENV_STOP_AT = "SEEDLOCK_STOP_AT"  # check --resume: K, wait to be preempted right after the K-th checkpoint
ENV_STOP_AFTER = "SEEDLOCK_STOP_AFTER"  # check --steps/--epochs: "step:N" or "epoch:N", exit after N of them
ENV_ROOT = "SEEDLOCK_ROOT"  # the process the launcher execs sets itself up (boot); its children do not see it
ENV_VIEW = "SEEDLOCK_VIEW"  # a run's private view of the working directory (launch.workspace)
ENV_VIEW_OF = "SEEDLOCK_VIEW_OF"  # the directory that view mirrors: links into it are copied on write
ENV_FILES = "SEEDLOCK_FILES"  # each file outside the view a run opens: "w PATH" or "r PATH" lines
ENV_EXPLAIN = "SEEDLOCK_EXPLAIN"  # check: explain a NOT on its own if each run took <= this many s

PREFIX = "SEEDLOCK_"  # a process's own settings are never passed on by copying its environment


class Settings(NamedTuple):
    """What the process that started this one asked for, from the ``SEEDLOCK_*`` variables.

    A NamedTuple, not a dataclass: the launcher's child reads it at start, and dataclasses costs milliseconds to import.
    """

    seed: int = 0
    deterministic: bool = True
    threads: int | None = None
    verbose: bool = False
    active: bool = False
    plain: bool = False
    strict: bool = False
    audit: bool = False
    audit_file: str | None = None
    trace: str | None = None
    granularity: str = "epoch"
    digest: str = "auto"
    manifest: str | None = None
    metrics: str | None = None
    rng_checkpoint: bool = True
    rank_seeds: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Parse the variables once; a bad seed or thread count raises :class:`~seedlock.errors.BadSeed`
        or ``ValueError`` naming the variable."""
        env = os.environ if environ is None else environ
        threads = env.get(ENV_THREADS)
        return cls(
            seed=validate_seed(env.get(ENV_SEED, "0"), source=f"${ENV_SEED}"),
            deterministic=env.get(ENV_DETERMINISTIC, "1") != "0",
            threads=int(threads) if threads else None,
            verbose=env.get(ENV_VERBOSE) == "1",
            active=env.get(ENV_ACTIVE) == "1",
            plain=env.get(ENV_PLAIN) == "1",
            strict=env.get(ENV_STRICT) == "1",
            audit=env.get(ENV_AUDIT) == "1",
            audit_file=env.get(ENV_AUDIT_FILE) or None,
            trace=env.get(ENV_TRACE) or None,
            granularity=env.get(ENV_GRANULARITY) or "epoch",
            digest=env.get(ENV_DIGEST) or "auto",
            manifest=env.get(ENV_MANIFEST) or None,
            metrics=env.get(ENV_METRICS) or None,
            rng_checkpoint=env.get(ENV_RNG_CHECKPOINT, "1") != "0",
            rank_seeds=env.get(ENV_RANK_SEEDS) == "1",
        )


def rank_label(environ: Mapping[str, str]) -> str | None:
    """A distributed rank's label: torchrun's ``RANK``; Lightning's launcher gives its processes
    ``LOCAL_RANK`` (and ``NODE_RANK``). None for any other process.

    >>> rank_label({"RANK": "1"}), rank_label({"LOCAL_RANK": "1", "NODE_RANK": "0"}), rank_label({})
    ('1', '0.1', None)
    """
    if environ.get("RANK", "").isdigit():
        return environ["RANK"]
    if environ.get("LOCAL_RANK", "").isdigit():
        return f"{environ.get('NODE_RANK', '0')}.{environ['LOCAL_RANK']}"
    return None


def without_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` less every ``SEEDLOCK_*`` variable: the base of a fresh run's environment.

    >>> without_settings({"PATH": "/bin", "SEEDLOCK_TRACE": "t"})
    {'PATH': '/bin'}
    """
    return {k: v for k, v in environ.items() if not k.startswith(PREFIX)}

"""IPython and Jupyter magics: ``%seedlock`` and ``%%reproducible``.

Load them with ``%load_ext seedlock``::

    %load_ext seedlock
    %seedlock 42                 # seed everything (and frameworks imported later); print what was done
    %seedlock                    # print what was seeded so far, frameworks imported since included

    %%reproducible
    model = build(); model.fit(x, y)   # the cell starts from a fresh process's state: run it
                                       # twice, get bitwise the same weights twice

``%%reproducible [SEED]`` runs the cell inside :class:`seedlock.reproducible` (Keras sessions
cleared, TensorFlow graph and op-seed counters reset, every RNG reseeded). The seed defaults to
the last ``%seedlock`` seed, else 0. Both magics take ``--no-deterministic`` to seed without
switching frameworks to deterministic kernels.

That is the notebook problem of seed 003: a cell that builds and fits a model gives new
weights each time it is run, although the notebook set every seed at the top, because the
first fit used up the random streams the second one starts from.
"""

from __future__ import annotations

import shlex
from typing import Any

from seedlock.errors import SeedlockError

_last_seed: int | None = None  # of the last %seedlock: %%reproducible's default


def _parse(line: str, magic: str) -> tuple[int | None, bool]:
    """``[SEED] [--no-deterministic]`` -> (seed or None, deterministic)."""
    from seedlock.seeds import validate_seed

    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise SeedlockError(f"{magic}: cannot read {line!r} ({exc}); use e.g. {magic} 42") from None
    deterministic = "--no-deterministic" not in words
    rest = [w for w in words if w != "--no-deterministic"]
    unknown = [w for w in rest if w.startswith("-") and not w.lstrip("-").isdigit()]
    if unknown or len(rest) > 1:
        raise SeedlockError(
            f"{magic}: unexpected {' '.join(unknown or rest[1:])!r}; use {magic} [SEED] [--no-deterministic]"
        )
    seed = validate_seed(rest[0], source=f"{magic}'s seed") if rest else None
    return seed, deterministic


def short_report(report: Any) -> str:
    """A few lines: the seed, which components were seeded or switched, which wait for their
    import, and every problem in full.

    >>> from seedlock.report import SeedReport
    >>> r = SeedReport(seed=42, deterministic=True)
    >>> r.add("numpy", "seeded", "np.random.seed(42)"); r.add("torch", "pending", "not imported yet")
    >>> print(short_report(r))
    seedlock: master seed 42, deterministic ops on
      seeded: numpy
      seeded when imported: torch
    """
    lines = [report.lines()[0]]
    groups: dict[str, list[str]] = {}
    for entry in report.current():
        if entry.status not in ("warning", "failed"):
            groups.setdefault(entry.status, []).append(entry.component)
    labels = {"pending": "seeded when imported"}
    for status in ("seeded", "switched", "verified", "skipped", "pending"):
        if status in groups:
            lines.append(f"  {labels.get(status, status)}: {', '.join(dict.fromkeys(groups[status]))}")
    lines += [f"  {e.status}: {e.component}: {e.detail}" for e in report.problems()]
    return "\n".join(lines)


def _usage(exc: SeedlockError) -> Exception:
    """IPython shows a UsageError as its message alone, no traceback: bad input is one line."""
    from IPython.core.error import UsageError

    return UsageError(f"seedlock: {exc}")


def seedlock_magic(line: str = "") -> None:
    """``%seedlock [SEED] [--no-deterministic]``: seed everything; no SEED: show the current report."""
    global _last_seed
    from seedlock import api

    try:
        seed, deterministic = _parse(line, "%seedlock")
    except SeedlockError as exc:
        raise _usage(exc) from None
    if seed is None and line.strip() == "":
        report = api.current_report()
        print(short_report(report) if report is not None else "seedlock: not seeded yet; run %seedlock 42")
        return
    report = api.seed_everything(seed, deterministic=deterministic)
    _last_seed = report.seed
    print(short_report(report))


def reproducible_magic(line: str, cell: str) -> None:
    """``%%reproducible [SEED] [--no-deterministic]``: run the cell inside ``seedlock.reproducible``."""
    from seedlock import api

    try:
        seed, deterministic = _parse(line, "%%reproducible")
    except SeedlockError as exc:
        raise _usage(exc) from None
    if seed is None:
        seed = _last_seed if _last_seed is not None else 0
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        raise SeedlockError(
            "%%reproducible runs in IPython or Jupyter only; in a script use `with seedlock.reproducible(SEED):`"
        )
    with api.reproducible(seed, deterministic=deterministic):
        result = shell.run_cell(cell)
    # run_cell has shown the traceback already; re-raising marks the cell failed (nbclient,
    # "Run all" stops) without a second traceback.
    error = result.error_before_exec or result.error_in_exec
    if error is not None:
        raise _CellFailed(error)


class _CellFailed(Exception):
    """Raised after a failed %%reproducible cell, whose traceback was already shown."""

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a traceback
        error = self.args[0]
        return [f"{type(error).__name__}: {error} (in the %%reproducible cell: traceback above)"]


def load_ipython_extension(ip: Any) -> None:
    """Register ``%seedlock`` and ``%%reproducible`` (``%load_ext seedlock`` calls this)."""
    ip.register_magic_function(seedlock_magic, magic_kind="line", magic_name="seedlock")
    ip.register_magic_function(reproducible_magic, magic_kind="cell", magic_name="reproducible")

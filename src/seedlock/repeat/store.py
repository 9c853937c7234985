"""The store: one SQLite file of experiments, their trials (one per seed) and the metrics they reported.

Several ``seedlock`` processes may write to one store at once: the file is in WAL mode, every
write is one short ``BEGIN IMMEDIATE`` transaction, and a writer waits up to 30 s for another
(no "database is locked"). A trial's result and all its metrics are written in one transaction
when it ends, so whatever was recorded survives a crash of the process later on.

A file that is not a seedlock store (not SQLite, another program's database, corrupt, truncated,
or made by a newer seedlock) raises :class:`~seedlock.errors.SeedlockError` and is left
byte-for-byte untouched: the header is read by hand and checked before SQLite opens the file.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "seedlock.db")
>>> with Store(path) as store:
...     exp = store.experiment("baseline", script="train.py", args=["--epochs", "3"])
...     store.start_trial(exp, 0)
...     store.finish_trial(exp, 0, "ok", exit_code=0, metrics=[("acc", 1, 0.8), ("acc", 2, 0.9)])
...     store.metric_values(exp, "acc")
True
{0: 0.9}
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from seedlock.errors import SeedlockError
from seedlock.repeat.records import Experiment, ExperimentRuns, Trial
from seedlock.repeat.storefile import BUSY_TIMEOUT_S, FINISHED, TrialStatus, check_header, upgrade, verify
from seedlock.repeat.storefile import create as create_store
from seedlock.repeat.storemetrics import MetricReads, metric_row

DEFAULT_STORE = Path(".seedlock") / "seedlock.db"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class Store(MetricReads):
    """The experiments, trials and metrics of ``seedlock repeat``, in one SQLite file.

    Args:
        path: the store file; default ``.seedlock/seedlock.db`` in the working directory.
        create: make the file (and its directory) when missing; else raise SeedlockError.

    One ``Store`` per process (SQLite connections must not cross ``fork``); it may be shared
    by threads. Use it as a context manager, or call :meth:`close`.
    """

    def __init__(self, path: str | os.PathLike[str] = DEFAULT_STORE, *, create: bool = True) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise SeedlockError(
                f"{str(self.path)!r} is a directory; pass the store file, e.g. --store {DEFAULT_STORE}"
            )
        if not self.path.exists() and not create:
            raise SeedlockError(
                f"no store at {str(self.path)!r}; run `seedlock repeat` first or pass --store"
            )
        self._lock = threading.RLock()
        try:
            if not self.path.exists():
                create_store(self.path)
            check_header(self.path)
            verify(self.path)
            self._db = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            self._db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA synchronous=FULL")  # a trial may have cost hours: fsync each result
            upgrade(self._db)
        except (OSError, sqlite3.OperationalError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise SeedlockError(
                f"cannot open store {str(self.path)!r} ({why}); check the permissions of the file and its "
                "directory, or pass another --store"
            ) from exc

    # -- plumbing -------------------------------------------------------------------------------

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    def close(self) -> None:
        """Close the connection (the last one to close folds the WAL back into the file)."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction; IMMEDIATE takes the write lock up front (waiting if need be)."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                    self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as exc:  # disk full, read-only file, locked for 30 s
                raise SeedlockError(
                    f"cannot write to store {str(self.path)!r} ({exc}); check the disk and file permissions"
                ) from exc

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.DatabaseError as exc:
                raise SeedlockError(
                    f"store {str(self.path)!r} cannot be read ({exc}); restore it from a backup or pass another --store"
                ) from exc

    # -- experiments ----------------------------------------------------------------------------

    def experiment(
        self,
        name: str,
        script: str | None = None,
        args: Sequence[str] | None = None,
        config: dict[str, Any] | None = None,
        create: bool = True,
    ) -> Experiment:
        """The experiment ``name``, created with ``script``, ``args`` and ``config`` if new.

        An existing experiment must have the same script and args when they are given; its
        config is kept as it was. ``create=False`` raises SeedlockError, listing the
        experiments there are, when ``name`` is not in the store.
        """
        if not isinstance(name, str) or not name.strip():
            raise SeedlockError(
                f"experiment name must be a non-empty string, got {name!r}; pass e.g. --name baseline"
            )
        found = self._find(name)
        if found is None:
            if not create:
                raise self._unknown(name)
            with self._write() as db:
                db.execute(
                    "INSERT OR IGNORE INTO experiments (name, script, args, created, config) VALUES (?, ?, ?, ?, ?)",
                    (
                        name,
                        script,
                        json.dumps(list(args or [])),
                        _now(),
                        json.dumps(config or {}, default=str),
                    ),
                )
            found = self._find(name)
            assert found is not None
        same_script = script is None or script == found.script
        same_args = args is None or list(args) == found.args
        if not (same_script and same_args):
            was = " ".join([found.script or "?", *found.args])
            now = " ".join([script or found.script or "?", *(found.args if args is None else args)])
            raise SeedlockError(
                f"experiment {name!r} already ran `{was}`, not `{now}`; pick another --name "
                "(results of different commands under one name would make its statistics meaningless)"
            )
        return found

    def _find(self, name: str) -> Experiment | None:
        rows = self._read(
            "SELECT id, name, script, args, created, config FROM experiments WHERE name = ?", (name,)
        )
        return _experiment(rows[0]) if rows else None

    def _unknown(self, name: str) -> SeedlockError:
        names = [e.name for e in self.experiments()]
        if not names:
            return SeedlockError(
                f"no experiment {name!r}: the store {str(self.path)!r} is empty; run `seedlock repeat` first"
            )
        listed = ", ".join(repr(n) for n in names[:20]) + (", ..." if len(names) > 20 else "")
        return SeedlockError(f"no experiment {name!r} in {str(self.path)!r}; experiments there: {listed}")

    def experiments(self) -> list[Experiment]:
        """Every experiment, oldest first."""
        rows = self._read("SELECT id, name, script, args, created, config FROM experiments ORDER BY id")
        return [_experiment(r) for r in rows]

    def _id(self, exp: Experiment | str) -> int:
        if isinstance(exp, Experiment):
            return exp.id
        found = self._find(exp)
        if found is None:
            raise self._unknown(exp)
        return found.id

    def runs(self) -> list[ExperimentRuns]:
        """Each experiment with its trial counts per status (``seedlock runs``)."""
        counts: dict[int, dict[TrialStatus, int]] = {}  # the CHECK constraint keeps statuses to TrialStatus
        last: dict[int, str | None] = {}
        for exp_id, status, n, finished in self._read(
            "SELECT experiment_id, status, COUNT(*), MAX(finished) FROM trials GROUP BY experiment_id, status"
        ):
            counts.setdefault(exp_id, {})[status] = n
            last[exp_id] = max(filter(None, [last.get(exp_id), finished]), default=None)
        return [ExperimentRuns(e, counts.get(e.id, {}), last.get(e.id)) for e in self.experiments()]

    # -- trials ---------------------------------------------------------------------------------

    def start_trial(self, exp: Experiment | str, seed: int, *, replace: bool = False) -> bool:
        """Record ``seed`` as running. Returns False, changing nothing, if it already finished ok
        (another process may have run it); ``replace=True`` discards that result and restarts it."""
        exp_id = self._id(exp)
        with self._write() as db:
            row = db.execute(
                "SELECT id, status FROM trials WHERE experiment_id = ? AND seed = ?", (exp_id, seed)
            ).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO trials (experiment_id, seed, status, started) VALUES (?, ?, 'running', ?)",
                    (exp_id, seed, _now()),
                )
                return True
            if row[1] == "ok" and not replace:
                return False
            db.execute("DELETE FROM metrics WHERE trial_id = ?", (row[0],))
            db.execute(
                "UPDATE trials SET status = 'running', exit_code = NULL, reason = NULL, duration_s = NULL, "
                "stderr_tail = NULL, fingerprint = NULL, manifest = NULL, started = ?, finished = NULL, node = NULL "
                "WHERE id = ?",
                (_now(), row[0]),
            )
        return True

    def finish_trial(
        self,
        exp: Experiment | str,
        seed: int,
        status: TrialStatus,
        exit_code: int | None = None,
        reason: str | None = None,
        duration_s: float | None = None,
        stderr_tail: str | None = None,
        fingerprint: str | None = None,
        manifest: dict[str, Any] | None = None,
        metrics: Iterable[tuple[str, int | None, float]] = (),
        node: dict[str, str] | None = None,
    ) -> None:
        """Record how ``seed`` ended and every metric it reported, in one transaction.

        ``status`` is one of ok, failed, timeout, killed, interrupted, lost; ``node``, where it
        ran (a Ray node's id and host). ``metrics`` are
        ``(name, step or None, value)``; they replace any earlier ones of this trial. Without
        ``duration_s`` the time since :meth:`start_trial` is kept. A trial never started is
        recorded all the same.
        """
        if status not in FINISHED:
            raise ValueError(f"status must be one of {', '.join(FINISHED)}, got {status!r}")
        rows = [metric_row(m) for m in metrics]
        exp_id = self._id(exp)
        now = _now()
        manifest_json = None if manifest is None else json.dumps(manifest, sort_keys=True, default=str)
        node_json = None if node is None else json.dumps(node, sort_keys=True)
        with self._write() as db:
            row = db.execute(
                "SELECT id FROM trials WHERE experiment_id = ? AND seed = ?", (exp_id, seed)
            ).fetchone()
            if row is None:
                cur = db.execute(
                    "INSERT INTO trials (experiment_id, seed, status) VALUES (?, ?, ?)",
                    (exp_id, seed, status),
                )
                trial_id = cur.lastrowid
            else:
                trial_id = row[0]
                db.execute("DELETE FROM metrics WHERE trial_id = ?", (trial_id,))
            db.execute(
                "UPDATE trials SET status = ?, exit_code = ?, reason = ?, "
                "duration_s = COALESCE(?, (julianday(?) - julianday(started)) * 86400.0), "
                "stderr_tail = ?, fingerprint = ?, manifest = ?, finished = ?, node = ? WHERE id = ?",
                (
                    status,
                    exit_code,
                    reason,
                    duration_s,
                    now,
                    stderr_tail,
                    fingerprint,
                    manifest_json,
                    now,
                    node_json,
                    trial_id,
                ),
            )
            db.executemany(
                "INSERT INTO metrics (trial_id, name, step, value) VALUES (?, ?, ?, ?)",
                [(trial_id, *r) for r in rows],
            )

    def trials(self, exp: Experiment | str, status: TrialStatus | None = None) -> list[Trial]:
        """The trials of ``exp`` by seed, all of them or those with ``status``."""
        name = exp.name if isinstance(exp, Experiment) else exp
        sql = (
            "SELECT id, seed, status, exit_code, reason, duration_s, stderr_tail, fingerprint, manifest, "
            "started, finished, node FROM trials WHERE experiment_id = ?"
        )
        params: list[Any] = [self._id(exp)]
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        rows = self._read(sql + " ORDER BY seed", params)
        return [
            Trial(
                id=r[0],
                experiment=name,
                seed=r[1],
                status=r[2],
                exit_code=r[3],
                reason=r[4],
                duration_s=r[5],
                stderr_tail=r[6],
                fingerprint=r[7],
                manifest=None if r[8] is None else json.loads(r[8]),
                started=r[9],
                finished=r[10],
                node=None if r[11] is None else json.loads(r[11]),
            )
            for r in rows
        ]

    def done_seeds(self, exp: Experiment | str) -> set[int]:
        """Seeds that finished ok: a resumed run skips them."""
        return {t.seed for t in self.trials(exp, "ok")}

    def failed_seeds(self, exp: Experiment | str) -> set[int]:
        """Seeds that ended failed, timeout, killed, interrupted or lost (not those still running)."""
        return {t.seed for t in self.trials(exp) if t.status not in ("ok", "running")}


def _experiment(row: tuple[Any, ...]) -> Experiment:
    return Experiment(row[0], row[1], row[2], json.loads(row[3]), row[4], json.loads(row[5]))

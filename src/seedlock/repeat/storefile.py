"""Opening a store file safely: create it atomically, and check a file before SQLite touches it.

A file that is not a seedlock store (not SQLite, another program's database, corrupt, truncated,
or written by a newer seedlock) raises :class:`~seedlock.errors.SeedlockError` and stays
byte-for-byte as it was: the 100-byte header is read by hand (magic, ``application_id``,
``user_version``, page count) and the pages are checked through a read-only connection.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Literal, get_args

from seedlock.errors import SeedlockError

APPLICATION_ID = 0x53454544  # b"SEED": PRAGMA application_id, so we never mistake another program's db
SCHEMA_VERSION = 2  # PRAGMA user_version; 2 added the status "lost" and trials.node
BUSY_TIMEOUT_S = 30.0
# A trial's status, the one list: the store's CHECK constraint, the Trial fields and the CLI use it.
# "lost": the machine that ran it went away (a Ray node died); rerun, as "interrupted" is, by the same command.
TrialStatus = Literal["running", "ok", "failed", "timeout", "killed", "interrupted", "lost"]
STATUSES: tuple[TrialStatus, ...] = get_args(TrialStatus)
FINISHED: tuple[TrialStatus, ...] = STATUSES[1:]
FAILED: tuple[TrialStatus, ...] = ("failed", "timeout", "killed")  # skipped on a rerun unless --retry-failed
_MAGIC = b"SQLite format 3\x00"

_TRIALS = f"""
CREATE TABLE {{name}} (
    id INTEGER PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ({", ".join(repr(s) for s in STATUSES)})),
    exit_code INTEGER,
    reason TEXT,
    duration_s REAL,
    stderr_tail TEXT,
    fingerprint TEXT,
    manifest TEXT,                        -- JSON object
    started TEXT,
    finished TEXT,
    node TEXT,                            -- JSON object {{"id", "host"}}: the Ray node that ran it
    UNIQUE (experiment_id, seed)
);
"""
_SCHEMA = f"""
CREATE TABLE experiments (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    script TEXT,
    args TEXT NOT NULL DEFAULT '[]',      -- JSON list of strings
    created TEXT NOT NULL,                -- ISO 8601, UTC
    config TEXT NOT NULL DEFAULT '{{}}'   -- JSON object
);
{_TRIALS.replace("{name}", "trials")}
CREATE TABLE metrics (
    trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    step INTEGER,                         -- NULL: one value for the whole run
    value REAL                            -- NULL: NaN (SQLite has no NaN)
);
CREATE INDEX metrics_by_trial ON metrics (trial_id, name);
"""


def _not_a_store(path: Path, why: str) -> SeedlockError:
    return SeedlockError(
        f"{str(path)!r} is not a seedlock store ({why}); pass another --store path or move it away"
    )


def check_header(path: Path) -> None:
    """Raise unless ``path`` starts like a seedlock store of our schema version; reads, never writes."""
    for attempt in range(4):  # 0.18 s in all at worst
        with open(path, "rb") as f:
            head = f.read(100)
            size = os.fstat(f.fileno()).st_size
        if not head.startswith(_MAGIC):
            raise _not_a_store(path, "file is not a database" if head else "file is empty")
        if len(head) < 100:
            raise _not_a_store(path, "file is truncated")
        if int.from_bytes(head[68:72], "big") != APPLICATION_ID:
            raise _not_a_store(path, "a SQLite database, but not one seedlock made")
        version = int.from_bytes(head[60:64], "big")
        if version > SCHEMA_VERSION:
            raise SeedlockError(
                f"{str(path)!r} was written by a newer seedlock (store version {version}, this one reads "
                f"{SCHEMA_VERSION}); upgrade seedlock (pip install -U seedlock) or pass another --store"
            )
        if version not in (1, SCHEMA_VERSION):  # 1 is upgraded when opened (:func:`upgrade`)
            raise _not_a_store(path, f"unknown store version {version}")
        page = int.from_bytes(head[16:18], "big")
        page = 65536 if page == 1 else page
        pages = int.from_bytes(head[28:32], "big")
        header_valid = head[24:28] == head[92:96]  # SQLite's own rule for trusting the page count
        if not header_valid or pages * page <= size:
            return
        # A checkpoint in another process writes page 1 before it extends the file: look again.
        if attempt < 3:
            time.sleep(0.03 * (attempt + 1))
    raise SeedlockError(
        f"{str(path)!r} is truncated ({size} bytes, its header says {pages * page}); "
        "restore it from a backup or pass another --store"
    )


def verify(path: Path) -> None:
    """Open read-only and let SQLite check the pages; a corrupt file stays as it was."""
    side = [Path(f"{path}{suffix}") for suffix in ("-wal", "-shm")]
    existed = [p.exists() for p in side]
    problem: str | None = None
    try:
        ro = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
        try:
            rows = ro.execute("PRAGMA quick_check").fetchall()
            if rows != [("ok",)]:
                text = " ".join(str(r[0]).replace("*** in database main ***", "") for r in rows[:3])
                problem = " ".join(text.split())  # one line
        finally:
            ro.close()
    except sqlite3.OperationalError:
        raise  # cannot open (permissions, a read-only directory): not corruption, the caller says so
    except sqlite3.DatabaseError as exc:
        problem = str(exc)
    if problem is not None:
        for p, was_there in zip(side, existed, strict=True):
            if not was_there:  # read-only SQLite may leave empty -wal/-shm files behind: tidy up ours
                with contextlib.suppress(OSError):
                    p.unlink()
        raise SeedlockError(
            f"store {str(path)!r} is corrupt ({problem}); restore it from a backup or pass another --store"
        )


def create(path: Path) -> None:
    """Build a new store beside ``path`` and link it into place: no one ever sees half a store."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        con = sqlite3.connect(tmp, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=WAL")  # persistent: stored in the file header
            con.execute(f"PRAGMA application_id={APPLICATION_ID}")
            con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            con.executescript(_SCHEMA)
        finally:
            con.close()  # checkpoints the WAL into the file and removes it
        try:
            os.link(tmp, path)  # atomic, and fails if a concurrent process got there first
        except FileExistsError:
            pass
        except OSError:  # a filesystem without hard links
            if not path.exists():
                os.replace(tmp, path)
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(OSError):
                os.unlink(f"{tmp}{suffix}")


_V1_COLUMNS = (
    "id, experiment_id, seed, status, exit_code, reason, duration_s, stderr_tail, fingerprint, manifest, "
    "started, finished"
)


def upgrade(con: sqlite3.Connection) -> None:
    """Bring a version-1 store to version 2 in one transaction (SQLite cannot alter a CHECK
    constraint: the trials table is rebuilt). Safe to call on any store, from any process."""
    if con.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
        return
    con.execute("PRAGMA foreign_keys=OFF")  # not inside a transaction; the metrics keep their rows
    try:
        con.execute("BEGIN IMMEDIATE")
        try:
            if con.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:  # not done meanwhile
                con.execute(_TRIALS.replace("{name}", "trials_v2"))
                con.execute(f"INSERT INTO trials_v2 ({_V1_COLUMNS}) SELECT {_V1_COLUMNS} FROM trials")
                con.execute("DROP TABLE trials")
                con.execute("ALTER TABLE trials_v2 RENAME TO trials")
                con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
    finally:
        con.execute("PRAGMA foreign_keys=ON")

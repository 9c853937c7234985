"""Output paths checked before any work starts, so that a path that cannot be written is one
line and exit code 2, not an ``OSError`` traceback after the run (or in the launched script).

Imported by ``seedlock run``'s click-free fast path: keep it to ``os``.
"""

from __future__ import annotations

import os

from seedlock.errors import SeedlockError


def check_output(
    path: str | os.PathLike[str], option: str, example: str, *, given: str | None = None
) -> None:
    """Raise :class:`SeedlockError` unless a file can be written at ``path``: not a directory,
    and its nearest existing folder a writable directory (the writers create missing folders).

    The message names ``option`` and ``given`` (what the user typed, default ``path``), and
    suggests ``example``, e.g. ``--html report.html``.
    """
    text = os.fspath(path)
    what = f"{option} {given if given is not None else text!r}"
    if not text:
        raise SeedlockError(f"{what if given else option} names no file; pass a file path, e.g. {example}")
    if os.path.isdir(text) or text.endswith(("/", os.sep)):
        raise SeedlockError(f"{what} is a directory; pass a file path, e.g. {example}")
    folder = os.path.dirname(os.path.abspath(text))
    while not os.path.lexists(folder):
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):  # a file (or a dangling link) where a folder must be
        raise SeedlockError(f"{what}: {folder!r} is not a directory; pass a path in a directory")
    if os.path.exists(text) and not os.access(text, os.W_OK):  # exists: a dangling link is written through
        raise SeedlockError(f"{what}: cannot write it (permission denied); pass another path")
    # Create a file rather than ask os.access: root passes access() on folders that still refuse
    # new files (/proc, some network and FUSE mounts).
    probe = os.path.join(folder, f".seedlock-probe-{os.getpid()}-{os.urandom(4).hex()}")
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        raise SeedlockError(
            f"{what}: cannot create files in {folder!r} ({exc.strerror}); pass a path in a writable directory"
        ) from None
    os.unlink(probe)


def check_output_dir(path: str | os.PathLike[str], option: str, example: str) -> None:
    """:func:`check_output` for a directory to write files in: it may exist already (a second
    ``seedlock check --workdir DIR``), or be made."""
    text = os.fspath(path)
    if os.path.lexists(text) and not os.path.isdir(text):
        raise SeedlockError(f"{option} {text!r} is not a directory; pass a directory, e.g. {example}")
    check_output(os.path.join(text, ".seedlock-dir"), option, example, given=text)


def check_sqlite_uri(uri: str, option: str, example: str) -> None:
    """:func:`check_output` for the file of a ``sqlite:///PATH`` URI (MLflow's); other URIs pass."""
    if not uri.startswith("sqlite:///"):
        return  # a server, databricks...: MLflow's own message, when it connects
    path = uri.removeprefix("sqlite:///").partition("?")[0]
    if path != ":memory:":
        check_output(path, option, example, given=uri)

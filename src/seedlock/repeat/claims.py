"""Which ``seedlock repeat`` process runs which seed, when several share one store.

:meth:`Store.start_trial` refuses a seed that finished ok, but restarts one marked ``running``:
it cannot tell a trial another live process is running from one whose process died. So before
``start_trial`` a process takes a POSIX byte-range lock on the file ``STORE.claims``, one byte
per (experiment, seed). The lock is held until the trial is recorded, and the kernel drops it
when the process dies however it dies, so a seed left ``running`` by a killed ``seedlock repeat``
is free to take again, and one being run elsewhere is skipped.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "seedlock.db")
>>> claims = Claims(path)
>>> claims.take(1, 7), claims.take(1, 7)  # POSIX locks are per process: we hold it already
(True, True)
>>> claims.release(1, 7); claims.close()
"""

from __future__ import annotations

import fcntl
import os

from seedlock.errors import SeedlockError


class Claims:
    """Byte-range locks on ``STORE.claims``; one instance (one open file) per process.

    POSIX locks belong to the process and vanish when *any* descriptor of the file is closed:
    hence one descriptor, held for the life of the run.
    """

    def __init__(self, store_path: str | os.PathLike[str]) -> None:
        self.path = f"{os.fspath(store_path)}.claims"
        try:
            self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise SeedlockError(
                f"cannot open {self.path!r} ({exc.strerror}); check the permissions of the "
                "store's directory, or pass another --store"
            ) from None

    @staticmethod
    def _offset(exp_id: int, seed: int) -> int:
        return (exp_id << 32) | seed  # seeds are < 2**32

    def take(self, exp_id: int, seed: int) -> bool:
        """Lock the seed; False (at once) when another process holds it."""
        assert self._fd is not None
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, self._offset(exp_id, seed))
        except (BlockingIOError, PermissionError):
            return False
        return True

    def release(self, exp_id: int, seed: int) -> None:
        if self._fd is not None:
            fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, self._offset(exp_id, seed))

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

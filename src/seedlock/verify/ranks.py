"""Which rank of a distributed run failed first, and what it said: torchrun's failure summary
names the rank ("Root Cause (first observed failure)"), and each rank's uncaught error reaches
stderr prefixed ``[rankN]:``, often far above the launcher's own traceback.

>>> err = "[rank1]: Traceback (most recent call last):\\n[rank1]: ValueError: bad shard\\n" + (
...     "Root Cause (first observed failure):\\n[0]:\\n  rank      : 1 (local_rank: 1)\\n"
...     "  exitcode  : 1 (pid: 7)\\n")
>>> failed_rank(err)
('1', '1', ['Traceback (most recent call last):', 'ValueError: bad shard'])
"""

from __future__ import annotations

import re

ROOT = "Root Cause (first observed failure):"
_RANK = re.compile(r"^\s*rank\s*:\s*(\d+)")
_CODE = re.compile(r"^\s*exitcode\s*:\s*(-?\d+)")


def failed_rank(stderr: str, keep: int = 15) -> tuple[str, str, list[str]] | None:
    """``(rank, exit code, that rank's last stderr lines)`` from torchrun's summary, else None."""
    if ROOT not in stderr:
        return None
    block = stderr.split(ROOT, 1)[1].splitlines()
    rank = next((m.group(1) for line in block if (m := _RANK.match(line))), None)
    code = next((m.group(1) for line in block if (m := _CODE.match(line))), "?")
    if rank is None:
        return None
    prefix = f"[rank{rank}]: "
    own = [line[len(prefix) :] for line in stderr.splitlines() if line.startswith(prefix)]
    return rank, code, own[-keep:]

"""How often check catches a result that one bit of OS entropy reaches (audit.draws; issue 18).

tests/scripts/entropy/uuid4_shard.py trains on the half of its data that ``uuid.uuid4().int % 2``
picks. Two plain draws pick the same half in one pair of runs in two, which a check without
mirror-image draws would call REPRODUCIBLE. Measured in one run: how many of N pairs of
``seedlock run`` (the OS's entropy, as check's runs had before) printed the same result, and how
many of N ``seedlock check``s said NOT REPRODUCIBLE with the uuid4 line as the first cause.

Usage: python benchmarks/mirror_draws.py [N]   (default 20)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import PY, clean_env  # noqa: E402

SCRIPT = Path(__file__).resolve().parent.parent / "tests" / "scripts" / "entropy" / "uuid4_shard.py"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    seedlock = [str(Path(PY).with_name("seedlock"))]
    env = clean_env()
    alike = 0
    for _ in range(n):
        outs = [
            subprocess.run(
                [*seedlock, "run", str(SCRIPT)], env=env, capture_output=True, text=True, check=True
            ).stdout
            for _ in range(2)
        ]
        alike += outs[0] == outs[1]
    caught = 0
    for _ in range(n):
        with tempfile.TemporaryDirectory() as cwd:
            p = subprocess.run(
                [*seedlock, "check", "--json", "--no-localize", "--no-explain", str(SCRIPT)],
                env=env,
                cwd=cwd,
                capture_output=True,
                text=True,
            )
        data = json.loads(p.stdout)
        first = (data.get("causes") or [{}])[0]
        caught += data.get("reproducible") is False and "uuid.uuid4()" in str(first.get("message"))
    print(
        f"plain pairs of `seedlock run` alike (a check without mirrored draws: REPRODUCIBLE): {alike} of {n}"
    )
    print(f"`seedlock check` NOT REPRODUCIBLE, first cause the uuid4 line: {caught} of {n}")


if __name__ == "__main__":
    main()

"""Issue 18's number: on this repository's corpus of NOT REPRODUCIBLE scripts, the share whose
first-ranked cause is the true one (target: all).

Each entry: a script (with its arguments and check's flags) and what its true cause is, written
from reading the script, as text the first cause's message, rule or location must contain. Prints
one line a script, then the share.

    python benchmarks/cause_accuracy.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _util import clean_env

ROOT = Path(__file__).resolve().parent.parent
S = ROOT / "tests" / "scripts"

# (flags + script + args, what the true first cause must mention, why)
CORPUS: list[tuple[list[str], str, str]] = [
    ([str(S / "check" / "unseeded_rng.py")], "default_rng", "np.random.default_rng() without a seed"),
    ([str(S / "check" / "clock_seed.py")], "clock", "a seed taken from the clock"),
    # its threads sleep a SystemRandom jitter: a true draw, but only a duration; the order is the cause
    ([str(S / "check" / "thread_order.py")], "completion order", "floats summed in thread-completion order"),
    ([str(S / "check" / "uuid_order.py")], "uuid", "records keyed by uuid4"),
    ([str(S / "check" / "torch_planted.py")], "urandom", "os.urandom noise in a module"),
    ([str(S / "check" / "keras_planted.py")], "urandom", "os.urandom noise in a layer"),
    (
        ["--plain", str(S / "check" / "keras3_tf_seed.py")],
        "SL505",
        "tf.random.set_seed does not seed Keras 3",
    ),
    ([str(S / "entropy" / "uuid4_keys.py")], "uuid", "uuid4 keys"),
    ([str(S / "entropy" / "urandom_noise.py")], "urandom", "os.urandom"),
    ([str(S / "entropy" / "secrets_pick.py")], "secrets", "secrets"),
    ([str(S / "entropy" / "system_random.py")], "SystemRandom", "random.SystemRandom"),
    ([str(S / "entropy" / "default_rng.py")], "default_rng", "unseeded default_rng"),
    ([str(S / "entropy" / "clock_seed.py")], "clock", "a seed from the clock"),
    ([str(S / "entropy" / "identity_set.py")], "identity", "a set of objects hashed by identity"),
    (["--plain", str(S / "entropy" / "str_set.py")], "hash seed", "a set of str under --plain"),
    ([str(S / "explain" / "os_entropy.py")], "urandom", "os.urandom"),
    # a race: two runs can come out equal by chance (check says so); four rarely do
    (["--runs", "4", str(S / "explain" / "thread_sum.py")], "thread", "floats summed in thread order"),
    # 64 quick tasks on 4 workers that start together: no two runs hand them out alike (8 tasks on
    # 2 workers: the first worker up ran all eight in most runs, equal by luck, no verdict)
    (
        [str(S / "multiproc" / "pool_tasks.py"), "pool", "worker", "4", "64"],
        "process-pool",
        "pool tasks on other workers",
    ),
    (["--steps", "20", str(S / "live" / "long_loop.py"), "diverge"], "urandom", "os.urandom nudge at step 3"),
]


def first_cause(args: list[str]) -> tuple[int, str]:
    with tempfile.TemporaryDirectory() as tmp:
        p = subprocess.run(
            # the causes as ranked: --explain's reruns (on their own after a short NOT) change none
            [sys.executable, "-m", "seedlock", "check", "--json", "--no-localize", "--no-explain", *args],
            env=clean_env(OMP_NUM_THREADS="2"),
            capture_output=True,
            text=True,
            cwd=tmp,
        )
    try:
        data = json.loads(p.stdout)
    except ValueError:
        return p.returncode, f"(no JSON: {p.stderr.strip().splitlines()[-1:] or ''})"
    causes = data.get("causes") or []
    if data.get("reproducible") is not False:
        return p.returncode, f"(verdict {data.get('reproducible')}: {str(data.get('error'))[:120]})"
    if not causes:
        return p.returncode, "(no cause)"
    c = causes[0]
    return (
        p.returncode,
        f"{c.get('rule') or ''} {c['message']}",
    )  # not its location: a file's name is no cause


def main() -> None:
    right = 0
    for args, needle, why in CORPUS:
        code, cause = first_cause(args)
        ok = code == 1 and needle.lower() in cause.lower()
        right += ok
        name = " ".join(Path(a).name if a.endswith(".py") else a for a in args)
        print(f"{'RIGHT' if ok else 'WRONG'}  {name}: true cause {why}; first cause: {cause[:150]}")
    print(f"first-ranked cause true: {right} of {len(CORPUS)} ({right / len(CORPUS):.0%}; target: all)")


if __name__ == "__main__":
    main()

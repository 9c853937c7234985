"""Prints, as JSON, what each kind of OS-entropy draw gave in this process, its multiprocessing
workers (fork, spawn, forkserver), a plain subprocess and two children that inherit one RANK:
tests/test_entropy.py launches it with check's $SEEDLOCK_DRAWS to see the draws repeat in run 1
and mirror in run 2."""

import json
import multiprocessing as mp
import os
import random
import secrets
import subprocess
import sys
import uuid

import numpy as np


def worker_draw(q):
    q.put(os.urandom(8).hex())


def child_draw(env=None):
    code = "import os; print(os.urandom(8).hex())"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env
    ).stdout.strip()


def in_worker(method):
    ctx = mp.get_context(method)
    q = ctx.Queue()
    p = ctx.Process(target=worker_draw, args=(q,))
    p.start()
    got = q.get()
    p.join()
    return got


if __name__ == "__main__":
    sysrand = random.SystemRandom()
    out = {
        "urandom": os.urandom(8).hex(),
        "uuid4": uuid.uuid4().hex,
        "random": sysrand.random(),
        "getrandbits": sysrand.getrandbits(13),
        "randbelow": secrets.randbelow(6),
        "choice": secrets.choice("abcdefg"),
        "token_hex": secrets.token_hex(4),
        "numpy": int(np.random.default_rng().integers(2**62)),
        "Random": random.Random().random(),
        "fork": in_worker("fork"),
        "spawn": in_worker("spawn"),
        "forkserver": in_worker("forkserver"),
        "subprocess": child_draw(),
        "same_rank": [child_draw({**os.environ, "RANK": "0"}) for _ in range(2)],
    }
    print(json.dumps(out))

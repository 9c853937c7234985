"""Prints, as JSON, what each kind of OS-entropy draw gave in this process, its multiprocessing
workers (fork, spawn, forkserver), a plain subprocess and two children that inherit one RANK:
tests/test_entropy.py launches it with check's $SEEDLOCK_DRAWS to see the draws repeat in run 1
and mirror in run 2."""

import json
import multiprocessing as mp
import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import uuid

import numpy as np


def worker_draw(q):
    q.put(os.urandom(8).hex())


def child_draw(env=None):
    """A Python subprocess running a file of the user's (draw_child.py), which draws 8 bytes."""
    child = os.path.join(os.path.dirname(os.path.abspath(__file__)), "draw_child.py")
    return subprocess.run([sys.executable, child], capture_output=True, text=True, env=env).stdout.strip()


def c_fork():
    """A fork made from C (an extension's), which runs none of Python's fork handlers: parent and
    child draw at one line after it, and must not draw alike."""
    import ctypes

    r, w = os.pipe()
    pid = ctypes.PyDLL(None).fork()  # PyDLL: the GIL stays held across the call
    drawn = os.urandom(8)  # one line, in both processes
    if pid == 0:
        os.write(w, drawn)
        os._exit(0)
    os.waitpid(pid, 0)
    return [drawn.hex(), os.read(r, 8).hex()]


def draw_one():
    os.urandom(1)  # from this file: recorded and steered, so it takes both locks


def fork_while_held():
    """A fork worker's first draw while another thread of the parent held the record's lock at the
    fork (as a thread drawing at that moment does): the child must not wait for it forever."""
    try:
        from seedlock.audit import entropy
    except ImportError:
        return "no seedlock"
    held, release = threading.Event(), threading.Event()

    def hold():
        with entropy._lock:
            held.set()
            release.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait()
    p = mp.get_context("fork").Process(target=draw_one)
    p.start()
    release.set()
    holder.join()
    p.join(20)
    if p.is_alive():
        p.kill()
        return "hung"
    return f"exit {p.exitcode}"


def signal_while_held():
    """A signal handler that draws, run while its thread is inside a draw's record (raise_signal
    runs the handler before it returns): it must not wait for its own thread."""
    try:
        from seedlock.audit import entropy
    except ImportError:
        return "no seedlock"
    drawn = []
    signal.signal(signal.SIGUSR1, lambda *_: drawn.append(os.urandom(2).hex()))
    with entropy._lock:
        signal.raise_signal(signal.SIGUSR1)
    return "ok" if drawn else "no draw"


def in_worker(method):
    ctx = mp.get_context(method)
    q = ctx.Queue()
    p = ctx.Process(target=worker_draw, args=(q,))
    p.start()
    got = q.get()
    p.join()
    return got


if __name__ == "__main__":
    forked_from_c = c_fork()  # first: no other thread yet
    sysrand = random.SystemRandom()
    out = {
        "urandom": os.urandom(8).hex(),
        "uuid4": uuid.uuid4().hex,
        "random": sysrand.random(),
        "getrandbits": sysrand.getrandbits(13),
        "numpy_size": int(sysrand.getrandbits(np.int64(40))),
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
        "fork_while_held": fork_while_held(),
        "signal_while_held": signal_while_held(),
        "c_fork": forked_from_c,
    }
    print(json.dumps(out))

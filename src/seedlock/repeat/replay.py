"""Random numbers the imports draw, replayed in each forked trial so that it equals a cold run.

Importing TensorFlow draws from Python's ``random`` (one word) and from NumPy's global state
(ten words). In a fresh ``seedlock run --seed S`` process those draws come *after* the seeding,
so the script starts from ``seed(S)`` advanced by them. A forked trial inherits modules already
imported, and its seeding comes after the draws: it would start from plain ``seed(S)``.

So the zygote seeds with a known seed ``P`` before it imports (as a fresh process would), then
:func:`measure` finds how many 32-bit words each Mersenne Twister was advanced by since its
seeding; each forked trial seeds with ``S`` and :func:`advance` draws as many. Draws that are
not a plain advance (a reseed, a cached Gaussian) cannot be replayed: :func:`measure` says so
and the trials run in fresh processes.

>>> import random
>>> _ = random.seed(5), random.random(), random.getrandbits(64)
>>> measure(5, limit=10_000)[0]["random"]
4
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from typing import Any

_N = 624  # words in an MT19937 state


def _pos_after(pos: int, k: int) -> int:
    """Where an MT19937 at ``pos`` is after ``k`` words (it regenerates when ``pos`` reaches 624)."""
    if pos + k <= _N:
        return pos + k
    return (pos + k - _N - 1) % _N + 1


def _candidates(pos0: int, pos1: int, limit: int) -> list[int]:
    out = [pos1 - pos0] if pos1 >= pos0 else []
    k = pos1 + _N - pos0
    while k <= limit:
        if k > 0:
            out.append(k)
        k += _N
    return sorted(k for k in set(out) if _pos_after(pos0, k) == pos1)


def _distance(
    gen: Any, pos0: int, pos1: int, draw: Callable[[Any, int], None], same: Callable[[Any], bool], limit: int
) -> int | None:
    """Words between ``gen`` (at ``pos0``) and the target state (at ``pos1``), or None."""
    done = 0
    for k in _candidates(pos0, pos1, limit):
        draw(gen, k - done)
        done = k
        if same(gen):
            return k
    return None


def _py_draw(gen: random.Random, n: int) -> None:
    if n > 0:
        gen.getrandbits(32 * n)  # exactly n words


def _np_draw(gen: Any, n: int) -> None:
    if n > 0:
        gen.bytes(4 * n)  # RandomState.bytes: one word per 4 bytes


def _tf_rng() -> random.Random | None:
    """TensorFlow's eager op-seed generator (a ``random.Random`` seeded by ``tf.random.set_seed``)."""
    if "tensorflow" not in sys.modules:
        return None
    try:
        from tensorflow.python.eager import context

        rng = getattr(context.context(), "_rng", None)
    except Exception:  # a TF we do not know
        return None
    return rng if isinstance(rng, random.Random) else None


def measure(seed: int, limit: int = 1 << 20) -> tuple[dict[str, int], list[str]]:
    """``({generator: words drawn since seeding with seed}, [generators that cannot be replayed])``."""
    draws: dict[str, int] = {}
    problems: list[str] = []

    def python_like(name: str, current: random.Random | Any) -> None:
        target = current.getstate()
        gen = random.Random(seed)
        k = _distance(
            gen, gen.getstate()[1][-1], target[1][-1], _py_draw, lambda g: g.getstate() == target, limit
        )
        if k is None:
            problems.append(name)
        elif k:
            draws[name] = k

    python_like("random", random)
    tf_rng = _tf_rng()
    if tf_rng is not None:
        python_like("tensorflow", tf_rng)
    np = sys.modules.get("numpy")
    if np is not None:
        target = np.random.get_state()
        gen = np.random.RandomState(seed)

        def same(g: Any) -> bool:
            s = g.get_state()
            return bool(
                s[2] == target[2] and s[3] == target[3] and s[4] == target[4] and (s[1] == target[1]).all()
            )

        k = _distance(gen, gen.get_state()[2], target[2], _np_draw, same, limit)
        if k is None:
            problems.append("numpy")
        elif k:
            draws["numpy"] = k
    return draws, problems


def advance(draws: dict[str, int]) -> None:
    """In a forked trial, just after seeding: draw what the imports drew in a cold run."""
    _py_draw(random, draws.get("random", 0))  # type: ignore[arg-type]  # the module acts as a Random
    if draws.get("numpy"):
        _np_draw(sys.modules["numpy"].random, draws["numpy"])
    tf_rng = _tf_rng() if draws.get("tensorflow") else None
    if tf_rng is not None:
        _py_draw(tf_rng, draws["tensorflow"])

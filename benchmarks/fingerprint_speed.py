"""How fast is seedlock.fingerprint? Against a memory copy, NumPy's sum, SHA-256 and raw xxh3_128.

Usage: python benchmarks/fingerprint_speed.py [--gib 1]

One run, single-threaded (BLAS pinned to one thread: the summaries use BLAS dot), on 1 GiB of
float32 from np.random.default_rng(0).standard_normal. Each timing is the best of 3 interleaved rounds.
Target: seedlock.fingerprint at >= 0.8x the throughput of the memory copy.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before NumPy loads BLAS

import argparse  # noqa: E402
import hashlib  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402
import xxhash  # noqa: E402

from seedlock.fingerprint import fingerprint  # noqa: E402


def best_of(cases: list[tuple[str, Callable[[], object]]], repeat: int = 3) -> dict[str, float]:
    """Best time of each case; rounds interleave the cases, so a busy moment hurts all alike."""
    best = {name: float("inf") for name, _ in cases}
    for _ in range(repeat):
        for name, fn in cases:
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0, help="data size in GiB (default 1)")
    args = parser.parse_args()
    n = int(args.gib * 2**30) // 4
    data = np.random.default_rng(0).standard_normal(n, dtype=np.float32)
    dest = np.empty_like(data)
    dest.fill(0)  # fault the pages in: the copy must not time page faults
    nbytes = data.nbytes

    cases: list[tuple[str, Callable[[], object]]] = [
        ("memcpy (np.copyto)", lambda: np.copyto(dest, data)),
        ("numpy.sum", lambda: data.sum()),
        ("hashlib.sha256", lambda: hashlib.sha256(data.data).digest()),
        ("xxh3_128 raw", lambda: xxhash.xxh3_128(data.data).digest()),
        ("seedlock.fingerprint", lambda: fingerprint(data)),
        ("  summaries=False", lambda: fingerprint(data, summaries=False)),
    ]
    print(
        f"{nbytes / 2**30:.2f} GiB float32, best of 3, single-threaded; "
        f"{platform.processor() or platform.machine()}, numpy {np.__version__}, xxhash {xxhash.VERSION}"
    )
    rates = {name: nbytes / t / 1e9 for name, t in best_of(cases).items()}
    memcpy = rates["memcpy (np.copyto)"]
    print(f"{'':24}{'GB/s':>8}  {'x memcpy':>8}")
    for name, rate in rates.items():
        print(f"{name:24}{rate:8.2f}  {rate / memcpy:8.2f}")
    ratio = rates["seedlock.fingerprint"] / memcpy
    print(f"seedlock/memcpy = {ratio:.2f} (target >= 0.80: {'met' if ratio >= 0.8 else 'NOT met'})")


if __name__ == "__main__":
    main()

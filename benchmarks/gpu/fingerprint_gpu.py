"""Fingerprint 1 B float32 parameters on the GPU: ``dh1`` on the device vs copying to the host.

    python benchmarks/gpu/fingerprint_gpu.py                  # 1e9 float32 (4 GB) on CUDA
    python benchmarks/gpu/fingerprint_gpu.py --numel 250000000

On CUDA: times ``torch_digest(t, compile=True)`` (target <= 3 ms for 4 GB on an H100, whose
HBM needs ~1.3 ms just to read it), beside a plain read of the tensor (``t.sum()``), the
eager path, both lane accumulators, JAX on the same buffer (through DLPack, no copy), and
today's host path (copy to the host, xxh3). Checks that all of them give one digest and that
it equals ``numpy_digest`` of the same bytes on a slice (``--verify-numel``). Exit status 1
if any digest disagrees.

Without CUDA: a small size, CPU implementations only ("no GPU: CPU path only").
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # JAX beside torch on one GPU


def cuda_ms(fn: Callable[[], Any], reps: int) -> float:
    """Median wall time of ``fn()`` in ms, synchronised: a digest ends in a host read anyway."""
    import torch

    times = []
    for _ in range(reps):
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def _wall_ms(fn: Callable[[], Any], reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def sweep_cuda() -> bool:
    """Every dtype, odd sizes and views, on the GPU: compiled == eager == JAX == numpy_digest."""
    import numpy as np
    import torch

    from seedlock.fingerprint import devicehash as dh
    from seedlock.fingerprint import dh1_torch as dht

    bad = 0
    rng = np.random.default_rng(0)
    for dtype in (
        torch.float32,
        torch.float16,
        torch.bfloat16,
        torch.float64,
        torch.int8,
        torch.uint8,
        torch.int16,
        torch.int32,
        torch.int64,
        torch.bool,
        torch.complex64,
        torch.float8_e4m3fn,
    ):
        for n in (0, 1, 3, 7, 1000, 4097, 1 << 20, (1 << 24) + 3):
            raw = torch.from_numpy(rng.integers(0, 256, n * dtype.itemsize, dtype=np.uint8))
            t = (
                (raw % 2).bool()
                if dtype == torch.bool
                else raw.view(dtype)
                if n
                else torch.empty(0, dtype=dtype)
            )
            views = {"flat": t.cuda(), "strided": t.cuda()[::2], "offset": t.cuda()[1:]}
            for view, x in views.items():
                host = torch.empty(x.shape, dtype=dtype).copy_(x.cpu())  # fresh strides, even for 1 item
                expected = dh.numpy_digest(
                    host.reshape(-1).view(torch.uint8).numpy(), dtype=str(dtype)[6:], shape=tuple(x.shape)
                )
                got = {
                    "compiled": dh.torch_digest(x, compile=True),
                    "eager": dh.torch_digest(x, compile=False),
                }
                try:
                    import jax.dlpack

                    if dtype not in (
                        torch.bool,
                        torch.complex64,
                        torch.float8_e4m3fn,
                        torch.float64,
                        torch.int64,
                    ):
                        got["jax"] = dh.jax_digest(jax.dlpack.from_dlpack(x.contiguous()))
                except Exception as exc:  # JAX absent or without this dtype over DLPack: torch still counts
                    got["jax"] = f"skipped ({type(exc).__name__})"
                wrong = {k: v for k, v in got.items() if v != expected and not v.startswith("skipped")}
                if wrong:
                    bad += 1
                    print(f"  MISMATCH {dtype} n={n} {view}: numpy {expected}, {wrong}")
    fns = dht._compiled_fns(torch.device("cuda"))  # the compiled kernels on sizes under the threshold too
    for n in (
        2,
        3,
        17,
        dht._ROW - 1,
        2 * dht._ROW - 1,
        2 * dht._ROW,
        2 * dht._ROW + 1,
        3 * dht._ROW + 5,
        (1 << 20) + 7,
    ):
        w = torch.from_numpy(rng.integers(0, 256, 4 * n, dtype=np.uint8).view(np.int32)).cuda()
        for base in (0, 12345):
            got = dht._sum_lanes(dht._torch_chunk_lanes(w, base, fns))
            if fns is None or got != dh._np_lanes(w.cpu().numpy().view(np.uint32), base):
                bad += 1
                print(f"  MISMATCH compiled kernels n={n} base={base} (compiled: {fns is not None})")
    print(
        f"dtype/size/view sweep on CUDA: {'all agree with numpy_digest' if not bad else f'{bad} MISMATCHES'}"
    )
    return bad == 0


def summaries_cuda() -> bool:
    """fingerprint()'s sum and L2 norm of CUDA tensors and JAX GPU arrays (reduced on the device)
    against the host's, for every dtype that has them: equal up to reduction order."""
    import math

    import numpy as np
    import torch

    from seedlock.fingerprint import fingerprint

    rng = np.random.default_rng(1)
    values = rng.standard_normal(4097) * 3
    bad = 0
    cases: dict[str, tuple[object, object]] = {}
    for dtype in (
        torch.float32,
        torch.float16,
        torch.bfloat16,
        torch.float64,
        torch.int8,
        torch.uint8,
        torch.int32,
        torch.int64,
        torch.bool,
    ):
        host = torch.from_numpy(values).to(dtype) if dtype != torch.bool else torch.from_numpy(values > 0)
        cases[f"torch {str(dtype)[6:]}"] = (host.cuda(), host)
    try:
        import jax
        import jax.numpy as jnp

        gpu_dev = jax.devices()[0]
        for name in ("float32", "float16", "bfloat16", "int8", "int32", "bool"):
            a = np.asarray(values > 0) if name == "bool" else jnp.asarray(values).astype(name)
            cases[f"jax {name}"] = (jax.device_put(a, gpu_dev), np.asarray(a))
    except Exception as exc:  # no JAX GPU backend: torch's cases still count
        print(f"  JAX summaries: skipped ({type(exc).__name__})")
    for name, (device_x, host_x) in cases.items():
        d, h = fingerprint(device_x).tensors["value"], fingerprint(host_x).tensors["value"]
        close = (
            d.sum is not None
            and h.sum is not None
            and d.l2 is not None
            and h.l2 is not None
            and math.isclose(d.sum, h.sum, rel_tol=1e-4, abs_tol=1e-3)
            and math.isclose(d.l2, h.l2, rel_tol=1e-5)
        )
        if not (close and d.algorithm == "dh1"):
            bad += 1
            print(
                f"  MISMATCH summaries {name}: device {d.algorithm} sum={d.sum} l2={d.l2}, host sum={h.sum} l2={h.l2}"
            )
    print(
        f"summaries on the device ({len(cases)} dtypes, torch and JAX): "
        f"{'all agree with the host' if not bad else f'{bad} MISMATCHES'}"
    )
    return bad == 0


def gpu(args: argparse.Namespace) -> int:
    import torch

    from seedlock.fingerprint import devicehash as dh
    from seedlock.fingerprint import dh1_torch as dht
    from seedlock.fingerprint import tensor_digest

    free, total = torch.cuda.mem_get_info()
    numel = args.numel
    if numel * 4 * 1.5 > free:  # the eager path needs chunk temporaries; the host path needs nothing more
        numel = 250_000_000
        print(f"only {free / 2**30:.1f} GiB free: using {numel:,} parameters")
    gb = numel * 4 / 1e9
    print(f"device: {torch.cuda.get_device_name()} ({total / 2**30:.0f} GiB), torch {torch.__version__}")
    print(f"tensor: {numel:,} float32 = {gb:.2f} GB")
    g = torch.Generator(device="cuda").manual_seed(0)
    t = torch.randn(numel, device="cuda", generator=g)
    ok = sweep_cuda()
    ok = summaries_cuda() and ok

    t0 = time.perf_counter()
    dh.torch_digest(t, compile=True)
    print(f"first call of this size: {time.perf_counter() - t0:.1f} s (the sweep compiled the kernels)")
    read_ms = cuda_ms(lambda: t.sum(), args.reps)
    print(f"read once (t.sum()):          {read_ms:8.2f} ms  {gb / read_ms * 1e3:7.0f} GB/s")
    results = {}
    default = dht._SUM_DTYPE
    for acc in (default, *({"int32", "int64"} - {default})):  # the default first: the number to record
        dht._SUM_DTYPE = acc  # lane accumulators: int32 wraps, int64 is exact; the same digest mod 2**32
        results[f"compiled {acc}"] = dh.torch_digest(t, compile=True)
        ms = cuda_ms(lambda: dh.torch_digest(t, compile=True), args.reps)
        verdict = (
            f"  target <= 3 ms: {'OK' if ms <= 3 else 'MISSED'}" if acc == default else "  (not the default)"
        )
        print(f"dh1 torch.compile ({acc} acc):{ms:8.2f} ms  {gb / ms * 1e3:7.0f} GB/s{verdict}")
    dht._SUM_DTYPE = default
    results["eager"] = dh.torch_digest(t, compile=False)
    eager_ms = cuda_ms(lambda: dh.torch_digest(t, compile=False), max(1, args.reps // 4))
    print(f"dh1 eager torch ops:          {eager_ms:8.2f} ms")
    try:
        import jax
        import jax.dlpack

        x = jax.dlpack.from_dlpack(t)  # the same HBM buffer
        results["jax"] = dh.jax_digest(x)
        jms = _wall_ms(lambda: dh.jax_digest(x), args.reps)
        print(f"dh1 JAX ({jax.devices()[0].platform}):             {jms:8.2f} ms")
    except Exception as exc:  # JAX missing, or no GPU backend for it: report and go on
        print(f"JAX: skipped ({type(exc).__name__}: {str(exc)[:120]})")
    if not args.skip_host:
        host_ms = _wall_ms(lambda: tensor_digest(t, algorithm="xxh3_128"), 2)
        print(f"host path (copy to host + xxh3):    {host_ms:8.1f} ms")
    # fingerprint()'s own routing: a CUDA tensor is digested there (dh1), a model's too.
    auto_ms = _wall_ms(lambda: tensor_digest(t), args.reps)
    results["tensor_digest auto"] = tensor_digest(t)
    print(f"tensor_digest(t), auto:       {auto_ms:8.2f} ms (wall, digest back on the host)")
    import copy

    from seedlock.fingerprint import fingerprint

    small = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.Linear(64, 1)).cuda()
    on_gpu, on_cpu = fingerprint(small), fingerprint(copy.deepcopy(small).cpu(), algorithm="dh1")
    routed = (
        all(d.digest.startswith("dh1:") for d in on_gpu.tensors.values()) and on_gpu.digest == on_cpu.digest
    )
    print(
        f"fingerprint(model on CUDA): {'dh1 on the device, equal to the CPU copy digested with dh1' if routed else 'ROUTING WRONG'}"
    )
    ok = ok and routed
    n = min(args.verify_numel, numel)
    part = t[:n]
    results[f"torch slice [:{n}]"] = dh.torch_digest(part)
    results[f"numpy slice [:{n}]"] = dh.numpy_digest(part.cpu().numpy())
    for name, d in results.items():
        print(f"  {name:<24} {d}")
    full = {d for k, d in results.items() if "slice" not in k}
    sliced = {d for k, d in results.items() if "slice" in k}
    if len(full) != 1 or len(sliced) != 1:
        print("DIGESTS DISAGREE")
        ok = False
    else:
        print("all digests agree (full tensor: compiled/eager/JAX; slice: device == numpy)")
    return 0 if ok else 1


def cpu(args: argparse.Namespace) -> int:
    import numpy as np

    from seedlock.fingerprint import devicehash as dh
    from seedlock.fingerprint import tensor_digest

    print("no GPU: CPU path only")
    numel = min(args.numel, args.cpu_numel)
    a = np.random.default_rng(0).standard_normal(numel, dtype=np.float32)
    gb = a.nbytes / 1e9
    impls: dict[str, Callable[[], str]] = {
        "numpy_digest": lambda: dh.numpy_digest(a),
        "xxh3 (tensor_digest)": lambda: tensor_digest(a),
    }
    try:
        import torch

        ta = torch.from_numpy(a)
        impls["torch_digest (eager)"] = lambda: dh.torch_digest(ta)
    except ImportError:
        pass
    try:
        import jax.numpy as jnp

        ja = jnp.asarray(a)
        impls["jax_digest"] = lambda: dh.jax_digest(ja)
    except ImportError:
        pass
    digests = {}
    for name, fn in impls.items():
        digests[name] = fn()  # warm: compiles JAX's program
        ms = _wall_ms(fn, args.reps)
        print(f"{name:<22} {ms:9.1f} ms  {gb / ms * 1e3:6.2f} GB/s  ({numel:,} float32)")
    dh1 = {d for k, d in digests.items() if not k.startswith("xxh3")}
    print("dh1 digests agree" if len(dh1) == 1 else f"DH1 DIGESTS DISAGREE: {digests}")
    return 0 if len(dh1) == 1 else 1


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--numel", type=int, default=1_000_000_000, help="float32 parameters (default 1e9 = 4 GB)")
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--verify-numel", type=int, default=1 << 24, help="slice checked against numpy_digest")
    p.add_argument("--cpu-numel", type=int, default=1 << 22, help="size used without CUDA")
    p.add_argument("--skip-host", action="store_true", help="skip today's copy-to-host timing")
    args = p.parse_args(argv)
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    return gpu(args) if has_cuda else cpu(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

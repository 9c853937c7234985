"""PyTorch: CPU and every CUDA device, deterministic algorithms, cuDNN, cuBLAS, threads.

Also the DataLoader helpers: :func:`worker_init_fn` and :func:`generator`, and
:func:`seed_workers`, what ``seed_everything(workers=True)`` does.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import random
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from seedlock.errors import BadArgument
from seedlock.frameworks.base import Adapter, Config, version_of
from seedlock.report import SeedReport

CUBLAS = "CUBLAS_WORKSPACE_CONFIG"
CUBLAS_VALUE = ":4096:8"
PL_SEED_WORKERS = "PL_SEED_WORKERS"  # Lightning's seed_everything(workers=True) sets it to 1


def env(config: Config, environ: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    if config.deterministic and CUBLAS not in environ:
        out[CUBLAS] = CUBLAS_VALUE  # read when cuBLAS initialises; too late once CUDA is up
    if config.threads is not None:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            out[var] = str(config.threads)
    return out


def apply(torch: ModuleType, config: Config, report: SeedReport, explicit: bool) -> None:
    torch.manual_seed(config.seed)  # also seeds every CUDA device (lazily, when CUDA starts)
    distinct_rank_workers()
    report.add(
        "torch",
        "seeded",
        f"torch {version_of(torch)}: torch.manual_seed({config.seed}) (CPU and all CUDA devices)",
    )
    if config.deterministic:
        if CUBLAS not in os.environ:
            cuda_up = torch.cuda.is_available() and torch.cuda.is_initialized()
            if cuda_up:
                report.add(
                    "torch.cublas",
                    "warning",
                    f"CUDA already initialised without {CUBLAS}; use `seedlock run`",
                )
            else:
                os.environ[CUBLAS] = CUBLAS_VALUE
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        ok = torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
        report.add(
            "torch.ops",
            "verified" if ok else "failed",
            "use_deterministic_algorithms(True), cudnn.deterministic=True, cudnn.benchmark=False",
        )
    if config.threads is not None:
        torch.set_num_threads(config.threads)
        with contextlib.suppress(RuntimeError):  # only settable before the first parallel work
            torch.set_num_interop_threads(config.threads)
        report.add("torch.threads", "switched", f"torch.set_num_threads({config.threads})")


def rank_base_seed(base_seed: int, rank: int) -> int:
    """A DataLoader's worker base seed on ``rank``: rank 0's as torch drew it, every other rank's
    mixed with its rank (a 63-bit BLAKE2b of both), so no two ranks' workers share a seed.

    >>> rank_base_seed(12345, 0), rank_base_seed(12345, 1) == rank_base_seed(12345, 1) != rank_base_seed(12345, 2)
    (12345, True)
    """
    if rank == 0:
        return base_seed
    digest = hashlib.blake2b(f"{base_seed}:{rank}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def distinct_rank_workers() -> None:
    """Under ``torch.distributed``, give each rank's DataLoader workers seeds of their own.

    Every rank is seeded alike (so initial weights agree), so every rank draws the same worker
    base seed, and rank r's worker w would repeat rank 0's worker w draws: the same augmentations
    on every rank (transformers #37932). The rank comes from the loader iterator itself
    (``torch.distributed``'s group, once initialised), whatever launched the process."""
    from torch.utils.data import dataloader

    cls: Any = dataloader._BaseDataLoaderIter
    original = cls.__init__
    if getattr(original, "_seedlock", False):
        return

    @functools.wraps(original)
    def __init__(self: Any, loader: Any, *args: Any, **kwargs: Any) -> None:
        original(self, loader, *args, **kwargs)
        if getattr(self, "_world_size", 1) > 1:
            self._base_seed = rank_base_seed(self._base_seed, getattr(self, "_rank", 0))

    __init__._seedlock = True  # type: ignore[attr-defined]
    cls.__init__ = __init__


def seed_workers(workers: bool) -> None:
    """``seed_everything(workers=...)``: DataLoader workers are seeded either way; ``True`` also
    has Lightning seed them per global rank, as Lightning's ``seed_everything(workers=True)`` does.

    Either way PyTorch seeds each worker's torch, ``random`` and NumPy from ``base_seed +
    worker_id``, ``base_seed`` drawn from the generator seed_everything seeded (or the loader's
    ``generator=``): workers draw the same numbers in every run. ``True`` also sets
    ``$PL_SEED_WORKERS=1``, so that Lightning's Trainer and Fabric give each loader without a
    ``worker_init_fn`` Lightning's ``pl_worker_init_function``, whose seeds mix in the global rank:
    under DDP the workers of different ranks then draw different augmentations. ``False`` leaves
    ``$PL_SEED_WORKERS`` as it is (Lightning's sets it to 0).

    >>> seed_workers("yes")
    Traceback (most recent call last):
    ...
    seedlock.errors.BadArgument: workers must be True or False, got 'yes'; pass e.g. workers=True
    """
    if not isinstance(workers, bool):  # Lightning takes any truthy value: "no" would turn it on
        raise BadArgument(f"workers must be True or False, got {workers!r}; pass e.g. workers=True")
    if workers:  # Lightning reads it when a loader is set up, in this process or a child
        os.environ[PL_SEED_WORKERS] = "1"


def worker_init_fn(worker_id: int) -> None:
    """Seed Python's ``random`` and NumPy in a DataLoader worker from the worker's torch seed.

    PyTorch gives each worker ``base_seed + worker_id`` (base_seed from the seeded default
    generator) and seeds NumPy itself since 1.9; this also covers ``random`` and works
    with ``multiprocessing`` contexts that do not.

    >>> loader = DataLoader(ds, num_workers=2, worker_init_fn=seedlock.worker_init_fn,  # doctest: +SKIP
    ...                     generator=seedlock.torch_generator("train-loader"))
    """
    import torch

    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a dependency
        return
    np.random.seed(seed)


def generator(name: str = "dataloader", *, rank: int | None = None) -> Any:
    """A ``torch.Generator`` seeded with ``derive(name, rank=rank)``: the loader's shuffle order
    then depends on its name only, not on how many random numbers were drawn before.
    """
    import torch

    from seedlock.seeds import derive

    g = torch.Generator()
    g.manual_seed(derive(name, rank=rank))
    return g


torch_generator = generator  # the name seedlock exports it under


ADAPTER = Adapter("torch", "torch", apply, env=env)

"""What does tracing cost? Fit time with and without seedlock's trace hooks, as ratios.

Usage: python benchmarks/trace_overhead.py [--backend tensorflow|torch|jax] [--epochs 3] [--batches 100]

One run measures, on a ~1.07 M-parameter MLP (784-1024-256-10, Adam, batch 256, random data):

* Keras 3 ``model.fit`` without callbacks, with ``seedlock.keras.Trace(every="epoch")`` and with
  ``Trace(every="batch")`` (final record with saved values included in both);
* a plain PyTorch loop without and with ``seedlock.torch_trace.install_optimizer_hook``
  (parameter and gradient digests at every step).

Each configuration is timed ``--repeat`` times, rounds interleaved, and the best time is kept.
Targets: < 1 % per epoch, < 5 % per batch.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable

PARAMS = "784-1024-256-10"


def best_times(configs: dict[str, Callable[[], None]], repeat: int) -> dict[str, float]:
    best = {name: float("inf") for name in configs}
    for _ in range(repeat):
        for name, run in configs.items():  # interleaved: a busy moment on the machine hurts all alike
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def report(title: str, times: dict[str, float]) -> None:
    base_name, base = next(iter(times.items()))
    print(title)
    for name, t in times.items():
        extra = "" if name == base_name else f"  overhead {100 * (t / base - 1):+6.2f} %  (ratio {t / base:.4f})"
        print(f"  {name:28} {t:8.3f} s{extra}")


def keras_bench(args: argparse.Namespace, out: str) -> dict[str, float]:
    import keras
    import numpy as np

    import seedlock.keras

    n = args.batches * 256
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 784), dtype=np.float32)
    y = rng.integers(0, 10, n)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(1024, activation="relu"),
                              keras.layers.Dense(256, activation="relu"), keras.layers.Dense(10)])
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    print(f"keras {keras.__version__} ({keras.backend.backend()}), {model.count_params():,} parameters, "
          f"{args.epochs} epochs x {args.batches} batches of 256")
    model.fit(x, y, batch_size=256, epochs=1, verbose=0)  # compile the train step outside the timings

    def fit(callbacks: Callable[[], list]) -> Callable[[], None]:
        return lambda: model.fit(x, y, batch_size=256, epochs=args.epochs, verbose=0, callbacks=callbacks())

    counter = iter(range(10**6))
    return best_times({
        "fit, no callback": fit(lambda: []),
        "Trace(every='epoch')": fit(lambda: [seedlock.keras.Trace(f"{out}/e{next(counter)}.jsonl")]),
        "Trace(every='batch')": fit(lambda: [seedlock.keras.Trace(f"{out}/b{next(counter)}.jsonl", every="batch")]),
    }, args.repeat)


def torch_bench(args: argparse.Namespace, out: str) -> dict[str, float]:
    import torch

    import seedlock.torch_trace

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 256),
                                torch.nn.ReLU(), torch.nn.Linear(256, 10))
    opt = torch.optim.Adam(model.parameters())
    n = args.batches * 256
    x, y = torch.randn(n, 784), torch.randint(0, 10, (n,))
    print(f"torch {torch.__version__}, {sum(p.numel() for p in model.parameters()):,} parameters, "
          f"{torch.get_num_threads()} threads")

    def train() -> None:
        for _ in range(args.epochs):
            for i in range(0, n, 256):
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(x[i : i + 256]), y[i : i + 256]).backward()
                opt.step()

    counter = iter(range(10**6))

    def traced() -> None:
        hook = seedlock.torch_trace.install_optimizer_hook(f"{out}/t{next(counter)}.jsonl", modules={"model": model})
        try:
            train()
        finally:
            hook.remove()

    train()  # warm up allocator and kernels
    return best_times({"loop, no hook": train, "optimizer hook, every step": traced}, args.repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="tensorflow", choices=["tensorflow", "torch", "jax"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batches", type=int, default=100, help="batches of 256 per epoch")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-torch", action="store_true", help="only the Keras part")
    args = parser.parse_args()
    os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, MLP {PARAMS}, best of {args.repeat}")
    with tempfile.TemporaryDirectory() as out:
        report("Keras 3 fit:", keras_bench(args, out))
        if not args.skip_torch:
            report("PyTorch loop:", torch_bench(args, out))


if __name__ == "__main__":
    main()

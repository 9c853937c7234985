"""What does tracing cost? Fit time with and without seedlock's trace hooks, as ratios.

Usage: python benchmarks/trace_overhead.py [--backend tensorflow|torch|jax] [--epochs 3] [--batches 100]

One run measures, on a ~1.07 M-parameter MLP (784-1024-256-10, Adam, batch 256, random data):

* Keras 3 ``model.fit`` without callbacks, with a callback that does nothing at each batch end
  (what Keras itself charges for any per-batch callback), with ``seedlock.keras.Trace(every="epoch")``
  and with ``Trace(every="batch")`` (final record with saved values included in both);
* a plain PyTorch loop without and with ``seedlock.trace.torch_hooks.install_optimizer_hook``
  (parameter and gradient digests at every step).

Each configuration is timed ``--repeat`` times, rounds interleaved, and the best time is kept.
On a shared machine wall-clock differences between configurations are noise, so the time
spent inside seedlock's hooks is also measured directly, per step, and as a share of the rest
of the same run (the same round, so under the same load). Targets: < 1 % per epoch, < 5 % per
batch.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

PARAMS = "784-1024-256-10"


Times = dict[str, tuple[float, float, float]]  # config -> (wall time, wall in hooks, CPU in hooks)
_in_hooks = [0.0, 0.0]


def timed(fn: Callable[..., Any]) -> Callable[..., Any]:
    """fn, adding the wall and CPU time spent in it to the current round's hook times."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            _in_hooks[0] += time.perf_counter() - wall
            _in_hooks[1] += time.thread_time() - cpu  # immune to being descheduled

    return wrapper


def best_times(configs: dict[str, Callable[[], None]], repeat: int) -> Times:
    """Per config, the round with the best wall time, and the hook times of that same round."""
    best = {name: (float("inf"),) * 3 for name in configs}
    for _ in range(repeat):
        for name, run in configs.items():  # interleaved: a busy moment on the machine hurts all alike
            _in_hooks[:] = [0.0, 0.0]
            start = time.perf_counter()
            run()
            now = (time.perf_counter() - start, _in_hooks[0], _in_hooks[1])
            best[name] = min(best[name], now)
    return best


def report(title: str, times: Times, steps: int) -> None:
    base_name, (base, _, _) = next(iter(times.items()))
    print(title)
    for name, (t, hooks, cpu) in times.items():
        extra = ""
        if name != base_name:
            # Shares of the run's own time without the hooks: both from one round, so robust to load.
            extra = (
                f"  wall {100 * (t / base - 1):+6.2f} % vs first row;  in hooks {1000 * hooks / steps:5.3f} ms/step "
                f"({1000 * cpu / steps:5.3f} CPU) = {100 * hooks / (t - hooks):5.2f} % of the rest of the run"
            )
        print(f"  {name:28} {t:7.3f} s{extra}")


def keras_bench(args: argparse.Namespace, out: str) -> Times:
    import keras
    import numpy as np

    import seedlock.keras

    n = args.batches * 256
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 784), dtype=np.float32)
    y = rng.integers(0, 10, n)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Dense(1024, activation="relu"),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    print(
        f"keras {keras.__version__} ({keras.backend.backend()}), {model.count_params():,} parameters, "
        f"{args.epochs} epochs x {args.batches} batches of 256"
    )
    model.fit(x, y, batch_size=256, epochs=1, verbose=0)  # compile the train step outside the timings

    def fit(every: str | None) -> Callable[[], None]:
        counter = iter(range(10**6))

        def run() -> None:
            callbacks: list[Any] = []
            if every == "noop":
                callbacks.append(NoOp())
            elif every is not None:
                cb = seedlock.keras.Trace(f"{out}/{every}{next(counter)}.jsonl", every=every)
                for hook in ("on_train_begin", "on_epoch_end", "on_train_end", "on_train_batch_end"):
                    method = getattr(cb, hook)
                    if not getattr(method, "_is_default", False):  # leave Keras's no-ops alone
                        setattr(cb, hook, timed(method))
                callbacks.append(cb)
            model.fit(x, y, batch_size=256, epochs=args.epochs, verbose=0, callbacks=callbacks)

        return run

    class NoOp(keras.callbacks.Callback):  # what any per-batch callback costs: Keras stops running ahead
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            pass

    return best_times(
        {
            "fit, no callback": fit(None),
            "no-op batch callback": fit("noop"),
            "Trace(every='epoch')": fit("epoch"),
            "Trace(every='batch')": fit("batch"),
        },
        args.repeat,
    )


def torch_bench(args: argparse.Namespace, out: str) -> Times:
    import torch

    import seedlock.trace.torch_hooks

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 1024),
        torch.nn.ReLU(),
        torch.nn.Linear(1024, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 10),
    )
    opt = torch.optim.Adam(model.parameters())
    n = args.batches * 256
    x, y = torch.randn(n, 784), torch.randint(0, 10, (n,))
    print(
        f"torch {torch.__version__}, {sum(p.numel() for p in model.parameters()):,} parameters, "
        f"{torch.get_num_threads()} threads"
    )

    def train() -> None:
        for _ in range(args.epochs):
            for i in range(0, n, 256):
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(x[i : i + 256]), y[i : i + 256]).backward()
                opt.step()

    counter = iter(range(10**6))

    def traced() -> None:
        hook = seedlock.trace.torch_hooks.install_optimizer_hook(
            f"{out}/t{next(counter)}.jsonl", modules={"model": model}
        )
        try:
            train()
        finally:
            hook.remove()

    hook_class = seedlock.trace.torch_hooks.OptimizerHook
    setattr(hook_class, "__call__", timed(hook_class.__call__))  # noqa: B010 - mypy forbids assigning methods
    train()  # warm up allocator and kernels
    return best_times({"loop, no hook": train, "optimizer hook, every step": traced}, args.repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="tensorflow", choices=["tensorflow", "torch", "jax"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batches", type=int, default=100, help="batches of 256 per epoch")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=["keras", "torch"], help="run one part only")
    args = parser.parse_args()
    os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if args.only != "torch":
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, MLP {PARAMS}, best of {args.repeat}")
    with tempfile.TemporaryDirectory() as out:
        if args.only != "torch":
            report("Keras 3 fit:", keras_bench(args, out), args.epochs * args.batches)
        if args.only == "torch":
            report("PyTorch loop:", torch_bench(args, out), args.epochs * args.batches)
        elif args.only is None:  # a fresh process: TensorFlow's thread pools would slow torch's down
            sys.stdout.flush()
            argv = [
                sys.argv[0],
                "--only",
                "torch",
                "--epochs",
                str(args.epochs),
                "--batches",
                str(args.batches),
                "--repeat",
                str(args.repeat),
            ]
            subprocess.run([sys.executable, *argv], check=True)


if __name__ == "__main__":
    main()

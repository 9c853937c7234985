"""Bitwise determinism on a GPU, per framework: plain runs differ, `seedlock run` runs do not.

A small CNN with cuDNN convolutions, an embedding (its backward is a scatter-add),
``index_add_``/``scatter_add_`` (``keras.ops.segment_sum`` in Keras) and dropout, trained in
PyTorch, and in Keras 3 on the torch and JAX backends when keras is importable. Each
framework is trained

* plainly twice (seeded by the script, no deterministic kernels): which tensors differ;
* under ``python -m seedlock run`` twice: the fingerprints must be bitwise equal;

with steps/s for both, then once under ``seedlock run --audit`` with ops that have no
deterministic CUDA kernel, listing what the audit recorded. Ends with a markdown table for
BENCHMARKS.md. Exit status 1 if a `seedlock run` pair differs or a run fails.

    python benchmarks/gpu/determinism_gpu.py               # on the GPU machine
    python benchmarks/gpu/determinism_gpu.py --cpu-smoke   # tiny sizes on CPU: does it run?

Internally the script re-runs itself with ``--worker FRAMEWORK --out FILE``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
# (batch, image side, channels, vocab, embedding width, tokens per sample, timed steps, warm-up steps)
SIZES = {"gpu": (256, 32, 64, 50_000, 128, 64, 60, 5), "smoke": (8, 8, 4, 64, 8, 4, 3, 1)}
CLASSES = 10


# --- the workers: one training run, results as JSON ---------------------------------------


def _data(size: tuple[int, ...], step: int) -> tuple[Any, Any, Any]:
    """The step's batch, from NumPy with a fixed seed: identical in every run and framework."""
    import numpy as np

    batch, side, _, vocab, _, tokens, _, _ = size
    rng = np.random.default_rng(1000 + step)
    img = rng.standard_normal((batch, side, side, 3), dtype=np.float32)
    tok = rng.integers(0, vocab, (batch, tokens)).astype(np.int32)
    return img, tok, rng.integers(0, CLASSES, batch).astype(np.int32)


def _torch_run(size: tuple[int, ...], smoke: bool, extras: bool) -> dict[str, Any]:
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.manual_seed(0)  # plain runs are seeded too: only the kernels may differ
    dev = torch.device("cuda" if torch.cuda.is_available() and not smoke else "cpu")
    batch, _, ch, vocab, emb, tokens, steps, warm = size

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, ch, 3, padding=1)
            self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)
            self.emb = nn.Embedding(vocab, emb)
            self.drop = nn.Dropout(0.2)
            self.head = nn.Linear(ch + emb, CLASSES)

        def forward(self, img: Any, tok: Any) -> Any:
            x = F.relu(self.conv2(F.relu(self.conv1(img))))
            if extras:  # no deterministic CUDA backward: for the audit run only
                x = F.adaptive_avg_pool2d(F.interpolate(x, scale_factor=2, mode="bilinear"), 3)
                scratch = torch.zeros(8, device=img.device)
                scratch.put_(torch.tensor([0, 0, 1], device=img.device), torch.ones(3, device=img.device))
            x = x.mean((2, 3))
            e = self.emb(tok).reshape(-1, emb)
            seg = torch.arange(tok.shape[0], device=tok.device).repeat_interleave(tok.shape[1])
            bags = torch.zeros(tok.shape[0], emb, device=e.device).index_add_(0, seg, e)
            bags = bags + torch.zeros_like(bags).scatter_add_(0, seg[:, None].expand(-1, emb), e * 0.5)
            return self.head(self.drop(torch.cat([x, bags], 1)))

    model = Net().to(dev)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    batches = [_data(size, s) for s in range(4)]
    loss = None
    for step in range(warm + steps):
        if step == warm:
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        img, tok, y = batches[step % len(batches)]
        img_t = torch.from_numpy(img).permute(0, 3, 1, 2).contiguous().to(dev)
        loss = F.cross_entropy(
            model(img_t, torch.from_numpy(tok).long().to(dev)), torch.from_numpy(y).long().to(dev)
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    rate = steps / (time.perf_counter() - t0)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    return {
        "model": model,
        "device": name,
        "steps_per_s": rate,
        "loss": float(loss) if loss is not None else None,
        "torch": torch.__version__,
    }


def _keras_run(size: tuple[int, ...], smoke: bool) -> dict[str, Any]:
    if smoke:  # keep Keras' backend off the GPU, if the machine has one, and TensorFlow out,
        # as on the GPU machine (set_random_seed would import it just to seed it: 10 s on CPU)
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
        sys.modules.setdefault("tensorflow", None)  # type: ignore[assignment]
    import keras
    from keras import layers, ops

    keras.utils.set_random_seed(0)
    batch, side, ch, vocab, emb, tokens, steps, warm = size

    class BagSum(layers.Layer):
        """Sum each sample's token embeddings with segment_sum: a scatter-add on every backend."""

        def call(self, e: Any) -> Any:
            seg = ops.repeat(ops.arange(batch), tokens)
            return ops.segment_sum(ops.reshape(e, (-1, emb)), seg, num_segments=batch)

    img_in = keras.Input((side, side, 3), batch_size=batch)
    tok_in = keras.Input((tokens,), batch_size=batch, dtype="int32")
    x = layers.Conv2D(ch, 3, padding="same", activation="relu")(img_in)
    x = layers.GlobalAveragePooling2D()(layers.Conv2D(ch, 3, padding="same", activation="relu")(x))
    bags = BagSum()(layers.Embedding(vocab, emb)(tok_in))
    out = layers.Dense(CLASSES)(layers.Dropout(0.2)(layers.Concatenate()([x, bags])))
    model = keras.Model([img_in, tok_in], out)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    batches = [_data(size, s) for s in range(4)]
    loss = None
    for step in range(warm + steps):
        if step == warm:
            t0 = time.perf_counter()
        img, tok, y = batches[step % len(batches)]
        loss = model.train_on_batch([img, tok], y)  # returns a host float: synchronises each step
    rate = steps / (time.perf_counter() - t0)
    backend = keras.backend.backend()
    device = "CPU"
    if backend == "torch":
        import torch

        if torch.cuda.is_available() and not smoke:
            device = torch.cuda.get_device_name(0)
    elif backend == "jax":
        import jax

        device = jax.devices()[0].device_kind
    return {
        "model": model,
        "device": device,
        "steps_per_s": rate,
        "loss": float(loss) if loss is not None else None,
        "keras": keras.__version__,
        "backend": backend,
    }


def worker(args: argparse.Namespace) -> None:
    from seedlock.fingerprint import devicehash, fingerprint

    size = SIZES["smoke" if args.cpu_smoke else "gpu"]
    if args.worker == "torch":
        result = _torch_run(size, args.cpu_smoke, args.audit_extras)
    else:
        result = _keras_run(size, args.cpu_smoke)
    model = result.pop("model")
    fp = fingerprint(model)  # auto: dh1 on the device for CUDA tensors, as `seedlock check` records them
    weights = model.state_dict() if args.worker == "torch" else {v.path: v for v in model.weights}
    t0 = time.perf_counter()
    dh = {n: devicehash.device_digest(v) for n, v in weights.items()}  # on the device: no copy
    result.update(
        fingerprint=fp.to_dict(), dh1=dh, dh1_seconds=time.perf_counter() - t0, tensors=len(fp.tensors)
    )
    Path(args.out).write_text(json.dumps(result, default=str))


# --- the orchestrator ----------------------------------------------------------------------


def _env(framework: str) -> dict[str, str]:
    """A plain environment: no seedlock, cuBLAS or XLA settings leaking in from outside."""
    drop = ("PYTHONHASHSEED", "CUBLAS_WORKSPACE_CONFIG", "XLA_FLAGS", "TF_DETERMINISTIC_OPS")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEEDLOCK_") and k not in drop}
    env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"  # JAX shares the GPU politely
    env["PYTHONUNBUFFERED"] = "1"
    if framework.startswith("keras-"):
        env["KERAS_BACKEND"] = framework.split("-", 1)[1]
    return env


def _cmd(
    framework: str, out: Path, args: argparse.Namespace, launcher: list[str], extras: bool = False
) -> list[str]:
    cmd = [sys.executable, *launcher, str(HERE), "--worker", framework, "--out", str(out)]
    return cmd + (["--cpu-smoke"] if args.cpu_smoke else []) + (["--audit-extras"] if extras else [])


def _pair(
    cmds: list[list[str]], env: dict[str, str], parallel: bool
) -> list[subprocess.CompletedProcess[str]]:
    """Run the commands; side by side in the CPU smoke test (timings mean nothing there)."""
    if not parallel:
        return [subprocess.run(c, env=env, capture_output=True, text=True) for c in cmds]
    procs = [
        subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in cmds
    ]
    return [subprocess.CompletedProcess(p.args, p.wait(), *p.communicate()) for p in procs]


def _runs(
    framework: str, launcher: list[str], tmp: Path, tag: str, args: argparse.Namespace
) -> list[dict[str, Any]] | None:
    outs = [tmp / f"{framework}.{tag}.{i}.json" for i in range(2)]
    done = _pair([_cmd(framework, o, args, launcher) for o in outs], _env(framework), args.cpu_smoke)
    for proc in done:
        if proc.returncode != 0:
            print(f"  {framework} {tag}: run failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
            return None
    return [json.loads(o.read_text()) for o in outs]


def _compare(a: dict[str, Any], b: dict[str, Any]) -> tuple[bool, list[str]]:
    from seedlock.fingerprint import Fingerprint

    fa, fb = Fingerprint.from_dict(a["fingerprint"]), Fingerprint.from_dict(b["fingerprint"])
    if (fa == fb) != (a["dh1"] == b["dh1"]):  # the device digest must agree with the host one
        raise SystemExit("dh1 digests and xxh3 fingerprints disagree on whether the runs are equal")
    return fa == fb, fa.diff(fb)


def _audit(args: argparse.Namespace, tmp: Path) -> list[str]:
    audit_file = tmp / "audit.json"
    env = {**_env("torch"), "SEEDLOCK_AUDIT_FILE": str(audit_file)}
    cmd = _cmd("torch", tmp / "audit.out.json", args, ["-m", "seedlock", "run", "--audit"], extras=True)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0 or not audit_file.exists():
        return [f"audit run failed (exit {proc.returncode}): {proc.stderr[-2000:]}"]
    recs = json.loads(audit_file.read_text())["records"]
    return [
        f"{r['framework']} {r['op']} on {r['device']} ran {r['count']}x at {r['path']}:{r['line']}"
        for r in recs
    ]


def main(args: argparse.Namespace) -> int:
    frameworks = ["torch"]
    if importlib.util.find_spec("keras") is not None:
        frameworks += [f"keras-{b}" for b in ("torch", "jax") if importlib.util.find_spec(b) is not None]
    else:
        print("keras is not importable: PyTorch only (carry keras as wheels, see benchmarks/gpu/README.md)")
    if args.frameworks:
        frameworks = [f for f in frameworks if f in args.frameworks.split(",")]
    rows, failed = [], False
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for fw in frameworks:
            print(f"== {fw}", flush=True)
            t_fw = time.perf_counter()
            plain = _runs(fw, [], tmp, "plain", args)
            locked = _runs(fw, ["-m", "seedlock", "run"], tmp, "seedlock", args)
            if plain is None or locked is None:
                failed = True
                continue
            p_same, p_diff = _compare(*plain)
            l_same, l_diff = _compare(*locked)
            failed |= not l_same
            print(
                f"  plain x2: {'bitwise identical' if p_same else f'{len(p_diff)} tensors differ: {p_diff[:6]}'}"
            )
            print(
                f"  seedlock run x2: {'bitwise identical' if l_same else f'DIFFER in {l_diff[:6]}'}"
                f" ({locked[0]['tensors']} tensors; device digests took {locked[0]['dh1_seconds'] * 1e3:.1f} ms)"
            )
            sp = statistics.median(r["steps_per_s"] for r in plain)
            sl = statistics.median(r["steps_per_s"] for r in locked)
            print(
                f"  steps/s: plain {sp:.1f}, seedlock run {sl:.1f} ({time.perf_counter() - t_fw:.0f} s)",
                flush=True,
            )
            rows.append((fw, locked[0]["device"], p_same, len(p_diff), l_same, sp, sl))
        print("== seedlock run --audit (torch, with ops that have no deterministic CUDA kernel)", flush=True)
        ops = _audit(args, tmp)
        failed |= any(line.startswith("audit run failed") for line in ops)
        for line in ops or ["nothing recorded"]:
            print(f"  {line}")
    print()
    print(
        "| framework | device | plain x2 identical | tensors differing (plain) | `seedlock run` x2 identical "
        "| steps/s plain | steps/s `seedlock run` | determinism cost |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for fw, device, p_same, n_diff, l_same, sp, sl in rows:
        print(
            f"| {fw} | {device} | {'yes' if p_same else 'no'} | {n_diff} | {'yes' if l_same else 'NO'} "
            f"| {sp:.1f} | {sl:.1f} | {100 * (sp / sl - 1):+.0f} % |"
        )
    if args.cpu_smoke:
        print("\n(cpu smoke: tiny sizes on CPU; the numbers above say only that the pipeline runs)")
    return 1 if failed else 0


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cpu-smoke", action="store_true", help="tiny sizes on CPU, end to end")
    p.add_argument("--frameworks", help="comma-separated subset of: torch,keras-torch,keras-jax")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--audit-extras", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


if __name__ == "__main__":
    ns = parse(sys.argv[1:])
    if ns.worker:
        worker(ns)
    else:
        sys.exit(main(ns))

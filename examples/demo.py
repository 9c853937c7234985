"""`make demo`: seed 002's MLP three times with plain python, three times under `seedlock run`."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SCRIPT = str(Path(__file__).with_name("seed002_mlp.py"))


def mse(cmd: list[str]) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHASHSEED", "SEEDLOCK_SEED")}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        sys.exit(f"demo: {' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return out.stdout.split("MSE:")[1].strip()


def main() -> None:
    plain = [sys.executable, SCRIPT]
    locked = [sys.executable, "-m", "seedlock", "run", "--seed", "42", SCRIPT]
    print("Seed 002's MLP, trained three times each way (Keras 3 on TensorFlow, CPU)...\n", flush=True)
    with ThreadPoolExecutor(max_workers=2) as pool:  # two cores: two trainings at a time
        results = list(pool.map(mse, [plain] * 3 + [locked] * 3))
    a, b = results[:3], results[3:]
    print(f"{'run':<5}{'python seed002_mlp.py':<28}{'seedlock run --seed 42 seed002_mlp.py'}")
    for i in range(3):
        print(f"{i + 1:<5}{a[i]:<28}{b[i]}")
    print()
    print(f"plain python:  {len(set(a))} different MSE values out of 3")
    print(
        f"seedlock run:  {len(set(b))} distinct value{'s' if len(set(b)) > 1 else ''} out of 3 "
        f"({'bitwise identical' if len(set(b)) == 1 else 'NOT reproducible'})"
    )
    if len(set(b)) != 1:
        sys.exit(1)


if __name__ == "__main__":
    main()

"""``seedlock run``."""

from __future__ import annotations

import os
import sys

import click

from seedlock.errors import SeedlockError
from seedlock.frameworks.base import Config
from seedlock.launch.env import child_env
from seedlock.seeds import ENV_SEED, validate_seed


def resolve_seed(seed: str | None) -> tuple[int, str]:
    """The seed and where it came from: --seed, else $SEEDLOCK_SEED, else 0."""
    if seed is not None:
        return validate_seed(seed, source="--seed"), "--seed"
    env = os.environ.get(ENV_SEED)
    if env is not None:
        return validate_seed(env, source=f"${ENV_SEED}"), f"${ENV_SEED}"
    return 0, "default"


def check_script(path: str) -> None:
    if not os.path.exists(path):
        raise SeedlockError(f"script {path!r} not found; check the path, or use -m MODULE for a module")
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, "__main__.py")):
            return  # `python DIR` runs DIR/__main__.py; so do we
        raise SeedlockError(f"{path!r} is a directory, not a script; pass a .py file or use -m MODULE")


def check_threads(threads: str | None) -> int | None:
    if threads is None:
        return None
    try:
        n = int(threads)
    except ValueError:
        n = 0
    if n < 1:
        raise SeedlockError(f"--threads must be a positive integer, got {threads!r}; pass e.g. --threads 1")
    return n


def layer_env(trace: str | None, granularity: str, manifest: str | None, strict: bool, audit: bool,
              digest: str | None = None) -> dict[str, str]:
    """The child's settings for the optional layers: trace, manifest, strict mode, audit."""
    from seedlock.launch import env as names

    if granularity not in ("epoch", "batch", "exit"):
        raise SeedlockError(f"unknown granularity {granularity!r}; use one of: epoch, batch, exit")
    out: dict[str, str] = {}
    if trace:
        if os.path.isdir(trace):
            raise SeedlockError(f"--trace {trace!r} is a directory; pass a file path, e.g. run.trace.jsonl")
        out[names.ENV_TRACE] = os.path.abspath(trace)
        out[names.ENV_GRANULARITY] = granularity
        if digest:
            out[names.ENV_DIGEST] = digest
        manifest = manifest or os.path.abspath(trace) + ".manifest.json"
    if manifest:
        out[names.ENV_MANIFEST] = os.path.abspath(manifest)
    if strict:
        out[names.ENV_STRICT] = "1"
    if audit:
        out[names.ENV_AUDIT] = "1"  # the audit file, if any, comes from the user's own $SEEDLOCK_AUDIT_FILE
        base = out.get(names.ENV_MANIFEST) or out.get(names.ENV_TRACE)
        if base and not os.environ.get(names.ENV_AUDIT_FILE):
            out[names.ENV_AUDIT_FILE] = os.path.join(os.path.dirname(base), "audit.json")
    return out


class LauncherCommand(click.Command):
    """Options stop at the script, or right after ``-m MODULE``: the rest belongs to the target,
    ``--help`` included, as with ``python -m MODULE --help``."""

    takes_value = ("--seed", "--threads", "--trace", "--granularity", "--digest", "--manifest")

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        i = 0
        while i < len(args):
            arg = args[i]
            if arg in ("-m", "--module") and i + 1 < len(args):
                args = [*args[: i + 2], "--", *args[i + 2 :]]
                break
            if arg.startswith("-m") and len(arg) > 2 and not arg.startswith("--"):
                args = [*args[: i + 1], "--", *args[i + 1 :]]
                break
            if arg == "--" or not arg.startswith("-"):
                break
            i += 2 if arg in self.takes_value else 1
        return super().parse_args(ctx, args)


@click.command(
    cls=LauncherCommand,
    context_settings={"ignore_unknown_options": False, "allow_interspersed_args": False},
    epilog="Example: seedlock run --seed 42 train.py --epochs 3",
)
@click.option("--seed", metavar="N", help="Master seed in [0, 2**32). Default: $SEEDLOCK_SEED, else 0.")
@click.option("--no-deterministic", is_flag=True, help="Seed only; leave nondeterministic kernels on.")
@click.option("--threads", metavar="N", help="Pin TF/torch/OpenMP thread pools to N (slower; only if needed).")
@click.option("-v", "--verbose", is_flag=True, help="Say which seed is used and what was seeded and verified.")
@click.option("--trace", metavar="FILE", help="Record a per-step trace (losses, tensor digests, stdout) to FILE.")
@click.option("--granularity", default="epoch", show_default=True, help="Trace every epoch, every batch, or only the exit fingerprint and stdout.")
@click.option("--digest", type=click.Choice(["auto", "dh1", "xxh3_128"]),
              help="The trace's digest algorithm (default auto: dh1 on a GPU, xxh3_128 on the host); "
                   "use dh1 on two machines, one with a GPU and one without, to diff their traces.")
@click.option("--manifest", metavar="FILE", help="Write the provenance manifest here (default with --trace: beside it).")
@click.option("--strict", is_flag=True, help="Derive unseeded RNGs (default_rng(), Random(), Generator()) from the seed.")
@click.option("--audit", is_flag=True, help="Record nondeterministic ops instead of failing on the first one.")
@click.option("-m", "--module", "module", metavar="MODULE", help="Run a module, as `python -m MODULE`.")
@click.argument("target", nargs=-1, type=click.UNPROCESSED)
def run(
    seed: str | None, no_deterministic: bool, threads: str | None, verbose: bool, trace: str | None,
    granularity: str, digest: str | None, manifest: str | None, strict: bool, audit: bool, module: str | None,
    target: tuple[str, ...]
) -> None:
    """Run SCRIPT [ARGS...] seeded and deterministic, in a fresh interpreter.

    PYTHONHASHSEED, CUBLAS_WORKSPACE_CONFIG, XLA_FLAGS and thread variables are set before
    the interpreter starts; every RNG is seeded and every framework switched to deterministic
    ops the moment your script imports it. Exit code and signals are the script's own.
    """
    value, source = resolve_seed(seed)
    n_threads = check_threads(threads)
    if audit and no_deterministic:
        raise SeedlockError("--audit records ops that have no deterministic kernel, so it needs deterministic mode; "
                            "drop --no-deterministic")
    if module is None:
        if not target:
            raise click.UsageError("missing SCRIPT; usage: seedlock run [OPTIONS] SCRIPT [ARGS]... or -m MODULE")
        check_script(target[0])
    config = Config(seed=value, deterministic=not no_deterministic, threads=n_threads)
    env = child_env(config, os.environ, verbose=verbose)
    env.update(layer_env(trace, granularity, manifest, strict, audit, digest))
    if verbose:
        click.echo(f"seedlock: seed {value} (from {source})", err=True)
    from seedlock.launch.process import boot_argv

    argv = boot_argv(module, list(target), module=True) if module is not None else boot_argv(target[0], list(target[1:]))
    sys.stdout.flush()
    sys.stderr.flush()
    # exec, not a child process: same pid, so signals, exit code and the terminal are the script's own.
    os.execve(sys.executable, argv, env)

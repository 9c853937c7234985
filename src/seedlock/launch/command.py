"""``seedlock run`` without click: its options as data, a parser for well-formed command lines,
and the ``exec`` of the boot.

``seedlock run`` starts every training run, so its own start-up counts (target: +100 ms over
``python script.py``). click takes ~25 ms to import, a quarter of that budget, so the command
line ``seedlock run [OPTIONS] SCRIPT|-m MODULE [ARGS]`` is parsed here, from the same table that
``seedlock.cli.run`` builds click's options from. :func:`parse` accepts only what it is sure of
and gives ``None`` for anything else (``--help``, an unknown or repeated option, a missing
value or script): click then parses it, with its own messages.

>>> parse(["--seed", "3", "train.py", "--epochs", "2"]).target
('train.py', '--epochs', '2')
>>> a = parse(["-m", "pkg.train", "--help"]); a.module, a.target
('pkg.train', ('--help',))
>>> parse(["--help"]) is None and parse(["--sed", "3", "train.py"]) is None
True
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from seedlock.config import (
    ENV_AUDIT,
    ENV_AUDIT_FILE,
    ENV_DIGEST,
    ENV_GRANULARITY,
    ENV_MANIFEST,
    ENV_RANK_SEEDS,
    ENV_STRICT,
    ENV_TRACE,
)
from seedlock.errors import SeedlockError
from seedlock.seeds import ENV_SEED, validate_seed


class Option(NamedTuple):
    flags: tuple[str, ...]
    dest: str
    help: str
    takes_value: bool = False  # else a flag: False unless given
    metavar: str | None = None
    default: str | None = None
    choices: tuple[str, ...] | None = None


OPTIONS: tuple[Option, ...] = (
    Option(("--seed",), "seed", "Master seed in [0, 2**32). Default: $SEEDLOCK_SEED, else 0.", True, "N"),
    Option(("--no-deterministic",), "no_deterministic", "Seed only; leave nondeterministic kernels on."),
    Option(
        ("--threads",),
        "threads",
        "Pin TF/torch/OpenMP thread pools to N (slower; only if needed).",
        True,
        "N",
    ),
    Option(("-v", "--verbose"), "verbose", "Say which seed is used and what was seeded and verified."),
    Option(
        ("--trace",),
        "trace",
        "Record a per-step trace (losses, tensor digests, stdout) to FILE.",
        True,
        "FILE",
    ),
    Option(
        ("--granularity",),
        "granularity",
        "Trace every epoch, every batch, or only the exit fingerprint and stdout.",
        True,
        default="epoch",
    ),
    Option(
        ("--digest",),
        "digest",
        "The trace's digest algorithm (default auto: dh1 on a GPU, xxh3_128 on the host); "
        "use dh1 on two machines, one with a GPU and one without, to diff their traces.",
        True,
        choices=("auto", "dh1", "xxh3_128"),
    ),
    Option(
        ("--manifest",),
        "manifest",
        "Write the provenance manifest here (default with --trace: beside it).",
        True,
        "FILE",
    ),
    Option(
        ("--strict",), "strict", "Derive unseeded RNGs (default_rng(), Random(), Generator()) from the seed."
    ),
    Option(("--audit",), "audit", "Record nondeterministic ops instead of failing on the first one."),
    Option(
        ("--seed-per-rank",),
        "seed_per_rank",
        "Seed each torch.distributed rank but rank 0 with a seed of its own, not the master seed.",
    ),
    Option(("-m", "--module"), "module", "Run a module, as `python -m MODULE`.", True, "MODULE"),
)
_BY_FLAG = {flag: opt for opt in OPTIONS for flag in opt.flags}
MODULE_FLAGS = ("-m", "--module")


class RunArgs(NamedTuple):
    """The parameters of ``seedlock run``, named as click names them."""

    seed: str | None
    no_deterministic: bool
    threads: str | None
    verbose: bool
    trace: str | None
    granularity: str
    digest: str | None
    manifest: str | None
    strict: bool
    audit: bool
    module: str | None
    target: tuple[str, ...]
    command: bool = False  # `seedlock run [OPTIONS] -- COMMAND ARGS`: any program, not a script
    seed_per_rank: bool = False


def parse(args: list[str]) -> RunArgs | None:
    """The parameters of ``seedlock run ARGS``, as click would give them; ``None`` where unsure."""
    values: dict[str, str] = {}
    flags: set[str] = set()
    i = 0
    dashes = False
    while i < len(args):
        arg = args[i]
        if arg == "--":
            i += 1
            dashes = True
            break
        if not arg.startswith("-"):
            break
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        opt = _BY_FLAG.get(name)
        if opt is None or opt.dest in values or opt.dest in flags:
            return None
        i += 1
        if not opt.takes_value:
            if eq:
                return None
            flags.add(opt.dest)
            continue
        if not eq:
            if i == len(args):
                return None
            value, i = args[i], i + 1
        if opt.choices is not None and value not in opt.choices:
            return None
        values[opt.dest] = value
        if opt.dest == "module":
            break  # the rest is the module's, `--help` included
    target = tuple(args[i:])
    if "module" not in values and not target:
        return None  # click says "missing SCRIPT"
    return RunArgs(
        seed=values.get("seed"),
        no_deterministic="no_deterministic" in flags,
        threads=values.get("threads"),
        verbose="verbose" in flags,
        trace=values.get("trace"),
        granularity=values.get("granularity", "epoch"),
        digest=values.get("digest"),
        manifest=values.get("manifest"),
        strict="strict" in flags,
        audit="audit" in flags,
        module=values.get("module"),
        target=target,
        command=is_command(target) if dashes else False,
        seed_per_rank="seed_per_rank" in flags,
    )


def is_command(target: tuple[str, ...]) -> bool:
    """After ``--``, a program (``torchrun``, ``python``, ``./train.sh``) unless it names a .py file
    (``seedlock run -- train.py`` runs the script, as before ``--`` meant a command).

    >>> is_command(("torchrun", "--nproc-per-node", "2", "train.py")), is_command(("train.py",))
    (True, False)
    """
    return bool(target) and not target[0].endswith(".py")


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


# Names that say a script parses its command line somewhere, maybe through another module.
_PARSERS = (
    "argv",
    "argparse",
    "ArgumentParser",
    "click",
    "typer",
    "fire",
    "absl",
    "flags",
    "hydra",
    "parse",
    "docopt",
    "tyro",
    "simple_parsing",
)


def check_after_script(command: str, script: str, args: Sequence[str], options: Iterable[str]) -> None:
    """Everything after the script is the script's, for every command (as ``python SCRIPT ARGS``).
    One of seedlock's own long options there that the script does not name in any string is
    probably a mistake (``seedlock repeat train.py --seeds 5``): if the script parses no command
    line at all, it is one line and exit 2; if it parses one (the option may be defined in another
    module), one line of warning and the run goes on. After ``--`` nothing is checked; a script
    that cannot be read (a module, a zip) is not checked either.

    >>> check_after_script("repeat", "/nonexistent.py", ["--seeds", "5"], ["--seeds"])  # unreadable: passes
    """
    ours = set(options)
    found: tuple[int, str] | None = None
    for i, arg in enumerate(args):
        if arg == "--":
            break
        name = arg.split("=", 1)[0]
        if name.startswith("--") and name in ours:  # short ones (-v, -m, -j) are every script's too
            found = (i, name)
            break
    if found is None:
        return
    strings, names = _script_words(script)
    i, name = found
    if strings is None or any(re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", t) for t in strings):
        return
    arg = args[i]
    value = args[i + 1] if "=" not in arg and i + 1 < len(args) and not args[i + 1].startswith("-") else ""
    where = (
        f"{name} comes after the script, so it goes to {os.path.basename(script)}, which does not name it; "
        f"seedlock's options go before the script: seedlock {command} {f'{arg} {value}'.strip()} ... "
        f"{os.path.basename(script)}"
    )
    if not any(word in n for n in names for word in _PARSERS):
        raise SeedlockError(where)
    print(f"seedlock: note: {where} (going on: its parser may define it in another module)", file=sys.stderr)


def _script_words(script: str) -> tuple[list[str] | None, set[str]]:
    """The string literals and the names in a script's source (comments left out); None if unreadable."""
    import io
    import tokenize

    try:
        with open(script, "rb") as f:
            tokens = list(tokenize.tokenize(io.BytesIO(f.read()).readline))
    except (OSError, SyntaxError, tokenize.TokenError):
        return None, set()
    strings = [
        t.string for t in tokens if t.type in (tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", -1))
    ]
    return strings, {t.string for t in tokens if t.type == tokenize.NAME}


def find_program(name: str, trace: str | None) -> str:
    """The path of the program ``seedlock run -- NAME`` execs, or one line saying why not."""
    import shutil

    if trace is not None:
        raise SeedlockError(
            "--trace with -- COMMAND is not supported: the command's processes would each need a trace "
            "of their own; trace a script (seedlock run --trace FILE train.py) or a module (-m)"
        )
    found = name if os.sep in name else shutil.which(name)
    if found is None or not os.path.isfile(found) or not os.access(found, os.X_OK):
        raise SeedlockError(
            f"command {name!r} not found or not executable; check the name, or run a script: seedlock run SCRIPT"
        )
    return found


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


def layer_env(
    trace: str | None,
    granularity: str,
    manifest: str | None,
    strict: bool,
    audit: bool,
    digest: str | None = None,
) -> dict[str, str]:
    """The child's settings for the optional layers: trace, manifest, strict mode, audit."""
    from seedlock.launch.paths import check_output

    if granularity not in ("epoch", "batch", "exit"):
        raise SeedlockError(f"unknown granularity {granularity!r}; use one of: epoch, batch, exit")
    out: dict[str, str] = {}
    # Checked here, not where the child opens them: its OSError would be a traceback, after start-up.
    if trace is not None:  # "" too: `--trace=` is a mistake, not "no trace"
        check_output(trace, "--trace", "--trace run.trace.jsonl")
        out[ENV_TRACE] = os.path.abspath(trace)
        out[ENV_GRANULARITY] = granularity
        if digest:
            out[ENV_DIGEST] = digest
        if manifest is None:
            manifest = os.path.abspath(trace) + ".manifest.json"
    if manifest is not None:
        check_output(manifest, "--manifest", "--manifest manifest.json")
        out[ENV_MANIFEST] = os.path.abspath(manifest)
    if strict:
        out[ENV_STRICT] = "1"
    if audit:
        out[ENV_AUDIT] = "1"  # the audit file, if any, comes from the user's own $SEEDLOCK_AUDIT_FILE
        base = out.get(ENV_MANIFEST) or out.get(ENV_TRACE)
        if base and not os.environ.get(ENV_AUDIT_FILE):
            out[ENV_AUDIT_FILE] = os.path.join(os.path.dirname(base), "audit.json")
    return out


def execute(a: RunArgs) -> None:
    """Check the parameters, then replace this process by the boot running the target; returns
    only by raising :class:`SeedlockError`. The caller has made sure there is a SCRIPT or -m MODULE."""
    from seedlock.frameworks.base import Config
    from seedlock.launch.env import child_env
    from seedlock.launch.process import boot_argv

    value, source = resolve_seed(a.seed)
    n_threads = check_threads(a.threads)
    if a.audit and a.no_deterministic:
        raise SeedlockError(
            "--audit records ops that have no deterministic kernel, so it needs deterministic mode; "
            "drop --no-deterministic"
        )
    if a.command:
        program = find_program(a.target[0], a.trace)
    elif a.module is None:
        check_script(a.target[0])
        check_after_script("run", a.target[0], a.target[1:], _BY_FLAG)
    config = Config(seed=value, deterministic=not a.no_deterministic, threads=n_threads)
    env = child_env(config, os.environ, verbose=a.verbose, root=not a.command)
    env.update(layer_env(a.trace, a.granularity, a.manifest, a.strict, a.audit, a.digest))
    if a.seed_per_rank:
        env[ENV_RANK_SEEDS] = "1"
    if a.verbose:
        print(f"seedlock: seed {value} (from {source})", file=sys.stderr)
    if a.command:  # every Python it starts is seeded by seedlock's sitecustomize (seedlock.launch.child)
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(program, list(a.target), env)
    if a.module is not None:
        argv = boot_argv(a.module, list(a.target), module=True)
    else:
        argv = boot_argv(a.target[0], list(a.target[1:]))
    sys.stdout.flush()
    sys.stderr.flush()
    # exec, not a child process: same pid, so signals, exit code and the terminal are the script's own.
    os.execve(sys.executable, argv, env)

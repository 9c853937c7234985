"""Shipping the script to a Ray cluster: the working directory as Ray's ``working_dir``.

Every node gets the directory ``repeat`` runs in (the script and the files beside it), unpacked
by Ray, and its trials start there: nothing assumes a path shared between machines. What a trial
does not need stays home: seedlock's store and run directories, version control, virtual
environments and caches always, plus ``--exclude`` patterns (Ray's ``.gitignore``-style
``excludes``; Ray also honours ``.gitignore`` and ``.rayignore``). What is left is measured here,
before anything is uploaded: over the limit, the run stops with one line naming the biggest
entries.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "train.py").write_text("print(1)")
>>> env = runtime_env(str(d), "train.py", [], limit_mib=1)
>>> env["working_dir"] == str(d), ".seedlock" in env["excludes"]
(True, True)
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import Any

from seedlock.errors import SeedlockError

DEFAULT_LIMIT_MIB = 100.0
# Never a trial's input, often huge: the store and run directories, VCS, environments, caches.
ALWAYS_EXCLUDED = (
    ".seedlock",
    ".git",
    ".hg",
    ".venv",
    "venv",
    "__pycache__",
    "*.pyc",
    ".ipynb_checkpoints",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
)


def _excluded(rel: str, name: str, patterns: list[str]) -> bool:
    """A gitignore-like test: a pattern with a slash (leading or inside) matches the path from
    the root, one without matches a name at any depth.

    >>> _excluded("data/x.bin", "x.bin", ["/data"]), _excluded("sub/data", "data", ["/data"])
    (True, False)
    """
    for pat in patterns:
        pat = pat.rstrip("/")
        if "/" in pat:
            anchored = pat.lstrip("/")
            if fnmatch.fnmatch(rel, anchored) or fnmatch.fnmatch(rel, anchored + "/*"):
                return True
        elif fnmatch.fnmatch(name, pat):
            return True
    return False


def measure(root: str, patterns: list[str]) -> tuple[int, dict[str, int]]:
    """Bytes under ``root`` that would be shipped, and the size of each top-level entry.
    Symbolic links are followed, as Ray's packing follows them (each directory once)."""
    total, top = 0, dict[str, int]()
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:  # a link loop, or a directory linked twice
            dirnames[:] = []
            continue
        seen.add(real)
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir
        dirnames[:] = [d for d in dirnames if not _excluded(os.path.join(rel_dir, d), d, patterns)]
        for name in filenames:
            rel = os.path.join(rel_dir, name)
            if _excluded(rel, name, patterns):
                continue
            try:
                size = os.stat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue
            total += size
            head = rel.split(os.sep, 1)[0] + ("/" if os.sep in rel else "")
            top[head] = top.get(head, 0) + size
    return total, top


def _ignore_files(root: Path) -> list[str]:
    """The patterns of the root's ``.gitignore`` and ``.rayignore``, which Ray honours too (a
    negated pattern is left out: measuring a little more never ships more)."""
    out = []
    for name in (".gitignore", ".rayignore"):
        try:
            lines = (root / name).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        out += [line.strip() for line in lines if line.strip() and not line.lstrip().startswith(("#", "!"))]
    return out


def _mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def runtime_env(cwd: str, script: str | None, excludes: list[str], limit_mib: float) -> dict[str, Any]:
    """Ray's ``runtime_env`` that ships ``cwd`` to every node; SeedlockError (one line) when the
    script is not inside it or what would be shipped is over ``limit_mib``."""
    root = Path(cwd).resolve()
    target = (root / script).resolve() if script else root
    if root != target and root not in target.parents:
        raise SeedlockError(
            f"{script} is outside the working directory {root}, which is what reaches the cluster's "
            "nodes; run `seedlock repeat` from the directory that holds the script"
        )
    patterns = [*ALWAYS_EXCLUDED, *excludes]
    total, top = measure(str(root), [*patterns, *_ignore_files(root)])
    if total > limit_mib * 2**20:
        biggest = ", ".join(f"{k} {_mib(v)}" for k, v in sorted(top.items(), key=lambda kv: -kv[1])[:3])
        raise SeedlockError(
            f"{root} holds {_mib(total)} to ship to the cluster, over the {limit_mib:g} MiB limit "
            f"(biggest: {biggest}); leave out what the trials do not need with --exclude PATTERN "
            "(or a .rayignore file), or raise --ship-limit"
        )
    return {"working_dir": str(root), "excludes": patterns}

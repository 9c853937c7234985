"""Provenance manifests: what a run was, where, and with what; and what differs between two runs.

>>> m = build(42, ["train.py", "--epochs", "3"], config={"deterministic": True})
>>> m["seed"], m["command"]
(42, 'train.py --epochs 3')
>>> other = json.loads(json.dumps(m))
>>> other["packages"]["torch"] = "0.0.1"
>>> [d["message"] for d in diff(m, other) if d["key"] == "torch"]  # doctest: +ELLIPSIS
['torch ... vs 0.0.1']
"""

from __future__ import annotations

import datetime
import json
import os
import secrets
import shlex
import subprocess
from collections.abc import Callable
from importlib import metadata
from typing import Any

from seedlock.doctor import environment
from seedlock.errors import SeedlockError

SCHEMA = 1
Manifest = dict[str, Any]


def _git(cwd: str, *args: str) -> str | None:
    try:
        # --no-optional-locks: never take index.lock (others may be committing in this tree).
        out = subprocess.run(
            ["git", "--no-optional-locks", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):  # no git, or it hangs
        return None
    return out.stdout if out.returncode == 0 else None


def git_state(cwd: str) -> dict[str, Any] | None:
    """Commit and dirty state of the repository holding ``cwd``; None outside a repository or without git."""
    commit = _git(cwd, "rev-parse", "HEAD")
    if commit is None:
        return None
    status = _git(cwd, "status", "--porcelain")
    root = _git(cwd, "rev-parse", "--show-toplevel")
    return {
        "commit": commit.strip(),
        "dirty": None if status is None else bool(status.strip()),
        "root": root.strip() if root else None,
    }


def all_packages() -> dict[str, str]:
    """Every installed distribution and its version, sorted by name."""
    out: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            out.setdefault(name.lower().replace("_", "-"), dist.version)
    return dict(sorted(out.items()))


def build(
    seed: int | None,
    argv: list[str],
    config: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    *,
    cwd: str | None = None,
) -> Manifest:
    """A JSON-serialisable record of a run: seedlock version, time, seed, command line, cwd, git
    commit and dirty state, the environment audit, the determinism settings in ``config``, and
    the version of every installed package. ``extra`` is stored as given."""
    from seedlock._version import __version__

    where = os.path.abspath(cwd or os.getcwd())
    return {
        "schema": SCHEMA,
        "seedlock_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "seed": seed,
        "argv": list(argv),
        "command": shlex.join(argv),
        "cwd": where,
        "git": git_state(where),
        "environment": environment.collect(),
        "determinism": dict(config or {}),
        "packages": all_packages(),
        "extra": dict(extra or {}),
    }


def write(path: str | os.PathLike[str], manifest: Manifest) -> None:
    """Write ``manifest`` as JSON, atomically: readers see the old file or the new one, never half."""
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(target)}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # os.open with 0o666, not mkstemp (0o600): the manifest gets the usual umask-based permissions.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=2, sort_keys=True)
            f.write("\n")
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise


def load(path: str | os.PathLike[str]) -> Manifest:
    """Read a manifest; a missing or malformed file raises :class:`SeedlockError` saying so."""
    target = os.fspath(path)
    try:
        with open(target, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise SeedlockError(f"manifest {target!r} not found; check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SeedlockError(f"cannot read manifest {target!r} ({exc}); check the file") from None
    except json.JSONDecodeError as exc:
        raise SeedlockError(
            f"manifest {target!r} is not valid JSON (line {exc.lineno}); re-create it"
        ) from None
    if not isinstance(data, dict) or "schema" not in data:
        raise SeedlockError(f"{target!r} is not a seedlock manifest; pass a file written by seedlock")
    return data


def _show(value: Any, missing: str) -> str:
    if value is None:
        return missing
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _quoted(value: Any, missing: str) -> str:
    return missing if value is None else repr(value)


Show = Callable[[Any, str], str]


def _entry(what: str, key: str, a: Any, b: Any, message: str) -> dict[str, Any]:
    return {"what": what, "key": key, "a": a, "b": b, "message": message}


def _pairs(
    what: str, a: dict[str, Any], b: dict[str, Any], missing: str, fmt: str, show: Show = _show
) -> list[dict[str, Any]]:
    return [
        _entry(
            what,
            key,
            a.get(key),
            b.get(key),
            fmt.format(key=key, a=show(a.get(key), missing), b=show(b.get(key), missing)),
        )
        for key in sorted(set(a) | set(b))
        if a.get(key) != b.get(key)
    ]


def _get(m: Manifest, *path: str) -> Any:
    value: Any = m
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _tree(git: dict[str, Any]) -> str:
    dirty = git.get("dirty")
    return "unknown" if dirty is None else "dirty" if dirty else "clean"


# (section, key, label, how to show a value) of the environment fields that can change numbers.
FIELDS: tuple[tuple[str, str, str, Show], ...] = (
    ("python", "version", "Python", _show),
    ("python", "implementation", "Python implementation", _show),
    ("os", "system", "OS", _show),
    ("os", "machine", "machine", _show),
    ("cpu", "model", "CPU model", _quoted),
    ("cpu", "count", "CPU count", _show),
    ("gpu", "driver", "GPU driver", _show),
    ("gpu", "cuda_driver", "CUDA driver", _show),
    ("gpu", "cudnn", "cuDNN", _show),
)


def diff(a: Manifest, b: Manifest) -> list[dict[str, Any]]:
    """What differs between two manifests that can change results, in a fixed order.

    Each item: ``what`` (package, python, cpu, gpu, env, threads, determinism, onednn, seed, git),
    ``key``, the two values ``a`` and ``b``, and a ``message`` such as ``"torch 2.13.0 vs 2.14.0"``
    or ``"TF_ENABLE_ONEDNN_OPTS: '1' vs unset"``. Time, cwd and the like are left out.
    """
    out: list[dict[str, Any]] = []
    for key in ("seed", "command"):
        if a.get(key) != b.get(key):
            out.append(
                _entry(
                    key,
                    key,
                    a.get(key),
                    b.get(key),
                    f"{key}: {_show(a.get(key), 'none')} vs {_show(b.get(key), 'none')}",
                )
            )
    ga, gb = a.get("git") or {}, b.get("git") or {}
    if ga.get("commit") != gb.get("commit"):
        ca, cb = (_show(g.get("commit"), "no git")[:12] for g in (ga, gb))
        out.append(_entry("git", "commit", ga.get("commit"), gb.get("commit"), f"git commit {ca} vs {cb}"))
    if ga.get("dirty") != gb.get("dirty"):
        out.append(
            _entry(
                "git", "dirty", ga.get("dirty"), gb.get("dirty"), f"working tree {_tree(ga)} vs {_tree(gb)}"
            )
        )
    ea, eb = a.get("environment") or {}, b.get("environment") or {}
    for section, key, label, show in FIELDS:
        va, vb = _get(ea, section, key), _get(eb, section, key)
        if va != vb:
            out.append(
                _entry(section, key, va, vb, f"{label} {show(va, 'unknown')} vs {show(vb, 'unknown')}")
            )
    fa, fb = set(_get(ea, "cpu", "isa_flags") or []), set(_get(eb, "cpu", "isa_flags") or [])
    if fa != fb:
        only = [f"{' '.join(sorted(s))} only in {side}" for s, side in ((fa - fb, "a"), (fb - fa, "b")) if s]
        out.append(_entry("cpu", "isa_flags", sorted(fa), sorted(fb), f"CPU flags: {'; '.join(only)}"))
    na, nb = ([d.get("name") for d in _get(e, "gpu", "devices") or []] for e in (ea, eb))
    if na != nb:
        out.append(
            _entry(
                "gpu",
                "devices",
                na,
                nb,
                f"GPUs: {', '.join(map(str, na)) or 'none'} vs {', '.join(map(str, nb)) or 'none'}",
            )
        )
    oa, ob = _get(ea, "onednn", "enabled"), _get(eb, "onednn", "enabled")
    if oa != ob:
        out.append(
            _entry("onednn", "enabled", oa, ob, f"oneDNN {_show(oa, 'unknown')} vs {_show(ob, 'unknown')}")
        )
    va_, vb_ = ({k: v.get("value") for k, v in (_get(e, "env") or {}).items()} for e in (ea, eb))
    out += _pairs("env", va_, vb_, "unset", "{key}: {a} vs {b}", _quoted)
    # Thread variables that are also determinism variables were compared just above.
    ta, tb = ({k: v for k, v in (_get(e, "threads") or {}).items() if k not in va_} for e in (ea, eb))
    out += _pairs("threads", ta, tb, "unset", "threads {key}: {a} vs {b}")
    out += _pairs(
        "determinism", a.get("determinism") or {}, b.get("determinism") or {}, "unset", "{key}: {a} vs {b}"
    )
    pa = a.get("packages") or _get(ea, "packages") or {}
    pb = b.get("packages") or _get(eb, "packages") or {}
    out += _pairs("package", pa, pb, "not installed", "{key} {a} vs {b}")
    return out

"""The static scan: sources of nondeterminism in Python files, with file:line, found without running them.

Files are parsed with :mod:`ast`, never imported or executed. Each rule lives in the
registry (:data:`RULES`) under a stable ID; a trailing ``# seedlock: ignore[SL101]``
(or ``# seedlock: ignore`` for every rule) silences a finding on its line.

>>> [(f.id, f.line) for f in scan_source("import random\\nr = random.Random()\\n", "t.py")]
[('SL101', 2)]
>>> scan_source("import random\\nr = random.Random()  # seedlock: ignore[SL101]\\n", "t.py")
[]
"""

from __future__ import annotations

import io
import os
import re
import tokenize
from collections.abc import Iterable

from seedlock.doctor.findings import Finding
from seedlock.doctor.static import rules_frameworks, rules_random
from seedlock.doctor.static.context import Module
from seedlock.doctor.static.registry import RULES, SYNTAX_ERROR, Rule
from seedlock.errors import SeedlockError

__all__ = ["RULES", "Rule", "iter_files", "scan", "scan_file", "scan_source", "suppressions"]
_REGISTERED = (rules_random, rules_frameworks)  # importing them fills RULES

SUFFIXES = (".py", ".pyw")
SKIP_DIRS = frozenset({"__pycache__", "node_modules", "site-packages"})
SUPPRESS = re.compile(r"#\s*seedlock:\s*ignore(?:\[([\w\s,]*)\])?")


def suppressions(source: str) -> dict[int, frozenset[str] | None]:
    """Line -> rule IDs silenced on it (None: all), from ``# seedlock: ignore[...]`` comments.

    >>> found = suppressions("x = 1  # seedlock: ignore[SL101, SL202]\\ny = 2  # seedlock: ignore\\n")
    >>> sorted(found[1]), found[2]
    (['SL101', 'SL202'], None)
    """
    if "seedlock:" not in source:
        return {}
    try:  # real comments only, not "# seedlock: ignore" inside a string
        comments = [
            (tok.start[0], tok.string)
            for tok in tokenize.generate_tokens(io.StringIO(source).readline)
            if tok.type == tokenize.COMMENT
        ]
    except (tokenize.TokenError, SyntaxError):
        comments = [(i, line) for i, line in enumerate(source.splitlines(), 1) if "#" in line]
    out: dict[int, frozenset[str] | None] = {}
    for line, text in comments:
        match = SUPPRESS.search(text)
        if match:
            ids = match.group(1)
            out[line] = (
                None if ids is None else frozenset(i.strip().upper() for i in ids.split(",") if i.strip())
            )
    return out


def _syntax_error(filename: str, message: str, line: int | None, col: int | None) -> Finding:
    r = RULES[SYNTAX_ERROR]
    return Finding(r.id, r.level, message, why=r.why, fix=r.fix, file=filename, line=line or 1, col=col or 1)


def scan_source(source: str, filename: str = "<string>") -> list[Finding]:
    """Findings for one file's source text, sorted by position; a syntax error is one SL001 finding."""
    try:
        module = Module(source, filename)
    except SyntaxError as exc:
        return [_syntax_error(filename, f"syntax error: {exc.msg}", exc.lineno, exc.offset)]
    except (RecursionError, MemoryError, ValueError) as exc:  # nesting too deep, NUL bytes
        return [_syntax_error(filename, f"cannot parse: {type(exc).__name__}: {exc}", 1, 1)]
    silenced = suppressions(source)
    seen: set[tuple[str, int, int]] = set()
    out: list[Finding] = []
    for r in RULES.values():
        if r.check is None:
            continue
        for node, message in r.check(module):
            line, col = getattr(node, "lineno", 1), getattr(node, "col_offset", 0) + 1
            ids = silenced.get(line, frozenset())
            if (
                (line in silenced and ids is None)
                or (ids is not None and r.id in ids)
                or (r.id, line, col) in seen
            ):
                continue
            seen.add((r.id, line, col))
            out.append(
                Finding(r.id, r.level, message, why=r.why, fix=r.fix, file=filename, line=line, col=col)
            )
    return sorted(out, key=lambda f: (f.line or 0, f.col or 0, f.id))


def _decode(data: bytes) -> str:
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    return data.decode(encoding)


def scan_file(path: str) -> list[Finding]:
    """Findings for one file; unreadable or undecodable files give one SL001 finding."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        source = _decode(data)
    except (OSError, SyntaxError, UnicodeDecodeError, LookupError) as exc:
        return [_syntax_error(path, f"cannot read: {exc}", 1, 1)]
    return scan_source(source, path)


def _is_python(path: str) -> bool:
    if path.endswith(SUFFIXES):
        return True
    try:  # a script without a suffix: #!/usr/bin/env python3
        with open(path, "rb") as f:
            first = f.readline(200)
    except OSError:
        return False
    return first.startswith(b"#!") and b"python" in first


def _check_file(path: str) -> None:
    if not _is_python(path):
        raise SeedlockError(
            f"{path!r} is not a Python file (expected .py); pass .py files or a directory to scan"
        )
    try:
        with open(path, "rb") as f:
            head = f.read(8192)
    except OSError as exc:
        raise SeedlockError(f"cannot read {path!r} ({exc.strerror}); check its permissions") from None
    if b"\0" in head:
        raise SeedlockError(f"{path!r} is a binary file, not Python source; pass .py source files")


def iter_files(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """The Python files to scan: files as given, directories recursed (sorted; hidden directories,
    virtual environments and ``__pycache__`` skipped). Raises :class:`SeedlockError` on bad input."""
    out: list[str] = []
    for p in (os.fspath(x) for x in paths):
        if not os.path.exists(p):
            raise SeedlockError(
                f"path {p!r} not found; check the path, or pass a directory to scan every .py file in it"
            )
        if not os.path.isdir(p):
            _check_file(p)
            out.append(p)
            continue
        for root, dirs, files in os.walk(p):
            dirs[:] = sorted(
                d
                for d in dirs
                if not d.startswith(".")
                and d not in SKIP_DIRS
                and not os.path.exists(os.path.join(root, d, "pyvenv.cfg"))
            )
            out.extend(
                os.path.normpath(os.path.join(root, name))
                for name in sorted(files)
                if name.endswith(SUFFIXES)
            )
    return list(dict.fromkeys(out))  # a file named twice is scanned once


def scan(paths: Iterable[str | os.PathLike[str]]) -> list[Finding]:
    """Scan files and directories; findings in file order, then by position.

    Raises :class:`~seedlock.errors.SeedlockError` for a path that does not exist or a file that
    is not Python source; a file with a syntax error is reported as SL001 and the scan goes on.
    """
    return [f for path in iter_files(paths) for f in scan_file(path)]

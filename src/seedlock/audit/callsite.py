"""Call sites: which frame asked for an RNG or ran an op, and how to name it.

Shared by :mod:`seedlock.audit.strict` (whose RNG is this?) and :mod:`seedlock.audit` (whose op is
this?). Both walk out of seedlock's own frames; the standard library and installed packages
are told apart by path, so that a user's script is found under layers of library code.

>>> import json
>>> is_stdlib(json.__file__)
True
>>> display_path("/work/proj/src/train.py", "/work/proj")
'src/train.py'
"""

from __future__ import annotations

import functools
import itertools
import linecache
import os
import sysconfig
from collections.abc import Callable
from types import FrameType

# The package, not this module's folder (audit/): a call from any of seedlock's modules is seedlock's.
_SEEDLOCK_DIR = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


@functools.lru_cache(maxsize=1)
def _stdlib_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths.get("stdlib", ""), paths.get("platstdlib", ""), os.path.dirname(os.__file__)}
    return tuple(sorted(os.path.realpath(r) + os.sep for r in roots if r))


@functools.lru_cache(maxsize=4096)
def real(filename: str) -> str:
    return os.path.realpath(filename)


def is_third_party(filename: str) -> bool:
    """In an installed package (site-packages or Debian's dist-packages)."""
    parts = real(filename).split(os.sep)
    return "site-packages" in parts or "dist-packages" in parts


@functools.lru_cache(maxsize=4096)
def is_stdlib(filename: str) -> bool:
    """Part of the standard library (frozen modules included; installed packages are not).

    >>> import json; is_stdlib(json.__file__), is_stdlib("/srv/app/train.py")
    (True, False)
    """
    if filename.startswith("<frozen"):
        return True
    if filename.startswith("<") or is_third_party(filename):
        return False
    return real(filename).startswith(_stdlib_roots())


def is_seedlock(filename: str) -> bool:
    return real(filename).startswith(_SEEDLOCK_DIR + os.sep)


def in_dir(filename: str, directory: str | None) -> bool:
    return directory is not None and real(filename).startswith(directory + os.sep)


def _relative(path: str, base: str) -> str | None:
    try:
        rel = os.path.relpath(path, base)
    except ValueError:  # another drive on Windows
        return None
    if rel == ".." or rel.startswith(".." + os.sep) or os.path.isabs(rel):
        return None
    return rel.replace(os.sep, "/")


def display_path(filename: str, base: str | None = None) -> str:
    """``filename`` relative to ``base`` (default: the cwd), with ``/``.

    Outside it: an installed package's file is named from its package
    (``sympy/core/random.py``: stable across machines, and two packages' ``random.py`` stay
    apart); anything else by its basename.

    >>> display_path("/work/proj/src/train.py", "/work/proj")
    'src/train.py'
    >>> display_path("/opt/venv/lib/python3.11/site-packages/sympy/core/random.py", "/work/proj")
    'sympy/core/random.py'
    >>> display_path("/srv/elsewhere/loader.py", "/work/proj")
    'loader.py'
    """
    if filename.startswith("<"):
        return filename  # "<string>", "<stdin>"
    path = os.path.abspath(filename)
    rel = _relative(path, os.getcwd() if base is None else base)
    if rel is not None:
        return rel
    parts = path.split(os.sep)
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            i = len(parts) - 1 - parts[::-1].index(marker)
            return "/".join(parts[i + 1 :])
    return os.path.basename(filename)


def function_of(frame: FrameType) -> str:
    code = frame.f_code
    return str(getattr(code, "co_qualname", code.co_name))  # co_qualname: Python 3.11+


def code_at(frame: FrameType, limit: int = 80) -> str | None:
    """The source of the expression ``frame`` is executing (the call), from the line cache.

    Python 3.11+ knows each instruction's columns; older Pythons get the whole line.
    """
    code = frame.f_code
    positions = getattr(code, "co_positions", None)
    text: str | None = None
    if positions is not None:
        try:
            start, end, col, end_col = next(itertools.islice(positions(), frame.f_lasti // 2, None))
        except StopIteration:
            start = end = col = end_col = None
        if start is not None and end is not None and col is not None and end_col is not None:
            lines = [linecache.getline(code.co_filename, n) for n in range(start, end + 1)]
            if all(lines):
                lines[-1] = lines[-1][:end_col]
                lines[0] = lines[0][col:]
                text = " ".join(part.strip() for part in lines)
    if text is None:
        text = linecache.getline(code.co_filename, frame.f_lineno).strip() or None
    if text is not None and len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def never(frame: FrameType) -> bool:
    return False


def call_site(
    frame: FrameType | None, *, through: Callable[[FrameType], bool] = never, owner: str | None = None
) -> FrameType | None:
    """The frame that asked for an RNG, or None when strict mode must leave that RNG alone.

    Walks out of seedlock and out of frames ``through`` says are plumbing (``random.py``'s own
    ``__init__``/``seed``). A caller in the standard library, or in the package ``owner``
    that makes RNGs for itself (numpy, torch), gives None.
    """
    while frame is not None and (is_seedlock(frame.f_code.co_filename) or through(frame)):
        frame = frame.f_back
    if frame is None:
        return None
    filename = frame.f_code.co_filename
    if is_stdlib(filename) or in_dir(filename, owner):
        return None
    return frame


def user_frame(frame: FrameType | None) -> FrameType | None:
    """The innermost frame of the user's own code: not seedlock, the standard library, or an
    installed package; failing that, the innermost frame outside seedlock and the stdlib."""
    fallback: FrameType | None = None
    while frame is not None:
        filename = frame.f_code.co_filename
        if not is_seedlock(filename) and not is_stdlib(filename):
            if not is_third_party(filename):
                return frame
            fallback = fallback or frame
        frame = frame.f_back
    return fallback

"""Does a random value only time the code? A draw whose value goes nowhere but into a sleep.

A jitter such as ``time.sleep(jitter.random() * 0.01)`` draws OS entropy in every run, but no
result holds the number: it changes how long a thread or task waits, and so the order things
finish in. When the output differs, what it holds came through that order (threads filling a list,
``as_completed``), and the order, not the draw, is the cause to fix. This module follows the value
drawn at a line, in the file as written, and says whether it reaches only the duration of a sleep.

It is conservative: the value may pass through arithmetic (``* 0.01``, ``-x``), a conditional's
branches, the number builtins (``min``, ``max``, ``abs``, ``float``, ``int``, ``round``), a method of
the generator (``jitter.uniform(0, 1)`` of ``jitter = SystemRandom()``) and names bound once to it
(``d = jitter.random(); time.sleep(d)``); anything else (another call, a container, a return, a
name bound twice) may carry it to a result, and the answer is None.

>>> src = "import random, time\\nj = random.SystemRandom()\\ndef w(v):\\n    time.sleep(j.random() * 0.01)\\n    return v\\n"
>>> m = Module(src, "t.py")
>>> only_timing(m, 4), only_timing(m, 2)
('time.sleep', 'time.sleep')
>>> only_timing(Module("import random, time\\nx = random.SystemRandom().random()\\nprint(x)\\n", "t.py"), 2) is None
True
"""

from __future__ import annotations

import ast

from seedlock.doctor.static.context import Module, written

# Calls whose argument is a duration to wait, not a value anything keeps.
SLEEPS = frozenset({"time.sleep", "asyncio.sleep", "trio.sleep", "anyio.sleep", "gevent.sleep"})
# Builtins that hand a number on as a number: a duration stays a duration.
PASS_ON = frozenset({"min", "max", "abs", "float", "int", "round"})
_DEPTH = 3  # names bound to names bound to the value: further is not followed


def _sleep(m: Module, call: ast.Call) -> str | None:
    name = m.qualname(call.func)
    return written(call) if name in SLEEPS else None


def _passes_on(m: Module, call: ast.Call) -> bool:
    return isinstance(call.func, ast.Name) and call.func.id in PASS_ON and call.func.id not in m.aliases


def _flows(m: Module, node: ast.AST, depth: int) -> str | None:
    """The sleep ``node``'s value goes to, if it goes nowhere else."""
    cur = node
    while True:
        up = m.parents.get(cur)
        if isinstance(up, ast.keyword):  # sleep(seconds=...)
            cur, up = up, m.parents.get(up)
        if isinstance(up, ast.BinOp | ast.UnaryOp) or (isinstance(up, ast.IfExp) and cur is not up.test):
            cur = up
            continue
        if isinstance(up, ast.Attribute) and up.value is cur:
            call = m.parents.get(up)
            if isinstance(call, ast.Call) and call.func is up:  # a method of it: the result carries the draw
                cur = call
                continue
            return None
        if isinstance(up, ast.Call) and cur is not up.func:
            sleep = _sleep(m, up)
            if sleep is not None:
                return sleep
            if _passes_on(m, up):
                cur = up
                continue
            return None
        if isinstance(up, ast.Assign | ast.AnnAssign) and up.value is cur:
            targets = up.targets if isinstance(up, ast.Assign) else [up.target]
            if len(targets) == 1 and isinstance(targets[0], ast.Name) and depth < _DEPTH:
                return _name_flows(m, targets[0].id, m.scope_of(up), depth + 1)
        return None


def _bound(node: ast.AST) -> str | None:
    """The name ``node`` binds, if it binds one: a store, a parameter, a def, an import."""
    if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
        return node.id
    if isinstance(node, ast.arg):
        return node.arg
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return node.name
    if isinstance(node, ast.alias):
        return node.asname or node.name.split(".")[0]
    return None


def _bindings(scope: ast.AST, name: str) -> int:
    """How many times ``name`` is bound in ``scope`` (nested scopes too: a local of the same name
    there, or a parameter, shadows it, and is not followed)."""
    return sum(_bound(node) == name for node in ast.walk(scope))


def _name_flows(m: Module, name: str, scope: ast.AST, depth: int) -> str | None:
    """Every use of ``name`` (bound once, in ``scope``) goes only to a sleep: the first one's."""
    if _bindings(scope, name) != 1:
        return None
    uses = [
        n for n in ast.walk(scope) if isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)
    ]
    sleeps = [_flows(m, use, depth) for use in uses]
    if not sleeps or any(s is None for s in sleeps):
        return None
    return sleeps[0]


def only_timing(m: Module, line: int, what: str | None = None) -> str | None:
    """The sleep (``time.sleep``) the value drawn at ``line`` goes to, when it goes nowhere else;
    None when it may reach a result. ``what``: the drawing call as the source writes it (the
    runtime record's), to tell it from other calls on the line."""
    calls = [c for c in m.calls if c.lineno == line and _sleep(m, c) is None and not _passes_on(m, c)]
    if what:
        named = [c for c in calls if ast.get_source_segment(m.source, c) == what]
        calls = named or calls
    if not calls:
        return None
    sleeps = [_flows(m, c, 0) for c in calls]
    return sleeps[0] if all(s is not None for s in sleeps) else None


def only_timing_in(path: str, line: int, what: str | None = None) -> str | None:
    """:func:`only_timing` for a file; None when it cannot be read or parsed."""
    try:
        with open(path, encoding="utf-8") as f:
            m = Module(f.read(), path)
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None
    return only_timing(m, line, what)

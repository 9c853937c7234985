"""What the zygote may import ahead of the trials: the script's top-level imports, found by reading it.

The script's code is never run. Its module-level ``import``/``from ... import`` statements (also
those in top-level ``try``/``if`` blocks) are listed in order; modules found in the script's own
directory are left out (they are the user's code, and run as the trial runs). Frameworks read
environment variables when imported, so a top-level ``os.environ["K"] = "v"`` or
``os.environ.setdefault("K", "v")`` with literal strings is listed too, to be applied before the
imports that follow it. Any other statement that touches the environment, ``sys.path`` or the
working directory ends the list: what comes after it could depend on it.

>>> plan("import os\\nos.environ.setdefault('KERAS_BACKEND', 'jax')\\nimport keras\\nsys.path.insert(0, 'x')\\nimport y")
[('import', 'os'), ('setenv', 'KERAS_BACKEND', 'jax', 'setdefault'), ('import', 'keras')]
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
from collections.abc import Iterator, MutableMapping

Step = tuple[str, ...]  # ("import", name) or ("setenv", key, value, "set" | "setdefault")
_WRITES = {"setdefault", "update", "pop", "popitem", "clear", "__setitem__", "__delitem__"}
_CALLS = {"putenv", "unsetenv", "chdir"}


def _statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Top-level statements, entering try/if blocks but not functions or classes."""
    for node in body:
        if isinstance(node, ast.Try):
            yield from _statements(
                [*node.body, *[s for h in node.handlers for s in h.body], *node.orelse, *node.finalbody]
            )
        elif isinstance(node, ast.If):
            yield from _statements([*node.body, *node.orelse])
        else:
            yield node


def _is_environ(node: ast.expr) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ"
    )


def _literal_setenv(node: ast.stmt) -> Step | None:
    """``os.environ["K"] = "v"`` or ``os.environ.setdefault("K", "v")`` with literal strings."""
    if (
        isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Subscript)
        and _is_environ(node.targets[0].value)
    ):
        key, value = node.targets[0].slice, node.value
        if (
            isinstance(key, ast.Constant)
            and isinstance(value, ast.Constant)
            and isinstance(key.value, str)
            and isinstance(value.value, str)
        ):
            return ("setenv", key.value, value.value, "set")
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        call = node.value
        if (
            isinstance(call.func, ast.Attribute)
            and call.func.attr == "setdefault"
            and _is_environ(call.func.value)
            and len(call.args) == 2
            and not call.keywords
            and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in call.args)
        ):
            k, v = (a.value for a in call.args if isinstance(a, ast.Constant))
            return ("setenv", str(k), str(v), "setdefault")
    return None


def _touches_state(node: ast.stmt) -> bool:
    """Whether the statement may change the environment, ``sys.path`` or the working directory
    (reading ``os.environ`` is fine: the zygote's environment is the trials' own)."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Subscript) and _is_environ(sub.value) and not isinstance(sub.ctx, ast.Load):
            return True
        if isinstance(sub, ast.Attribute):
            if _is_environ(sub.value) and sub.attr in _WRITES:
                return True
            if sub.attr in _CALLS or (
                sub.attr == "path" and isinstance(sub.value, ast.Name) and sub.value.id == "sys"
            ):
                return True
        if isinstance(sub, ast.Name) and (
            sub.id in _CALLS or (sub.id == "environ" and not isinstance(sub.ctx, ast.Load))
        ):
            return True
    return False


def plan(source: str) -> list[Step]:
    """The imports (and literal environment settings) the zygote may do, in the script's order."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []  # the trial will report it
    steps: list[Step] = []
    for node in _statements(tree.body):
        if isinstance(node, ast.Import):
            steps.extend(("import", alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and node.module != "__future__":
                steps.append(("import", node.module))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue  # defined, not run, at import time
        elif _touches_state(node):
            setenv = _literal_setenv(node)
            if setenv is None:
                break
            steps.append(setenv)
    return steps


def _is_local(name: str, script_dir: str) -> bool | None:
    """Whether module ``name`` is the user's own (in the script's directory); None: not found."""
    top = name.partition(".")[0]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    where = spec.origin if spec.has_location and spec.origin else None
    if where is None and spec.submodule_search_locations:
        where = next(iter(spec.submodule_search_locations), None)
    if where is None:  # built-in or frozen
        return False
    return os.path.realpath(where).startswith(script_dir + os.sep)


def preimport(script: str, environ: MutableMapping[str, str]) -> tuple[list[str], list[str]]:
    """Import the script's third-party and standard-library top-level imports here.

    Returns ``(imported, skipped)``: skipped are local modules, modules not found, and modules
    whose import raised (the trial will meet the same error, in its own stderr).
    """
    path = os.path.join(script, "__main__.py") if os.path.isdir(script) else script
    try:
        with open(path, encoding="utf-8") as f:
            source = f.read()
    except (OSError, UnicodeDecodeError):
        return [], []
    script_dir = os.path.dirname(os.path.realpath(path))
    imported: list[str] = []
    skipped: list[str] = []
    for step in plan(source):
        if step[0] == "setenv":
            _, key, value, how = step
            if how == "set" or key not in environ:
                environ[key] = value
            continue
        name = step[1]
        if name in imported or name in skipped:
            continue
        if _is_local(name, script_dir) is not False:
            skipped.append(name)
            continue
        try:
            importlib.import_module(name)
            imported.append(name)
        except Exception:  # an ImportError, or a module that fails here: the trial will say so
            skipped.append(name)
    return imported, skipped

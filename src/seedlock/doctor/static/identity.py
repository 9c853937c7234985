"""Which sets hold objects hashed by identity, for SL201: an order no seed fixes.

A set's order follows its items' hashes. Under seedlock every run has one PYTHONHASHSEED, so a
set of str, bytes or numbers keeps its order; a set of objects that keep ``object.__hash__`` is
ordered by their memory addresses. Those move a little in every run, and a small set often keeps
its order by chance (40 objects: 29 runs in 30 alike), so equal runs prove little about it.

Held by identity, as written in the file: instances of a class of the file that defines neither
``__hash__`` nor ``__eq__`` (no decorator, no base outside the file but ``object``), and torch's
tensors and modules (``model.parameters()``, ``.buffers()``, ``.modules()``, ``.children()``).
A set is followed from its literal, comprehension, ``set(...)``/``frozenset(...)`` or a name only
ever bound to one of those, and the items given to its ``.add(...)``.

>>> src = "class Node:\\n    pass\\nseen = {Node() for _ in range(3)}\\nfor n in seen:\\n    pass\\n"
>>> m = Module(src, "t.py")
>>> identity_items(m, m.loops[0].iter)
'Node objects'
>>> identity_items(m, Module("for w in {'a', 'b'}:\\n    pass\\n", "t.py").loops[0].iter) is None
True
"""

from __future__ import annotations

import ast

from seedlock.doctor.static.context import Module, dotted

# What SL201's message says of such a set: verify.entropy reads it (a cause no hash seed fixes).
IDENTITY = "hashed by identity"
TENSOR_METHODS = {"parameters", "buffers", "modules", "children"}
_DEPTH = 4  # names bound to names: real files need one or two


def identity_items(m: Module, node: ast.AST, depth: int = 0) -> str | None:
    """What ``node``'s set holds when its items are hashed by identity ("Node objects",
    "torch tensors or modules"); None when not known to be."""
    if depth > _DEPTH:
        return None
    if isinstance(node, ast.Set):
        kinds = {_item(m, e) for e in node.elts}
        return kinds.pop() if len(kinds) == 1 else None
    if isinstance(node, ast.SetComp):
        return _item(m, node.elt)
    if isinstance(node, ast.Call) and dotted(node.func) in ("set", "frozenset") and node.args:
        arg = node.args[0]
        if isinstance(arg, ast.GeneratorExp | ast.ListComp | ast.SetComp):
            return _item(m, arg.elt)
        return _tensors(m, arg) or identity_items(m, arg, depth + 1)
    if isinstance(node, ast.Call) and dotted(node.func) in ("set", "frozenset"):  # set(), then .add(...)
        return None
    if isinstance(node, ast.Name):
        scope = m.scope_of(node)
        values = m.assignments(scope).get(node.id, [])
        if not values:
            return None
        found = {identity_items(m, v, depth + 1) or _filled(m, scope, node.id, v) for v in values}
        return found.pop() if len(found) == 1 else None
    return None


def _filled(m: Module, scope: ast.AST, name: str, value: ast.expr) -> str | None:
    """``name = set()`` filled by ``name.add(item)``: what every added item is."""
    if not (isinstance(value, ast.Call) and dotted(value.func) in ("set", "frozenset") and not value.args):
        return None
    kinds = {_item(m, c.args[0]) for c in m.method_calls(scope, name, ["add"]) if c.args}
    return kinds.pop() if len(kinds) == 1 else None


def _item(m: Module, node: ast.AST) -> str | None:
    """``Node(...)`` (or ``(A if c else B)(...)``) of classes that keep object.__hash__."""
    if not isinstance(node, ast.Call):
        return None
    funcs = [node.func.body, node.func.orelse] if isinstance(node.func, ast.IfExp) else [node.func]
    classes = _classes(m)
    names = [f.id for f in funcs if isinstance(f, ast.Name) and f.id in classes]
    if len(names) != len(funcs) or not all(_by_identity(m, classes[n], 0) for n in names):
        return None
    return f"{' and '.join(dict.fromkeys(names))} objects"


def _tensors(m: Module, node: ast.AST) -> str | None:
    """``model.parameters()`` and the like: torch hashes tensors and modules by identity."""
    if (
        m.imports("torch")
        and isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in TENSOR_METHODS
        and not node.args
    ):
        return f"torch tensors or modules (.{node.func.attr}())"
    return None


def _classes(m: Module) -> dict[str, ast.ClassDef]:
    return {n.name: n for n in m.tree.body if isinstance(n, ast.ClassDef)}


def _by_identity(m: Module, cls: ast.ClassDef, depth: int) -> bool:
    """The class keeps object.__hash__: it defines neither __hash__ nor __eq__, has no decorator
    (a dataclass defines both), and its bases are object or such classes of the file."""
    if depth > _DEPTH or cls.decorator_list or cls.keywords:
        return False
    for stmt in cls.body:
        targets: list[ast.expr] = []
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            targets = [ast.Name(stmt.name)]
        elif isinstance(stmt, ast.Assign):
            targets = stmt.targets
        elif isinstance(stmt, ast.AnnAssign):
            targets = [stmt.target]
        if any(isinstance(t, ast.Name) and t.id in ("__hash__", "__eq__") for t in targets):
            return False
    classes = _classes(m)
    for base in cls.bases:
        name = dotted(base)
        if name == "object":
            continue
        if name not in classes or not _by_identity(m, classes[name], depth + 1):
            return False
    return True

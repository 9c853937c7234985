"""Which sets hold objects hashed by identity, for SL201: an order no seed fixes.

A set's order follows its items' hashes. Under seedlock every run has one PYTHONHASHSEED, so a
set of str, bytes or numbers keeps its order; a set of objects that keep ``object.__hash__`` is
ordered by their memory addresses. Those move a little in every run, and a small set often keeps
its order by chance, so equal runs prove little about it.

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
    """``name = set()`` filled by ``name.add(item)``: what every added item is (given up when
    anything else may fill it: ``update``, ``|=``)."""
    if not (isinstance(value, ast.Call) and dotted(value.func) in ("set", "frozenset") and not value.args):
        return None
    if m.method_calls(scope, name, ["update", "__ior__"]) or any(
        isinstance(n, ast.AugAssign) and dotted(n.target) == name for n in ast.walk(scope)
    ):
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
    if len(names) != len(funcs) or any(_rebound(m, n, node) for n in names):
        return None
    if not all(_by_identity(m, classes[n], 0) for n in names):
        return None
    return f"{' and '.join(dict.fromkeys(names))} objects"


def _tensors(m: Module, node: ast.AST) -> str | None:
    """``model.parameters()`` and the like: torch hashes tensors and modules by identity. Only
    where ``model`` is known to be a torch module: bound to ``torch.nn.X(...)`` (or a class of the
    file deriving from a ``Module``), or ``self`` in such a class."""
    if not (
        m.imports("torch")
        and isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in TENSOR_METHODS
        and not node.args
        and isinstance(node.func.value, ast.Name)
    ):
        return None
    receiver = node.func.value.id
    if receiver == "self":
        cls = next((a for a in _enclosing(m, node) if isinstance(a, ast.ClassDef)), None)
        known = cls is not None and _torch_module(m, cls)
    else:
        values = m.assignments(m.scope_of(node)).get(receiver, [])
        known = bool(values) and all(_makes_module(m, v) for v in values)
    return f"torch tensors or modules (.{node.func.attr}())" if known else None


def _makes_module(m: Module, value: ast.expr) -> bool:
    if not isinstance(value, ast.Call):
        return False
    if (m.qualname(value.func) or "").startswith("torch.nn."):
        return True
    cls = _classes(m).get(value.func.id) if isinstance(value.func, ast.Name) else None
    return cls is not None and _torch_module(m, cls)


def _torch_module(m: Module, cls: ast.ClassDef) -> bool:
    return any((m.qualname(b) or dotted(b) or "").endswith("Module") for b in cls.bases)


def _enclosing(m: Module, node: ast.AST) -> list[ast.AST]:
    out, up = [], m.parents.get(node)
    while up is not None:
        out.append(up)
        up = m.parents.get(up)
    return out


def _rebound(m: Module, name: str, use: ast.AST) -> bool:
    """Whether ``name`` may be something other than the file's one top-level class of that name
    where ``use`` calls it: bound again at the top (an import, an assignment, another def), or
    bound in a function around the call (a local class of the same name)."""
    top = 0
    for stmt in m.tree.body:
        top += _binds(stmt, name)
    if top != 1:
        return True
    for scope in _enclosing(m, use):
        local = isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        if local and (
            name in m.assignments(scope) or any(_binds(n, name) for n in ast.walk(scope) if n is not scope)
        ):
            return True
    return False


def _binds(node: ast.AST, name: str) -> int:
    if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
        return int(node.name == name)
    if isinstance(node, ast.Import | ast.ImportFrom):
        return sum((a.asname or a.name.split(".")[0]) == name for a in node.names)
    if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return sum(isinstance(n, ast.Name) and n.id == name for t in targets for n in ast.walk(t))
    return 0


def _classes(m: Module) -> dict[str, ast.ClassDef]:
    return {n.name: n for n in m.tree.body if isinstance(n, ast.ClassDef)}


def _by_identity(m: Module, cls: ast.ClassDef, depth: int) -> bool:
    """The class keeps object.__hash__: it defines neither __hash__ nor __eq__, has no decorator
    (a dataclass defines both), and its bases are object or such classes of the file."""
    if depth > _DEPTH or cls.decorator_list or cls.keywords:
        return False
    special = ("__hash__", "__eq__")
    for stmt in ast.walk(cls):  # under an if or a try too
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef) and stmt.name in special:
            return False
        if isinstance(stmt, ast.Name) and stmt.id in special and isinstance(stmt.ctx, ast.Store):
            return False
    for n in ast.walk(m.tree):  # Node.__hash__ = ..., setattr(Node, ...), Node = dataclass(...)(Node)
        if (
            isinstance(n, ast.Attribute)
            and isinstance(n.ctx, ast.Store)
            and n.attr in special
            and dotted(n.value) == cls.name
        ):
            return False
        if (
            isinstance(n, ast.Call)
            and dotted(n.func) == "setattr"
            and n.args
            and dotted(n.args[0]) == cls.name
        ):
            return False
    classes = _classes(m)
    for base in cls.bases:
        name = dotted(base)
        if name == "object":
            continue
        if name not in classes or not _by_identity(m, classes[name], depth + 1):
            return False
    return True

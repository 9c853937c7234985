"""Which expressions carry a set's order, for SL201.

A set's iteration order follows its items' hashes. Besides set literals, ``set()``,
``frozenset()`` and set operators, the order travels through: names only ever bound to one;
``self.x`` when every assignment to it in its class is one; a function, method or property whose
every ``return`` is one; the operators of dict views (``d1.keys() - d2.keys()`` is a set); and
``dict.fromkeys(a_set)``, a dict in the set's order (iterating it, or its keys, values or items,
is iterating the set).

>>> src = "def tags():\\n    return {'a', 'b'}\\nfor t in tags():\\n    pass\\n"
>>> m = Module(src, "t.py")
>>> SetFlow(m).is_set(m.loops[0].iter)
True
"""

from __future__ import annotations

import ast

from seedlock.doctor.static.context import Module, dotted

SET_METHODS = {"union", "intersection", "difference", "symmetric_difference", "copy"}
SET_OPS = (ast.BitOr, ast.BitAnd, ast.Sub, ast.BitXor)
VIEWS = {"keys", "values", "items"}  # of a dict made by dict.fromkeys(a_set): the set's order
FROMKEYS = {"dict.fromkeys", "OrderedDict.fromkeys", "collections.OrderedDict.fromkeys"}
PROPERTIES = {"property", "cached_property", "functools.cached_property"}
FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)


def is_set(node: ast.AST, names: set[str]) -> bool:
    """Whether ``node`` holds a set (or a dict in a set's order), given the set-valued ``names``:
    plain names, attributes (``self.x``) and callables written with ``()`` (``f()``, ``self.f()``)."""
    if isinstance(node, ast.Set | ast.SetComp):
        return True
    if isinstance(node, ast.Name | ast.Attribute):
        return dotted(node) in names
    if isinstance(node, ast.Call):
        callee = dotted(node.func)
        if callee in ("set", "frozenset") or f"{callee}()" in names:
            return True
        if callee in FROMKEYS:
            return bool(node.args) and is_set(node.args[0], names)
        func = node.func
        return (
            isinstance(func, ast.Attribute) and func.attr in SET_METHODS | VIEWS and is_set(func.value, names)
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, SET_OPS):
        # a dict view's operators return a set (d.keys() - other); on the right, the left's own
        # operator comes first (an OrderedSet's keeps its order)
        return is_set(node.left, names) or _view(node.left)
    return False


def _view(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("keys", "items")
        and not node.args
    )


def params(scope: ast.AST) -> set[str]:
    if not isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
        return set()
    a = scope.args
    return {p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg) if p is not None}


def _root(name: str) -> str:
    return name.split(".")[0].removesuffix("()")


class SetFlow:
    """The set-valued names of each scope of one file, found to a fixed point (a function that
    returns a set makes the names bound to its result sets, which may make another function's
    returns sets)."""

    def __init__(self, m: Module) -> None:
        self.m = m
        self.module: set[str] = set()  # module-level set names and set-returning functions
        self.members: dict[ast.ClassDef, set[str]] = {}  # self.x and self.f() per class
        self._scopes: dict[ast.AST, set[str]] = {}
        # every node is a key of m.parents: reading them is much faster than another ast.walk
        classes = [n for n in m.parents if isinstance(n, ast.ClassDef)]
        self._returns: dict[ast.AST, list[ast.expr]] = {}  # the values each function returns
        generators = set()
        for n in m.parents:
            if isinstance(n, ast.Return) and n.value is not None:
                self._returns.setdefault(m.scope_of(n), []).append(n.value)
            elif isinstance(n, ast.Yield | ast.YieldFrom):
                generators.add(m.scope_of(n))
        for g in generators:
            self._returns.pop(g, None)
        functions = [n for n in m.tree.body if isinstance(n, FUNCS)]
        attrs: dict[ast.ClassDef, dict[str, list[ast.expr]]] = {}
        for node in m.assigns:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            cls = self._class_of(m.scope_of(node))
            name = dotted(targets[0]) if len(targets) == 1 and node.value is not None else None
            if cls is not None and name and name.startswith("self.") and node.value is not None:
                attrs.setdefault(cls, {}).setdefault(name, []).append(node.value)
        for _ in range(20):  # monotone: each round only adds names; real files settle in two or three
            before = (set(self.module), {c: set(v) for c, v in self.members.items()})
            self._scopes = {}
            self.module = self._local(m.tree, {f"{f.name}()" for f in functions if self._returns_set(f)})
            for cls in classes:
                self.members[cls] = self._class_members(cls, attrs.get(cls, {}))
            if (self.module, self.members) == before:
                break
        self._scopes = {}

    def is_set(self, node: ast.AST) -> bool:
        return is_set(node, self.names(self.m.scope_of(node)))

    def names(self, scope: ast.AST) -> set[str]:
        """Set-valued names seen in ``scope``: its own, its class's ``self.x``, and the module's
        (unless a local or a parameter hides them)."""
        if scope is self.m.tree:
            return self.module
        if scope not in self._scopes:
            hidden = set(self.m.assignments(scope)) | params(scope)
            cls = self._class_of(scope)
            base = {n for n in self.module if _root(n) not in hidden}
            if cls is not None:
                base |= self.members.get(cls, set())
            self._scopes[scope] = self._local(scope, base)
        return self._scopes[scope]

    def _local(self, scope: ast.AST, base: set[str]) -> set[str]:
        out = set(base)
        for name, values in self.m.assignments(scope).items():
            if all(is_set(v, out) for v in values):
                out.add(name)
        return out

    def _class_of(self, scope: ast.AST) -> ast.ClassDef | None:
        """The class whose ``self`` a method (or a function nested in one) sees."""
        while isinstance(scope, (*FUNCS, ast.Lambda)):
            scope = self.m.scope_of(scope)
        return scope if isinstance(scope, ast.ClassDef) else None

    def _class_members(self, cls: ast.ClassDef, attrs: dict[str, list[ast.expr]]) -> set[str]:
        out = {f"self.{n}" for n in self._local(cls, set()) if "." not in n}  # class-level LABELS = {...}
        for name, values in attrs.items():
            out.discard(name)
            if all(is_set(v, self.names(self.m.scope_of(v))) for v in values):
                out.add(name)
        for f in cls.body:
            if isinstance(f, FUNCS) and self._returns_set(f):
                prop = any(dotted(d) in PROPERTIES for d in f.decorator_list)
                out.add(f"self.{f.name}" if prop else f"self.{f.name}()")
        return out

    def _returns_set(self, fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
        values = self._returns.get(fn)
        if not values:
            return False
        names = self.names(fn)
        return all(is_set(v, names) for v in values)

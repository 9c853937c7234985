"""What every rule needs to know about one parsed file: import aliases, parents, scopes.

Rules work on resolved names: with ``import numpy as np`` the call ``np.random.default_rng()``
resolves to ``numpy.random.default_rng``, and with ``from random import Random`` the name
``Random`` resolves to ``random.Random``. Nothing in the scanned file is imported or run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from typing import Any

SCOPES = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
# Consumers for which the order of their argument's items does not matter (not sum: float sums are
# order-dependent).
ORDER_FREE = frozenset(
    {
        "sorted",
        "set",
        "frozenset",
        "len",
        "any",
        "all",
        "min",
        "max",
        "Counter",
        "bool",
        "assertLen",
        "assertIn",
        "assertNotIn",
        "assertCountEqual",
        "assertSetEqual",
    }
)


def dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None.

    >>> dotted(ast.parse("np.random.seed", mode="eval").body)
    'np.random.seed'
    """
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def last_name(node: ast.AST) -> str | None:
    """The called name: ``shuffle`` for ``ds.shuffle`` and for ``shuffle``."""
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None


def written(call: ast.Call) -> str:
    """The called name as the source writes it: ``np.random.seed``, or ``.shuffle`` after a call.

    >>> written(ast.parse("Path('d').glob('*')", mode="eval").body)
    '.glob'
    """
    return dotted(call.func) or f".{last_name(call.func) or 'call'}"


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def argument(call: ast.Call, pos: int, name: str) -> ast.expr | None:
    """The argument passed by position ``pos`` or by keyword ``name``."""
    if len(call.args) > pos and not any(isinstance(a, ast.Starred) for a in call.args[: pos + 1]):
        return call.args[pos]
    return keyword(call, name)


def is_const(node: ast.AST | None, *values: object) -> bool:
    """A literal equal to one of ``values`` (``True`` is not ``1`` here)."""
    if not isinstance(node, ast.Constant):
        return False
    return any(type(node.value) is type(v) and node.value == v for v in values)


def walk_scope(scope: ast.AST) -> Iterator[ast.AST]:
    """Nodes of ``scope`` without descending into nested functions, lambdas or classes."""
    todo = list(ast.iter_child_nodes(scope))
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, SCOPES):
            todo.extend(ast.iter_child_nodes(node))


class Module:
    """One parsed file and the indexes the rules share.

    >>> m = Module("import numpy as np\\nrng = np.random.default_rng()\\n", "t.py")
    >>> m.qualname(m.calls[0].func)
    'numpy.random.default_rng'
    """

    def __init__(self, source: str, filename: str) -> None:
        self.source = source
        self.filename = filename
        self.tree = ast.parse(source, filename=filename)
        self.aliases: dict[str, str] = {}
        self.parents: dict[ast.AST, ast.AST] = {}
        self.calls: list[ast.Call] = []
        self.assigns: list[ast.Assign | ast.AnnAssign] = []
        self.loops: list[ast.For | ast.AsyncFor] = []
        self.comprehensions: list[ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp] = []
        self._bindings: list[ast.Assign | ast.AnnAssign | ast.NamedExpr] = []
        self._names: dict[ast.AST, str | None] = {}
        self._scope_assigns: dict[ast.AST, dict[str, list[ast.expr]]] | None = None
        buckets: dict[type, list[Any]] = {
            ast.Call: self.calls,
            ast.For: self.loops,
            ast.AsyncFor: self.loops,
            ast.NamedExpr: self._bindings,
            ast.Assign: self.assigns,
            ast.AnnAssign: self.assigns,
            **dict.fromkeys((ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp), self.comprehensions),
        }
        todo: list[ast.AST] = [self.tree]
        while todo:  # one pass: parents, and the nodes rules look at, by kind
            node = todo.pop()
            for child in ast.iter_child_nodes(node):
                self.parents[child] = node
                todo.append(child)
            bucket = buckets.get(type(node))  # a dict lookup: much faster than isinstance chains
            if bucket is not None:
                bucket.append(node)
            elif isinstance(node, ast.Import):
                for a in node.names:
                    # `import a.b` binds `a`; `import a.b as c` binds c to a.b.
                    bound = a.asname or a.name.split(".")[0]
                    self.aliases[bound] = a.name if a.asname else bound
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for a in node.names:
                    if a.name != "*":
                        self.aliases[a.asname or a.name] = f"{node.module}.{a.name}"
        self._bindings.extend(self.assigns)
        for found in (self.calls, self.assigns, self.loops, self.comprehensions, self._bindings):
            found.sort(key=lambda n: (n.lineno, n.col_offset))

    def qualname(self, node: ast.AST) -> str | None:
        """The full dotted name of an imported object (None when the root is not an import)."""
        if node not in self._names:
            self._names[node] = self._qualname(node)
        return self._names[node]

    def _qualname(self, node: ast.AST) -> str | None:
        name = dotted(node)
        if name is None:
            return None
        root, _, rest = name.partition(".")
        target = self.aliases.get(root)
        if target is None:
            return None
        return f"{target}.{rest}" if rest else target

    def imports(self, *roots: str) -> bool:
        """Whether the file imports anything under one of the top-level packages ``roots``."""
        return any(target.split(".")[0] in roots for target in self.aliases.values())

    def scope_of(self, node: ast.AST) -> ast.AST:
        parent = self.parents.get(node)
        while parent is not None and not isinstance(parent, SCOPES):
            parent = self.parents.get(parent)
        return parent if parent is not None else self.tree

    def ancestors(self, node: ast.AST) -> Iterator[ast.AST]:
        """Parents up to (not including) the enclosing statement."""
        parent = self.parents.get(node)
        while parent is not None and not isinstance(parent, ast.stmt):
            yield parent
            parent = self.parents.get(parent)

    def order_free(self, node: ast.AST) -> bool:
        """Whether the value of ``node`` ends up where item order does not matter:
        ``sorted(...)``, ``len(...)``, ``set(...)``, ``x in ...`` and the like."""
        for up in self.ancestors(node):
            if isinstance(up, ast.Call) and last_name(up.func) in ORDER_FREE:
                return True
            if isinstance(up, ast.Compare) and any(isinstance(op, ast.In | ast.NotIn) for op in up.ops):
                return True
            if isinstance(up, ast.SetComp):
                return True
        return False

    def method_calls(self, scope: ast.AST, receiver: str, methods: Iterable[str]) -> list[ast.Call]:
        """Calls ``receiver.method(...)`` in ``scope`` (nested scopes included)."""
        wanted = set(methods)
        return [
            n
            for n in ast.walk(scope)
            if isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and n.func.attr in wanted
            and dotted(n.func.value) == receiver
        ]

    def bound_to(self, node: ast.AST) -> str | None:
        """The dotted target ``node`` is assigned to (``g`` in ``g = node``), if any."""
        parent = self.parents.get(node)
        if isinstance(parent, ast.Assign) and len(parent.targets) == 1:
            return dotted(parent.targets[0])
        if isinstance(parent, ast.AnnAssign | ast.NamedExpr):
            return dotted(parent.target)
        return None

    def assignments(self, scope: ast.AST) -> dict[str, list[ast.expr]]:
        """Values assigned to each plain name in ``scope``, in source order."""
        if self._scope_assigns is None:
            self._scope_assigns = {}
            for n in self._bindings:
                targets = n.targets if isinstance(n, ast.Assign) else [n.target]
                for t in targets:
                    if isinstance(t, ast.Name) and n.value is not None:
                        names = self._scope_assigns.setdefault(self.scope_of(n), {})
                        names.setdefault(t.id, []).append(n.value)
        return self._scope_assigns.get(scope, {})

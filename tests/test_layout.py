"""The package layout docs/architecture.md describes: floors that import only downward, no import
circle, a top level of public API only, and every documented public path still importable.

The import graph is read from the source (every ``import`` statement, function-level ones too,
but not those under ``if TYPE_CHECKING:``), so a circle that only shows at run time fails here.
"""

from __future__ import annotations

import ast
import graphlib
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ROOT, clean_env, run_py

SRC = ROOT / "src" / "seedlock"

# docs/architecture.md's floors: a module may import its own floor and the floors below it.
FLOORS: dict[str, int] = {
    "seedlock.errors": 0,
    "seedlock.report": 0,
    "seedlock._version": 0,
    "seedlock.seeds": 1,
    "seedlock.config": 2,
    "seedlock.frameworks": 3,
    "seedlock.api": 4,
    "seedlock.fingerprint": 4,
    "seedlock.resume": 4,
    "seedlock.trace": 5,
    "seedlock.audit": 5,
    # two leaves of audit/ below the API, which explains a refused op with them
    "seedlock.audit.callsite": 1,
    "seedlock.audit.refusals": 3,
    "seedlock.doctor": 5,
    "seedlock.launch": 6,
    "seedlock.verify": 7,
    "seedlock.repeat": 7,
    "seedlock.integrations": 8,
    "seedlock.cli": 9,
    "seedlock.__main__": 9,
    "seedlock": 9,
    # the public paths of moved modules: aliases, at the top
    "seedlock.keras": 9,
    "seedlock.strict": 9,
    "seedlock.lightning": 9,
    "seedlock.pytest_plugin": 9,
    "seedlock.trace_compare": 9,
    "seedlock.devicehash": 9,
}
TOP_LEVEL = {
    "__init__.py",
    "__main__.py",
    "_version.py",
    "api.py",
    "seeds.py",
    "errors.py",
    "report.py",
    "keras.py",
    "trace_compare.py",
    "devicehash.py",
    "strict.py",
    "lightning.py",
    "pytest_plugin.py",
}
ALIASES = {
    "seedlock.keras": "seedlock.trace.keras_callbacks",
    "seedlock.strict": "seedlock.audit.strict",
    "seedlock.lightning": "seedlock.integrations.lightning",
    "seedlock.pytest_plugin": "seedlock.integrations.pytest_plugin",
    "seedlock.trace_compare": "seedlock.trace.compare",
    "seedlock.devicehash": "seedlock.fingerprint.devicehash",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _type_checking_only(tree: ast.Module) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:``."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skip


def lazy_table(path: Path) -> dict[str, str]:
    """name -> submodule, from a package's ``_LAZY``/``_PUBLIC`` dict (names it loads on first use)."""
    table: dict[str, str] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id in ("_LAZY", "_PUBLIC") for t in node.targets
        ):
            for sub, names in ast.literal_eval(node.value).items():
                table.update(dict.fromkeys(names, sub))
    return table


def import_graph() -> dict[str, set[str]]:
    """module -> the seedlock modules it imports; ``from pkg import name`` of a lazily exported
    name counts as importing the submodule that defines it."""
    mods = modules()
    lazy = {m: lazy_table(p) for m, p in mods.items() if p.name == "__init__.py"}
    graph: dict[str, set[str]] = {}
    for mod, path in mods.items():
        tree = ast.parse(path.read_text())
        skip = _type_checking_only(tree)
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        deps = {f"{mod}.{sub}" for sub in lazy.get(mod, {}).values()}  # what its names load
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name.split(".")[0] == "seedlock")
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(
                        package.split(".")[: len(package.split(".")) - node.level + 1] + [base]
                    ).rstrip(".")
                if base.split(".")[0] != "seedlock":
                    continue
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    if full in mods:
                        deps.add(full)
                    elif alias.name in lazy.get(base, {}):
                        deps.add(f"{base}.{lazy[base][alias.name]}")
                    else:
                        deps.add(base)
        graph[mod] = {d for d in deps if d in mods and d != mod}
    return graph


def _import_time_nodes(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements that run when the module is imported: not those in functions."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            yield from _import_time_nodes(node.orelse)
        elif isinstance(node, ast.If | ast.Try | ast.With | ast.ClassDef):
            for field in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, field, []):
                    yield from _import_time_nodes(
                        child.body if isinstance(child, ast.ExceptHandler) else [child]
                    )


def import_time_graph() -> dict[str, set[str]]:
    """module -> what importing it imports at once, with the packages whose ``__init__`` that runs
    (importing ``a.b.c`` runs ``a`` and ``a.b`` first): where a circle is an ImportError."""
    mods = modules()
    graph: dict[str, set[str]] = {}
    for mod, path in mods.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        deps: set[str] = set()
        for node in _import_time_nodes(ast.parse(path.read_text()).body):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    base = ".".join(
                        package.split(".")[: len(package.split(".")) - node.level + 1] + [base]
                    ).rstrip(".")
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for name in names:
                parts = name.split(".")
                deps.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
        graph[mod] = {d for d in deps if d in mods and d != mod and not mod.startswith(d + ".")}
    return graph


def floor_of(module: str) -> int:
    while module not in FLOORS:
        module = module.rpartition(".")[0]
    return FLOORS[module]


def test_no_import_circle() -> None:
    graph = import_graph()
    assert len(graph) > 80 and "seedlock.fingerprint" in graph["seedlock.trace.tracefile"]
    assert "seedlock.trace.tracefile" in graph["seedlock.trace"]  # a lazy name counts as its module
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import circle: {' -> '.join(exc.args[1])}")


def test_no_circle_at_import_time() -> None:
    """As Python imports: a module's package __init__ runs before it, so an eager import in an
    __init__ can close a circle that the graph of import statements alone does not show."""
    graph = import_time_graph()
    assert "seedlock.fingerprint" in graph["seedlock.trace.compare"]  # fingerprint/__init__ runs first
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import circle at import time: {' -> '.join(exc.args[1])}")


def test_lower_floors_never_import_higher_ones() -> None:
    upward = [
        f"{m} (floor {floor_of(m)}) imports {d} (floor {floor_of(d)})"
        for m, deps in import_graph().items()
        for d in sorted(deps)
        if floor_of(d) > floor_of(m)
    ]
    assert not upward, "\n".join(upward)


def test_the_checks_catch_a_circle_and_an_upward_import() -> None:
    graph = {"a": {"b"}, "b": {"a"}}
    with pytest.raises(graphlib.CycleError):
        tuple(graphlib.TopologicalSorter(graph).static_order())
    assert floor_of("seedlock.fingerprint.digest") < floor_of("seedlock.trace.tracefile")
    assert floor_of("seedlock.launch.boot") > floor_of("seedlock.api")


def test_top_level_holds_the_public_api_and_packages_only() -> None:
    files = {p.name for p in SRC.iterdir() if p.is_file() and p.suffix == ".py"}
    assert files == TOP_LEVEL
    for package in (p for p in SRC.iterdir() if p.is_dir() and p.name != "__pycache__"):
        init = package / "__init__.py"
        assert init.exists(), f"{package.name}/ has no __init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc, f"seedlock.{package.name}'s __init__ says nothing of what the package is for"


def test_every_module_is_placed_on_a_floor() -> None:
    for module in modules():
        floor_of(module)  # KeyError names a module docs/architecture.md does not place


@pytest.mark.parametrize("package", ["seedlock", "seedlock.trace", "seedlock.audit"])
def test_lazy_exports_match_what_type_checkers_see(package: str) -> None:
    path = SRC.parent / package.replace(".", "/") / "__init__.py"
    tree = ast.parse(path.read_text())
    skip = _type_checking_only(tree)
    typed = {
        a.asname or a.name
        for n in ast.walk(tree)
        if id(n) in skip and isinstance(n, ast.ImportFrom)
        for a in n.names
    }
    assert typed == set(lazy_table(path)), "the TYPE_CHECKING imports and the lazy table differ"
    module = importlib.import_module(package)
    for name in lazy_table(path):
        assert getattr(module, name) is not None


def test_public_paths_keep_working() -> None:
    """What README and docs/ show, in a fresh process: no framework imported by any of it."""
    code = """
import sys, seedlock, seedlock.keras, seedlock.strict, seedlock.lightning, seedlock.pytest_plugin
import seedlock.trace, seedlock.audit, seedlock.fingerprint, seedlock.integrations.mlflow
import seedlock.trace_compare, seedlock.devicehash  # paths the docs showed before the layout changed
assert callable(seedlock.trace_compare.compare_traces) and callable(seedlock.devicehash.numpy_digest)
from seedlock.fingerprint import fingerprint
from seedlock.pytest_plugin import assert_reproducible
from seedlock.lightning import sync_seed
assert callable(seedlock.fingerprint.fingerprint) and callable(seedlock.trace.compare_traces)
assert callable(seedlock.trace.record) and callable(seedlock.trace.stop)
assert callable(seedlock.audit.install) and seedlock.audit.ALTERNATIVES and callable(seedlock.audit.explain)
assert callable(seedlock.strict.install) and callable(seedlock.strict.captured)
for name in seedlock.__all__:
    assert getattr(seedlock, name) is not None, name
for old, new in ALIASES.items():
    assert sys.modules[old] is sys.modules[new], old
assert seedlock.keras.__name__ == "seedlock.trace.keras_callbacks"
frameworks = {"tensorflow", "torch", "jax", "keras", "lightning", "mlflow"} & set(sys.modules)
assert not frameworks, frameworks
print("ok")
"""
    p = run_py(["-c", f"ALIASES = {ALIASES!r}\n" + code], env=clean_env())
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr[-2000:]


def test_python_m_seedlock_and_the_pytest_entry_point() -> None:
    p = run_py(["-m", "seedlock", "--help"])
    assert p.returncode == 0 and "seedlock run" in p.stdout
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="pytest11") if e.name == "seedlock"]
    assert ep.value == "seedlock.integrations.pytest_plugin" and ep.load() is importlib.import_module(
        "seedlock.pytest_plugin"
    )


def test_no_file_the_tests_or_docs_use_is_ignored_by_git() -> None:
    """CI runs on a clean clone: a file .gitignore hides (a ``dist/`` folder of test scripts once did)
    works here and is missing there."""
    import shutil
    import subprocess

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(
        [
            "git",
            "ls-files",
            "--others",
            "--ignored",
            "--exclude-standard",
            "--",
            "src",
            "tests",
            "docs",
            "benchmarks",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    ours = ("__pycache__", ".egg-info", ".seedlock/")  # caches, and what a seedlock run left where it ran
    hidden = [p for p in out if not any(x in p for x in ours) and not p.endswith(".trace")]
    assert hidden == [], f"ignored by .gitignore, so absent from a clean clone: {hidden}"

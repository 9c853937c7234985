"""Rules on random number generators, seeds, and the order of things (SL1xx, SL2xx)."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from seedlock.doctor.static.context import Module, argument, dotted, is_const, last_name, walk_scope, written
from seedlock.doctor.static.identity import IDENTITY, identity_items
from seedlock.doctor.static.registry import Hit, rule
from seedlock.doctor.static.sets import SetFlow

# constructor -> (position, keyword) of its seed argument
RNG_CTORS: dict[str, tuple[int, str]] = {
    "numpy.random.default_rng": (0, "seed"),
    "numpy.random.RandomState": (0, "seed"),
    "numpy.random.SeedSequence": (0, "entropy"),
    "numpy.random.PCG64": (0, "seed"),
    "numpy.random.PCG64DXSM": (0, "seed"),
    "numpy.random.MT19937": (0, "seed"),
    "numpy.random.Philox": (0, "seed"),
    "numpy.random.SFC64": (0, "seed"),
    "random.Random": (0, "x"),
}
# Reseeding functions that take OS entropy (or the clock) when called with no argument.
RESEEDERS = {
    "random.seed",
    "numpy.random.seed",
    "torch.seed",
    "torch.random.seed",
    "torch.cuda.seed",
    "torch.cuda.seed_all",
}
ENTROPY: dict[str, str] = {
    **dict.fromkeys(
        (
            "time.time",
            "time.time_ns",
            "time.perf_counter",
            "time.perf_counter_ns",
            "time.monotonic",
            "time.monotonic_ns",
            "time.process_time",
            "time.process_time_ns",
            "time.thread_time",
            "datetime.datetime.now",
            "datetime.datetime.utcnow",
            "datetime.datetime.today",
            "datetime.date.today",
        ),
        "the clock",
    ),
    "os.getpid": "the process id",
    "os.getppid": "the process id",
    "threading.get_ident": "the thread id",
    "os.urandom": "OS entropy",
    "os.getrandom": "OS entropy",
    "random.SystemRandom": "OS entropy",
    "uuid.uuid1": "a UUID (clock and MAC address)",
    "uuid.uuid4": "a random UUID",
}
# SL101's words for random.SystemRandom, which no seed reaches: no flag of seedlock's fixes it.
IGNORES_SEEDS = "reads os.urandom and ignores seeds"
BUILTIN_ENTROPY = {"hash": "hash(), which changes with PYTHONHASHSEED", "id": "an object address (id())"}
# Calls whose arguments are seeds, by the called name, and keywords that are seeds in any call.
SEED_SINKS = {
    "seed",
    "manual_seed",
    "manual_seed_all",
    "set_seed",
    "set_random_seed",
    "seed_everything",
    "default_rng",
    "RandomState",
    "SeedSequence",
    "Random",
    "PRNGKey",
    "from_seed",
    "PCG64",
    "PCG64DXSM",
    "MT19937",
    "Philox",
    "SFC64",
    "reproducible",
    "SeedGenerator",
}
SEED_KEYWORDS = {"seed", "random_state", "random_seed", "rng_seed", "seed_value", "entropy"}
ORDERED_BUILTINS = {"list", "tuple", "enumerate", "iter", "zip", "reversed"}
ORDERED_CALLS = {"numpy.array", "numpy.asarray", "numpy.fromiter", "torch.tensor", "torch.as_tensor"}
LISTINGS = {
    "os.listdir",
    "os.scandir",
    "os.walk",
    "glob.glob",
    "glob.iglob",
    "tensorflow.io.gfile.listdir",
    "tensorflow.io.gfile.glob",
    "tensorflow.io.gfile.walk",
}
PATH_LISTINGS = {"iterdir", "glob", "rglob"}  # pathlib.Path methods
WALKS = {"os.walk", "tensorflow.io.gfile.walk"}
LIST_ADDS = {"append", "extend", "insert"}
COMPLETION_ORDER = {
    "concurrent.futures.as_completed",
    "asyncio.as_completed",
    "ray.wait",
    "distributed.as_completed",
    "dask.distributed.as_completed",
}


def _seeded_later(m: Module, call: ast.Call, methods: tuple[str, ...]) -> bool:
    """``g = Ctor()`` followed by ``g.method(seed)`` in its scope (for ``self.g``, anywhere in the file)."""
    target = m.bound_to(call)
    if target is None:
        return False
    scope = m.scope_of(call) if "." not in target else m.tree
    return any(c.args or c.keywords for c in m.method_calls(scope, target, methods))


@rule(
    "SL101",
    "warn",
    "random number generator created or reseeded without a seed",
    why="with no seed NumPy, Python's random and torch draw OS entropy: every run gets different numbers, "
    "and seedlock cannot seed an RNG object you create yourself",
    fix="pass a seed: np.random.default_rng(seedlock.derive('noise')) or seedlock.rng('noise'); "
    "random.Random(seedlock.derive('augment')). A bare random.seed() or torch.seed(): drop it (seedlock "
    "seeds them) or pass seedlock.derive('name'). random.SystemRandom takes no seed: use "
    "random.Random(seedlock.derive('name'))",
)
def sl101(m: Module) -> Iterator[Hit]:
    for call in m.calls:
        name = m.qualname(call.func)
        if name in RNG_CTORS:
            pos, kw = RNG_CTORS[name]
            seed = argument(call, pos, kw)
            spread = any(k.arg is None for k in call.keywords) or any(
                isinstance(a, ast.Starred) for a in call.args
            )
            if ((seed is None and not spread) or is_const(seed, None)) and not _seeded_later(
                m, call, ("seed",)
            ):
                yield call, f"{written(call)}() without a seed draws OS entropy: different numbers every run"
        elif name in RESEEDERS and (
            (not call.args and not call.keywords) or is_const(argument(call, 0, "a"), None)
        ):
            yield call, f"{written(call)}() with no seed reseeds from OS entropy or the clock"
        elif name == "random.SystemRandom":
            yield call, f"{written(call)}() {IGNORES_SEEDS}"


@rule(
    "SL102",
    "warn",
    "torch.Generator never seeded",
    why="a new torch.Generator starts from a fixed default seed (67280421310721) that ignores "
    "torch.manual_seed: every loader or op using it repeats the same stream whatever seed you set",
    fix="g.manual_seed(seedlock.derive('loader')) right after creating it, or use seedlock.torch_generator('loader')",
)
def sl102(m: Module) -> Iterator[Hit]:
    for call in m.calls:
        if m.qualname(call.func) != "torch.Generator":
            continue
        parent = m.parents.get(call)
        if isinstance(parent, ast.Attribute) and parent.attr in ("manual_seed", "set_state"):
            continue  # torch.Generator().manual_seed(0)
        if _seeded_later(m, call, ("manual_seed", "set_state")):
            continue
        target = m.bound_to(call)
        yield call, f"{written(call)}() is never .manual_seed()ed" + (f" ({target})" if target else "")


@rule(
    "SL103",
    "warn",
    "tf.random.Generator from nondeterministic state",
    why="from_non_deterministic_state() seeds the generator from OS entropy: tf.random.set_seed does not reach it",
    fix="tf.random.Generator.from_seed(seedlock.derive('tf-gen'))",
)
def sl103(m: Module) -> Iterator[Hit]:
    for call in m.calls:
        if last_name(call.func) == "from_non_deterministic_state":
            yield call, f"{written(call)}() seeds from OS entropy"


def _entropy(m: Module, expr: ast.AST, tainted: dict[str, str]) -> str | None:
    """Where ``expr`` takes entropy from, if it does: 'the clock', 'the process id', ..."""
    for node in ast.walk(expr):
        if isinstance(node, ast.Call):
            name = m.qualname(node.func)
            if name in ENTROPY:
                return f"{ENTROPY[name]} ({dotted(node.func)})"
            if name is not None and name.startswith("secrets."):
                return f"OS entropy ({dotted(node.func)})"
            if (
                isinstance(node.func, ast.Name)
                and node.func.id in BUILTIN_ENTROPY
                and node.func.id not in m.aliases
            ):
                return BUILTIN_ENTROPY[node.func.id]
        elif isinstance(node, ast.Name) and node.id in tainted:
            return f"{tainted[node.id]}, via {node.id!r}"
    return None


def _tainted(m: Module, scope: ast.AST) -> dict[str, str]:
    """Names in ``scope`` assigned from an entropy source (``seed = int(time.time())``)."""
    tainted: dict[str, str] = {}
    for name, values in m.assignments(scope).items():
        for value in values:
            source = _entropy(m, value, tainted)
            if source is not None:
                tainted[name] = source
    return tainted


@rule(
    "SL104",
    "warn",
    "seed taken from the clock, the process id or OS entropy",
    why="a seed from time.time(), os.getpid(), os.urandom(), uuid or secrets differs every run: "
    "the run is seeded, but not reproducible",
    fix="use a fixed seed (seedlock run --seed 42) and named sub-seeds: seedlock.derive('name')",
)
def sl104(m: Module) -> Iterator[Hit]:
    cache: dict[ast.AST, dict[str, str]] = {}
    for call in m.calls:
        if last_name(call.func) in SEED_SINKS or m.qualname(call.func) == "jax.random.key":
            args: list[ast.AST] = [*call.args, *(kw.value for kw in call.keywords)]
        else:
            args = [kw.value for kw in call.keywords if kw.arg in SEED_KEYWORDS]
        if not args:
            continue
        scope = m.scope_of(call)
        if scope not in cache:
            cache[scope] = _tainted(m, scope)
        for arg in args:
            source = _entropy(m, arg, cache[scope])
            if source is not None:
                yield call, f"{written(call)}() is seeded from {source}"
                break


@rule(
    "SL201",
    "warn",
    "order taken from iterating a set",
    why="a set's iteration order depends on its items' hashes, and str/bytes hashes change from process to "
    "process unless PYTHONHASHSEED is fixed: a list, a loop or a join over a set comes out in a different order",
    fix="iterate sorted(the_set) instead (objects hashed by identity: sorted(the_set, key=lambda o: o.name), by a "
    "value of theirs); `seedlock run` fixes PYTHONHASHSEED, which orders a set of str or bytes, never one of objects "
    "hashed by identity; sorted() is independent of both",
)
def sl201(m: Module) -> Iterator[Hit]:
    is_set = SetFlow(m).is_set

    def order(what: str, node: ast.AST, changes: str = "item order changes", after: str = "") -> str:
        """The message: a set of objects hashed by identity (identity.py) is ordered by address."""
        held = identity_items(m, node)
        if held is None:
            return f"{what}{after}: {changes} with the hash seed"
        order = changes.removesuffix(" changes")
        return f"{what} of {held}{after}, {IDENTITY}: {order} follows their memory addresses, which no hash seed fixes"

    for loop in m.loops:
        if is_set(loop.iter):
            yield loop.iter, order("for loop over a set", loop.iter)
    for comp in m.comprehensions:
        # A set or dict comprehension over a set gives a set or a lookup table: order does not matter.
        if isinstance(comp, ast.ListComp | ast.GeneratorExp) and not m.order_free(comp):
            for gen in comp.generators:
                if is_set(gen.iter):
                    yield gen.iter, order("comprehension over a set", gen.iter)
    for call in m.calls:
        func = call.func
        ordered = (isinstance(func, ast.Name) and func.id in ORDERED_BUILTINS) or m.qualname(
            func
        ) in ORDERED_CALLS
        ordered = ordered or (isinstance(func, ast.Attribute) and func.attr in ("join", "extend"))
        args = [a.value if isinstance(a, ast.Starred) else a for a in call.args]
        if ordered and any(is_set(a) for a in args) and not m.order_free(call):
            held = next(a for a in args if is_set(a))
            yield call, order(f"{written(call)}() of a set", held)
        elif not ordered and any(isinstance(a, ast.Starred) and is_set(a.value) for a in call.args):
            held = next(a.value for a in call.args if isinstance(a, ast.Starred) and is_set(a.value))
            yield call, order("a set", held, "order changes", " unpacked into call arguments")


def _sorted_later(m: Module, call: ast.Call) -> bool:
    """``files = os.listdir(d)`` followed by ``files.sort()`` or ``sorted(files)`` in the same scope;
    or a list filled from the listing (``out = [...]``, ``out.append(f)`` in a loop over it) sorted after."""
    scope = m.scope_of(call)
    target = m.bound_to(call)
    if target is not None:
        return _sorts(m, scope, target, 0)
    stmt: ast.AST = call
    while not isinstance(stmt, ast.stmt):
        stmt = m.parents[stmt]
    end = stmt.end_lineno or stmt.lineno
    if isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None and stmt.value is not call:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        return len(targets) == 1 and _sorts(m, scope, dotted(targets[0]), end)
    if not isinstance(stmt, ast.For) or stmt.iter is not call:
        return False
    body = [n for s in stmt.body for n in ast.walk(s)]
    if any(isinstance(n, ast.Break | ast.Return | ast.Yield | ast.YieldFrom) for n in body):
        return False  # which entries are kept depends on their order: a later sort does not fix it
    filled = [
        dotted(n.func.value)
        for n in body
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in LIST_ADDS
    ] + [dotted(n.target) for n in body if isinstance(n, ast.AugAssign)]
    return bool(filled) and all(_sorts(m, scope, t, end) for t in filled)


def _sorts(m: Module, scope: ast.AST, target: str | None, after: int) -> bool:
    """``target.sort()`` or ``sorted(target)`` in ``scope`` below line ``after``."""
    if target is None:
        return False
    sorts = m.method_calls(scope, target, ("sort",)) + [
        n
        for n in walk_scope(scope)
        if isinstance(n, ast.Call)
        and last_name(n.func) == "sorted"
        and n.args
        and dotted(n.args[0]) == target
    ]
    return any(n.lineno > after for n in sorts)


def _walk_sorted(m: Module, call: ast.Call) -> bool:
    """``for root, dirs, files in os.walk(d):`` whose body sorts what it uses."""
    loop = m.parents.get(call)
    if not isinstance(loop, ast.For) or loop.iter is not call:
        return False
    return any(
        isinstance(n, ast.Call) and last_name(n.func) in ("sort", "sorted")
        for stmt in loop.body
        for n in ast.walk(stmt)
    )


@rule(
    "SL202",
    "warn",
    "directory listing not sorted",
    why="os.listdir, os.scandir, glob and Path.iterdir/glob return entries in file-system order, which differs "
    "between machines, file systems and even copies of the same data: the data order, and so training, changes",
    fix="wrap the listing in sorted(...): sorted(os.listdir(d)), sorted(root.glob('*.png')); "
    "in os.walk, sort dirs and files in place (dirs.sort(); files.sort())",
)
def sl202(m: Module) -> Iterator[Hit]:
    for call in m.calls:
        name = m.qualname(call.func)
        listing = name in LISTINGS or (
            name is None and isinstance(call.func, ast.Attribute) and call.func.attr in PATH_LISTINGS
        )
        if not listing or m.order_free(call) or _sorted_later(m, call):
            continue
        if name in WALKS and _walk_sorted(m, call):
            continue
        yield call, f"{written(call)}() is not sorted: entries come in file-system order"


@rule(
    "SL203",
    "warn",
    "results gathered in completion order",
    why="as_completed, imap_unordered and ray.wait hand back whichever task finished first, and threads "
    "appending to one list append in the order they run: the order of results (and anything accumulated from "
    "them, such as float sums) changes from run to run",
    fix="keep submission order: executor.map(...) or pool.imap(...), or key results by input and read them in "
    "input order (a thread writes its own slot, results[i], and they are combined in index order)",
)
def sl203(m: Module) -> Iterator[Hit]:
    for call in m.calls:
        name = m.qualname(call.func)
        unordered = name in COMPLETION_ORDER or (
            isinstance(call.func, ast.Attribute) and call.func.attr == "imap_unordered"
        )
        if unordered and not m.order_free(call):
            yield call, f"{written(call)}() yields results in completion order"
        elif name == "threading.Thread" and (filled := _thread_fills(m, call)):
            yield call, f"{filled}: it fills in the order the threads run"


def _thread_fills(m: Module, call: ast.Call) -> str | None:
    """``threading.Thread(target=F)`` whose ``F`` appends to a list it does not own (a global, a
    closure's), not sorted after the thread starts: ``"work() appends to done"``."""
    target = next((k.value for k in call.keywords if k.arg == "target"), None)
    if not isinstance(target, ast.Name):
        return None
    func = next((n for n in ast.walk(m.tree) if isinstance(n, ast.FunctionDef) and n.name == target.id), None)
    if func is None:
        return None
    own = {a.arg for a in func.args.args} | {
        n.id for n in ast.walk(func) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }
    for n in ast.walk(func):
        if (
            isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and n.func.attr in ("append", "extend", "insert")
            and isinstance(n.func.value, ast.Name)
            and n.func.value.id not in own
            and not _sorts(m, m.tree, n.func.value.id, call.lineno)
        ):
            return f"{target.id}() appends to {n.func.value.id}"
    return None

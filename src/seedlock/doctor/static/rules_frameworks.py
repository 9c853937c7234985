"""Rules on framework settings: tf.data (SL3xx), PyTorch (SL4xx), TensorFlow and Keras (SL5xx)."""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator

from seedlock.doctor.static.context import Module, argument, dotted, is_const, keyword, last_name, written
from seedlock.doctor.static.registry import Hit, rule
from seedlock.doctor.static.rules_random import RNG_CTORS

TFDATA_METHODS = {
    "map",
    "interleave",
    "batch",
    "padded_batch",
    "parallel_interleave",
    "map_and_batch",
    "ragged_batch",
}
RNG_FACTORIES = {"default_rng", "RandomState", "Random", "Generator", "rng", "SystemRandom"}
FIT_METHODS = {"fit", "fit_generator", "evaluate", "evaluate_generator", "predict", "predict_generator"}
THREADS_COST = "on a 2-core box one thread cost +43-75 % on a conv net, while op determinism costs +4-12 %"


def _src(node: ast.AST) -> str:
    return ast.unparse(node)


def _tf_call(m: Module, call: ast.Call) -> bool:
    """Not a call that resolves to a non-TensorFlow import (``random.shuffle``, ``np.random.shuffle``)."""
    name = m.qualname(call.func)
    return name is None or name.startswith(("tensorflow", "tf_keras", "keras"))


def _options_names(m: Module) -> set[str]:
    return {
        t
        for n in m.assigns
        if isinstance(n.value, ast.Call) and last_name(n.value.func) == "Options"
        for t in [dotted(x) for x in (n.targets if isinstance(n, ast.Assign) else [n.target])]
        if t
    }


@rule(
    "SL301",
    "warn",
    "tf.data allowed to be nondeterministic",
    why="deterministic=False lets parallel map/interleave/batch emit elements in the order threads finish: "
    "the element order, and so training, changes from run to run",
    fix="drop deterministic=False (and options.deterministic = False): the default still runs map/interleave "
    "in parallel, and only keeps the output order",
)
def sl301(m: Module) -> Iterator[Hit]:
    for call in m.calls:
        if is_const(keyword(call, "deterministic"), False) and (
            last_name(call.func) in TFDATA_METHODS or (m.qualname(call.func) or "").startswith("tensorflow")
        ):
            yield call, f".{last_name(call.func)}(deterministic=False) emits elements in completion order"
    options = _options_names(m)
    for node in m.assigns:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for t in targets:
            if not (isinstance(t, ast.Attribute) and is_const(node.value, False)):
                continue
            owner = dotted(t.value) or ""
            is_options = (
                (isinstance(t.value, ast.Call) and last_name(t.value.func) == "Options")
                or owner in options
                or "opt" in owner.rsplit(".", 1)[-1].lower()
            )
            if t.attr == "experimental_deterministic" or (t.attr == "deterministic" and is_options):
                yield t, f"{_src(t)} = False lets tf.data emit elements in completion order"


def _rng_names(m: Module) -> set[str]:
    out: set[str] = set()
    for n in m.assigns:
        if isinstance(n.value, ast.Call) and (
            last_name(n.value.func) in RNG_FACTORIES or m.qualname(n.value.func) in RNG_CTORS
        ):
            out.update(
                t for x in (n.targets if isinstance(n, ast.Assign) else [n.target]) if (t := dotted(x))
            )
    return out


@rule(
    "SL302",
    "warn",
    "tf.data shuffle without a seed",
    why="without seed= the shuffle order comes from the global seed and a counter of the random ops created "
    "before it: with no global seed it changes every run, and adding any random op earlier changes it too. "
    "Dataset.list_files shuffles by default, the same way",
    fix="ds.shuffle(buffer, seed=seedlock.derive('shuffle')); Dataset.list_files(pattern, shuffle=False) then "
    "shuffle with a seed",
)
def sl302(m: Module) -> Iterator[Hit]:
    tf_file = m.imports("tensorflow", "tf_keras")
    rngs = _rng_names(m)
    for call in m.calls:
        name = last_name(call.func)
        if not isinstance(call.func, ast.Attribute) or not _tf_call(m, call):
            continue
        if name == "shuffle" and dotted(call.func.value) not in rngs and _unseeded(argument(call, 1, "seed")):
            explicit = (
                keyword(call, "buffer_size") is not None
                or keyword(call, "reshuffle_each_iteration") is not None
            )
            if tf_file or explicit:
                yield call, f"{written(call)}() has no seed="
            continue
        shuffles = not is_const(argument(call, 1, "shuffle"), False)
        if name == "list_files" and tf_file and shuffles and _unseeded(argument(call, 2, "seed")):
            yield call, f"{written(call)}() shuffles file names by default, with no seed="


def _unseeded(seed: ast.expr | None) -> bool:
    return seed is None or is_const(seed, None)


@rule(
    "SL303",
    "info",
    "tf.data reshuffles on every iteration",
    why="with reshuffle_each_iteration=True every new iterator over the dataset draws a new order: an extra "
    "pass (a peek with ds.take(1), an evaluation over the same dataset) or resuming from a checkpoint "
    "without the iterator's state shifts the order of every later epoch",
    fix="checkpoint the iterator (tf.train.Checkpoint(iterator=it)) and avoid extra passes, or set "
    "reshuffle_each_iteration=False and shuffle each epoch with seed=seedlock.derive(f'epoch-{epoch}')",
)
def sl303(m: Module) -> Iterator[Hit]:
    for call in m.calls:
        if last_name(call.func) == "shuffle" and is_const(keyword(call, "reshuffle_each_iteration"), True):
            yield call, "reshuffle_each_iteration=True: each new iterator draws a new order"


@rule(
    "SL401",
    "info",
    "torch DataLoader with worker processes",
    why="PyTorch seeds worker i with base_seed + i, and seeds Python's random and NumPy in each worker from it; "
    "base_seed comes from the loader's generator (or torch's default one, which seedlock seeds). Not covered: a "
    "custom worker_init_fn that draws OS entropy; non-torch RNGs (random.Random(), np.random.default_rng()) "
    "made in the dataset's __init__, which every worker copies with the same state; and persistent_workers=True, "
    "where worker RNG state carries over from epoch to epoch",
    fix="DataLoader(..., generator=seedlock.torch_generator('train'), worker_init_fn=seedlock.worker_init_fn); "
    "make per-sample RNGs from torch.initial_seed() inside the worker, not in __init__",
)
def sl401(m: Module) -> Iterator[Hit]:
    for call in m.calls:
        name = m.qualname(call.func) or ""
        workers = keyword(call, "num_workers")
        if (
            not (name.startswith("torch.") and name.endswith(".DataLoader"))
            or workers is None
            or is_const(workers, 0)
        ):
            continue
        notes = []
        if keyword(call, "worker_init_fn") is not None:
            notes.append("check its worker_init_fn seeds from torch.initial_seed(), not OS entropy")
        if is_const(keyword(call, "persistent_workers"), True):
            notes.append("persistent_workers=True carries worker RNG state across epochs")
        tail = f"; {'; '.join(notes)}" if notes else ""
        yield (
            call,
            f"DataLoader(num_workers={_src(workers)}): workers are seeded from the loader's base seed{tail}",
        )


def _assigned(m: Module, qualname: str, value: bool) -> Iterator[Hit]:
    for node in m.assigns:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for t in targets:
            if m.qualname(t) == qualname and is_const(node.value, value):
                yield t, f"{_src(t)} = {value}"
    owner, _, attr = qualname.rpartition(".")
    for call in m.calls:  # setattr(torch.backends.cudnn, "benchmark", True) sets the same switch
        if (
            dotted(call.func) == "setattr"
            and "setattr" not in m.aliases
            and len(call.args) == 3
            and is_const(call.args[1], attr)
            and m.qualname(call.args[0]) == owner
            and is_const(call.args[2], value)
        ):
            yield call, _src(call)


@rule(
    "SL402",
    "warn",
    "cuDNN benchmark mode on",
    why="cudnn.benchmark=True times several convolution algorithms at start-up and keeps the fastest, which "
    "can differ from run to run and between GPUs; it also overrides the setting seedlock made on import",
    fix="leave torch.backends.cudnn.benchmark = False for runs that must be reproducible (seedlock sets it)",
)
def sl402(m: Module) -> Iterator[Hit]:
    for node, text in _assigned(m, "torch.backends.cudnn.benchmark", True):
        yield node, f"{text}: the kernel is chosen by timing, per run"


@rule(
    "SL403",
    "warn",
    "deterministic algorithms switched off",
    why="the script switches off the deterministic kernels that seedlock (or an earlier line) switched on: "
    "CUDA atomics and nondeterministic cuDNN algorithms come back",
    fix="delete the line; if a deterministic kernel is missing, torch says which op, and "
    "torch.use_deterministic_algorithms(True, warn_only=True) keeps the rest deterministic",
)
def sl403(m: Module) -> Iterator[Hit]:
    for node, text in _assigned(m, "torch.backends.cudnn.deterministic", False):
        yield node, f"{text} undoes deterministic cuDNN"
    for call in m.calls:
        if m.qualname(call.func) == "torch.use_deterministic_algorithms" and is_const(
            argument(call, 0, "mode"), False
        ):
            yield call, f"{written(call)}(False) switches deterministic algorithms off"


@rule(
    "SL501",
    "info",
    "TF1 thread settings through ConfigProto",
    why="intra_op/inter_op_parallelism_threads in a TF1 ConfigProto only reach tf.compat.v1 sessions; pinned "
    "threads are rarely needed for determinism on one machine, and cost speed: " + THREADS_COST,
    fix="drop them and rely on op determinism (seedlock run); when you do need fixed threads, use "
    "tf.config.threading.set_intra_op_parallelism_threads(n) or `seedlock run --threads N`",
)
def sl501(m: Module) -> Iterator[Hit]:
    for call in m.calls:
        name = m.qualname(call.func) or ""
        threads = [
            k
            for k in call.keywords
            if k.arg in ("intra_op_parallelism_threads", "inter_op_parallelism_threads")
        ]
        if name.startswith("tensorflow") and name.endswith(".ConfigProto") and threads:
            yield (
                call,
                f"ConfigProto({', '.join(f'{k.arg}={_src(k.value)}' for k in threads)}): TF1 thread pinning",
            )


@rule(
    "SL502",
    "warn",
    "Keras 2 fit() with worker threads or processes",
    why="workers>1 runs your Sequence or generator in several threads, and use_multiprocessing=True in forked "
    "processes that copy the parent's RNG state: random augmentations repeat across workers or come in thread "
    "order (Keras 3 moved these arguments to PyDataset)",
    fix="workers=1, use_multiprocessing=False; or a tf.data pipeline, or a PyDataset that seeds per index",
)
def sl502(m: Module) -> Iterator[Hit]:
    for call in m.calls:
        if last_name(call.func) not in FIT_METHODS or not isinstance(call.func, ast.Attribute):
            continue
        workers, multi = keyword(call, "workers"), keyword(call, "use_multiprocessing")
        many = workers is not None and not is_const(workers, 0, 1)
        if is_const(multi, True) or many:
            args = ", ".join(
                f"{k.arg}={_src(k.value)}"
                for k in call.keywords
                if k.arg in ("workers", "use_multiprocessing")
            )
            yield call, f".{call.func.attr}({args}): batches are made in parallel workers"


@rule(
    "SL503",
    "warn",
    "recurrent_dropout in a recurrent layer",
    why="a nonzero recurrent_dropout rules out the fused cuDNN LSTM/GRU kernel on GPU: Keras runs the generic "
    "step loop (much slower), whose numbers differ from cuDNN runs of the same model, and draws a dropout "
    "mask at every step",
    fix="use dropout= on the inputs (cuDNN keeps it) or a Dropout layer between recurrent layers; with "
    "recurrent_dropout, compare runs only on the same kind of device",
)
def sl503(m: Module) -> Iterator[Hit]:
    for call in m.calls:
        rate = keyword(call, "recurrent_dropout")
        if rate is not None and not is_const(rate, 0, 0.0):
            yield call, f"recurrent_dropout={_src(rate)}: no cuDNN kernel on GPU"


@rule(
    "SL504",
    "info",
    "XLA compilation (jit_compile)",
    why="XLA fuses ops and, on GPU, autotunes kernels: the numbers depend on the XLA version and the device, "
    "so they differ from a run without XLA and can differ between machines",
    fix="compare bit for bit only on the same machine and versions, with deterministic ops on (seedlock run); "
    "drop jit_compile=True when you need the numbers of a run without XLA",
)
def sl504(m: Module) -> Iterator[Hit]:
    for call in m.calls:
        if is_const(keyword(call, "jit_compile"), True):
            yield call, f"{written(call)}(jit_compile=True) compiles with XLA"
        elif m.qualname(call.func) == "tensorflow.config.optimizer.set_jit" and not is_const(
            argument(call, 0, "enabled"), False
        ):
            yield call, f"{written(call)}() turns on XLA auto-clustering"


TF_SEEDS = {
    "tensorflow.random.set_seed",
    "tensorflow.set_random_seed",
    "tensorflow.compat.v1.set_random_seed",
    "tensorflow.compat.v1.random.set_random_seed",
}


def _keras3_installed() -> bool:
    """Keras 3 is what ``import keras`` (and ``tf.keras`` from TensorFlow 2.16 on) gives here;
    read from the package metadata, nothing is imported."""
    from importlib import metadata

    try:
        return int(metadata.version("keras").split(".")[0]) >= 3
    except (metadata.PackageNotFoundError, ValueError):
        return False


def _uses_keras3(m: Module) -> bool:
    if not _keras3_installed():
        return False
    if m.imports("keras"):
        return True
    # tf.keras is tf-keras (Keras 2) when TF_USE_LEGACY_KERAS is set, by the script or its environment
    if "TF_USE_LEGACY_KERAS" in m.source or os.environ.get("TF_USE_LEGACY_KERAS", "") not in ("", "0"):
        return False
    names = [*m.aliases.values(), *(m.qualname(c.func) or "" for c in m.calls)]
    return any(n.startswith("tensorflow.keras") for n in names) or any(
        isinstance(n, ast.Attribute) and n.attr == "keras" and m.qualname(n.value) == "tensorflow"
        for n in ast.walk(m.tree)
    )


def _seeds_keras3(m: Module, call: ast.Call) -> bool:
    """A call that seeds Keras 3's own generator: keras.utils.set_random_seed, seedlock, or
    Python's random.seed(N), from which unseeded Keras 3 SeedGenerators draw their seeds."""
    name = m.qualname(call.func) or ""
    if name.endswith("utils.set_random_seed") and name.startswith(("keras", "tensorflow.keras")):
        return True
    if name.startswith("seedlock"):
        return True
    return name == "random.seed" and argument(call, 0, "a") is not None


@rule(
    "SL505",
    "warn",
    "tf.random.set_seed does not seed Keras 3",
    why="in Keras 3 (`import keras`, and `tf.keras` from TensorFlow 2.16 on) layer initializers and dropout "
    "draw from Keras's own SeedGenerator, whose default seed comes from Python's `random`; tf.random.set_seed "
    "seeds TensorFlow's ops only, so the initial weights and dropout masks differ in every run",
    fix="call keras.utils.set_random_seed(N) instead (it seeds Python, NumPy, TensorFlow and Keras), or run "
    "under `seedlock run` / `seedlock check`, which seed Keras too",
)
def sl505(m: Module) -> Iterator[Hit]:
    seeds = [c for c in m.calls if m.qualname(c.func) in TF_SEEDS]
    if not seeds or any(_seeds_keras3(m, c) for c in m.calls) or not _uses_keras3(m):
        return
    call = seeds[0]
    yield (
        call,
        f"{written(call)}({', '.join(_src(a) for a in call.args)}) seeds TensorFlow only: nothing in this "
        "file seeds Keras 3, whose initializers and dropout do not draw from it",
    )

"""TensorFlow: eager and graph-mode seeds, the global ``tf.random.Generator``, op determinism, threads."""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

from seedlock.frameworks.base import Adapter, Config, version_of
from seedlock.report import SeedReport

_patched = False


def env(config: Config, environ: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    if config.deterministic:
        out["TF_DETERMINISTIC_OPS"] = "1"  # read by older TF; enable_op_determinism() is the real switch
    if config.threads is not None:
        out["TF_NUM_INTRAOP_THREADS"] = str(config.threads)
        out["TF_NUM_INTEROP_THREADS"] = str(config.threads)
    return out


def _current_seed() -> int | None:
    from seedlock import seeds

    try:
        return seeds.master_seed()
    except seeds.NoMasterSeed:
        return None


def _patch(tf: ModuleType) -> None:
    """Graphs created later (tf.compat.v1 after disable_eager_execution) get the graph seed, and the
    global tf.random.Generator is made from a derived seed instead of OS entropy.

    With op determinism on, TF raises "Random ops require a seed" on unseeded graph code and refuses
    get_global_generator() outright, so neither is optional.
    """
    global _patched
    if _patched:
        return
    from tensorflow.python.framework import ops
    from tensorflow.python.ops import stateful_random_ops as sro

    graph_init = ops.Graph.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        graph_init(self, *args, **kwargs)
        seed = _current_seed()
        if seed is not None and self._seed is None:
            self._seed = seed

    ops.Graph.__init__ = __init__
    original_getter = sro.get_global_generator

    def get_global_generator() -> Any:
        seed = _current_seed()
        if sro.global_generator is None and seed is not None:
            from seedlock.seeds import derive

            with ops.init_scope():
                sro.global_generator = sro.Generator.from_seed(
                    derive("tensorflow.global_generator", seed=seed)
                )
        return original_getter()

    get_global_generator.__doc__ = original_getter.__doc__
    sro.get_global_generator = get_global_generator
    tf.random.get_global_generator = get_global_generator
    tf.random.experimental.get_global_generator = get_global_generator
    _patched = True


def apply(tf: ModuleType, config: Config, report: SeedReport, explicit: bool) -> None:
    from tensorflow.python.framework import ops
    from tensorflow.python.ops import stateful_random_ops as sro

    _patch(tf)
    tf.random.set_seed(config.seed)  # eager global seed; also resets the op-seed counter
    graph = ops.get_default_graph()
    graph.seed = config.seed  # graph mode: the default graph that already exists
    sro.global_generator = None  # re-made from the seed on next use
    report.add(
        "tensorflow",
        "seeded",
        f"tensorflow {version_of(tf)}: tf.random.set_seed({config.seed}), graph seeds, global Generator",
    )
    if config.deterministic:
        from tensorflow.python.framework import config as tf_config

        tf.config.experimental.enable_op_determinism()
        ok = tf_config.is_op_determinism_enabled()
        report.add(
            "tensorflow.ops",
            "verified" if ok else "failed",
            "op determinism on (enable_op_determinism; also orders tf.data parallel map)"
            if ok
            else "enable_op_determinism() did not take effect",
        )
    if config.threads is not None:
        n = config.threads
        try:
            tf.config.threading.set_intra_op_parallelism_threads(n)
            tf.config.threading.set_inter_op_parallelism_threads(n)
            report.add("tensorflow.threads", "switched", f"intra/inter-op threads = {n}")
        except RuntimeError:
            got = tf.config.threading.get_intra_op_parallelism_threads()
            report.add(
                "tensorflow.threads",
                "verified" if got == n else "warning",
                f"TF runtime already started with {got or 'default'} intra-op threads; "
                f"use `seedlock run --threads {n}` to set them before start",
            )


def reset(tf: ModuleType, report: SeedReport) -> None:
    from tensorflow.python.ops import stateful_random_ops as sro

    if tf.executing_eagerly():
        tf.compat.v1.reset_default_graph()
    sro.global_generator = None
    report.add("tensorflow", "switched", "default graph and global Generator reset")


ADAPTER = Adapter("tensorflow", "tensorflow", apply, env=env, reset=reset)

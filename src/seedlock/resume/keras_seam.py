"""Keras 3: ``model.save``/``keras.models.load_model`` and ``save_weights``/``load_weights``
(what ``keras.callbacks.BackupAndRestore`` calls) carry the RNG state in a side file.

Besides the global RNGs, a model has generators of its own: each ``Dropout`` (any layer with a
``SeedGenerator``) keeps its state in a variable that Keras does not save with the weights, so a
restored model would replay epoch 0's dropout masks. The side file holds those states too, in the
order of ``model.variables``, and loading puts them back into the loaded model.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

from seedlock.errors import BadRngState
from seedlock.resume import events, sidefile
from seedlock.resume.checks import assign, prepare_variable
from seedlock.resume.sidefile import is_path
from seedlock.resume.state import variable_state

SEED_STATE = "seed_generator_state"  # the name every keras.random.SeedGenerator gives its variable


def _seed_variables(model: Any) -> list[Any]:
    return [v for v in getattr(model, "variables", []) if getattr(v, "name", "") == SEED_STATE]


def model_states(model: Any) -> dict[str, Any]:
    return {"seed_generators": [{"path": v.path, **variable_state(v)} for v in _seed_variables(model)]}


def restore_model(model: Any, extra: object, where: str) -> None:
    """Put the saved generator states back into ``model``: all of them, or none (one line) when
    the model has other generators than the one saved."""
    saved = extra.get("seed_generators") if isinstance(extra, dict) else None
    try:
        if not isinstance(saved, list):
            raise BadRngState(f"{where} holds no model generator states")
        variables = _seed_variables(model)
        if [s.get("path") if isinstance(s, dict) else None for s in saved] != [v.path for v in variables]:
            raise BadRngState(
                f"{where} was saved from a model with other random layers; their states are not restored"
            )
        values = [prepare_variable(s, f"{where}: seed generator") for s in saved]
    except BadRngState as exc:
        sidefile.note(str(exc))
        return
    for variable, value in zip(variables, values, strict=True):
        assign(variable, value)


def patch(saving_lib: ModuleType) -> None:
    if getattr(saving_lib.save_model, "_seedlock", False):
        return
    for save_name, load_name in (("save_model", "load_model"), ("save_weights_only", "load_weights_only")):
        _wrap(saving_lib, save_name, load_name)


def _wrap(saving_lib: ModuleType, save_name: str, load_name: str) -> None:
    save, load = getattr(saving_lib, save_name), getattr(saving_lib, load_name)
    loads_model = load_name == "load_model"  # load_model(path) makes the model; the other loads into one

    @functools.wraps(save)
    def seedlock_save(model: Any, filepath: Any, *args: Any, **kwargs: Any) -> Any:
        out = save(model, filepath, *args, **kwargs)
        if is_path(filepath) and events.carry_rng:
            try:
                sidefile.write(filepath, extra=model_states(model))
            except OSError as exc:
                sidefile.note(
                    f"could not write {sidefile.path_for(filepath)} ({exc}); a resume from it redraws"
                )
        if is_path(filepath):  # after the side file: a preemption right after this keeps both
            events.tell("save", filepath)
        return out

    @functools.wraps(load)
    def seedlock_load(*args: Any, **kwargs: Any) -> Any:
        out = load(*args, **kwargs)
        model = out if loads_model else (args[0] if args else kwargs.get("model"))
        filepath = (
            args[0 if loads_model else 1] if len(args) > (0 if loads_model else 1) else kwargs.get("filepath")
        )
        if is_path(filepath) and events.carry_rng:
            data = sidefile.restore(filepath)
            if data is not None and model is not None:
                restore_model(model, data.get("extra"), sidefile.path_for(filepath))
        if is_path(filepath):
            events.tell("load", filepath)
        return out

    seedlock_save._seedlock = True  # type: ignore[attr-defined]
    setattr(saving_lib, save_name, seedlock_save)
    setattr(saving_lib, load_name, seedlock_load)

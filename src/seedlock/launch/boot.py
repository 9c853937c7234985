"""The child side of ``seedlock run``: seed, hook, then run the script as ``__main__``.

Invoked as ``python -m seedlock.launch.boot path SCRIPT [ARGS...]`` or
``python -m seedlock.launch.boot module MODULE [ARGS...]`` with the environment made by
:func:`seedlock.launch.env.child_env`. The script must not notice it was launched: its
``__name__``, ``sys.argv``, ``sys.path[0]``, exit code, signals and standard streams are what
``python SCRIPT`` would give it.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import runpy
import sys
from types import TracebackType

from seedlock import api
from seedlock.launch.env import ENV_VERBOSE, config_from_env


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _trimmed(tb: TracebackType | None, target_file: str | None) -> TracebackType | None:
    """Drop seedlock's and runpy's frames from the top of a traceback."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if target_file is not None and os.path.abspath(filename) == target_file:
            break
        if not (filename.startswith(here) or filename == runpy.__file__ or filename.startswith("<frozen runpy")):
            break
        tb = tb.tb_next
    return tb


def main(argv: list[str]) -> None:
    mode, target, *args = argv
    verbose = os.environ.get(ENV_VERBOSE) == "1"
    config = config_from_env(os.environ)
    report = api.seed_everything(config.seed, deterministic=config.deterministic, threads=config.threads)
    if verbose:
        for line in report.lines():
            _say(line)
        start = len(report.entries)

        def later() -> None:  # what adapters did on imports during the run
            for line in report.lines()[1 + start :]:
                _say(line)

        atexit.register(later)

    target_file: str | None = None
    if mode == "path":
        target_file = os.path.abspath(target)
        sys.argv = [target, *args]
        sys.path[0] = os.path.dirname(os.path.realpath(target))  # as `python SCRIPT` does
    else:
        sys.argv = [target, *args]  # runpy replaces argv[0] with the module's file, as `python -m` does
        sys.path[0] = os.getcwd()
        try:
            spec = importlib.util.find_spec(target)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            _say(f"seedlock: error: no module named {target!r}; check the name, or run from the directory that has it")
            sys.exit(2)

    try:
        if mode == "path":
            runpy.run_path(target, run_name="__main__")
        else:
            runpy.run_module(target, run_name="__main__", alter_sys=True)
    except (SystemExit, KeyboardInterrupt):
        raise  # exit codes and Ctrl-C behave as under plain python
    except BaseException as exc:
        tb = _trimmed(exc.__traceback__, target_file)
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])

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
from collections.abc import Callable
from types import TracebackType
from typing import Any

from seedlock.config import ENV_ENTROPY, ENV_RANK_TRACE, ENV_ROOT, ENV_VIEW, Settings
from seedlock.launch.process import die_with_parent
from seedlock.report import SeedReport


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _trimmed(tb: TracebackType | None, target_file: str | None) -> TracebackType | None:
    """Drop seedlock's and runpy's frames from the top of a traceback."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if target_file is not None and os.path.abspath(filename) == target_file:
            break
        if not (
            filename.startswith(here) or filename == runpy.__file__ or filename.startswith("<frozen runpy")
        ):
            break
        tb = tb.tb_next
    return tb


def _manifest(path: str, settings: Settings, report: SeedReport | None) -> None:
    """Written at start (a crash still leaves one), rewritten at exit with what was applied on import."""
    from seedlock.doctor import manifest

    wanted = {
        "deterministic": settings.deterministic,
        "threads": settings.threads,
        "plain": settings.plain,
        "strict": settings.strict,
        "audit": settings.audit,
    }
    data = manifest.build(None if settings.plain else settings.seed, [sys.executable, *sys.argv], wanted)
    manifest.write(path, data)

    def final() -> None:
        if report is not None:  # what adapters did, in order; not compared by `seedlock diff`
            data["applied"] = [e._asdict() for e in report.entries]
        manifest.write(path, data)

    atexit.register(final)


def _setup() -> None:
    """Seed, then the optional layers: strict, audit, trace, manifest; all before the script's first line."""
    os.environ.pop(ENV_ROOT, None)  # this process is the run; the ones it starts are its children
    if os.environ.get(ENV_VIEW):  # a run in a private view (check, repeat): its writes stay there
        from seedlock.launch import cow

        cow.install()
    settings = Settings.from_env(os.environ)  # the one read of seedlock's variables
    report = None
    if not settings.plain:
        from seedlock.launch import child

        report = child.seed(settings, root=True)
        if (
            settings.audit and not settings.verbose
        ):  # -v lists them with the report; else the audit's list alone
            from seedlock.audit import ops as audit

            def say_audit() -> None:
                from seedlock.audit import entropy

                for line in [*audit.explain(), *entropy.explain()]:
                    _say(f"seedlock: {line}")

            atexit.register(say_audit)
    if settings.plain and os.environ.get(ENV_ENTROPY):  # check --plain: nothing seeded, draws still recorded
        from seedlock.audit import entropy

        entropy.install_from_env(root=True)
    if settings.trace:
        from seedlock.trace import instrument

        os.environ[ENV_RANK_TRACE] = settings.trace  # the ranks this run starts trace beside it

        instrument.install(settings.trace, settings.granularity, settings.digest)
    if settings.manifest:
        _manifest(settings.manifest, settings, report)
    if settings.verbose and report is not None:
        # Each framework once: what was done now, then at exit what was done on import, and what
        # was never imported (a "pending" row now and a "seeded" row later said numpy twice).
        for line in report.lines(pending=False):
            _say(line)
        if report.pending():
            _say("  frameworks the script imports are seeded on import: listed at exit")
        start = len(report.entries)

        def later() -> None:  # what adapters did on imports during the run
            if settings.strict:
                from seedlock.audit import strict

                strict.finish()  # atexit runs in reverse order: flush their entries first
            if settings.audit:
                from seedlock.audit import ops as audit

                audit.finish()
            for line in report.lines(since=start)[1:]:
                _say(line)
            if report.pending():
                _say(f"  not imported     {', '.join(report.pending())}")

        atexit.register(later)


# The script's globals, alive until the process ends, as plain python keeps __main__'s: the
# exit fingerprint (an atexit handler) finds the models in them. Dropped on return, a model
# whose autograd graph holds cycles was there only until the next collection: a forked trial's
# came before its fingerprint, which then missed the model.
_script_globals: list[dict[str, Any]] = []


def _keep_globals(exc: BaseException) -> None:
    """The globals of the script's frames in ``exc``'s traceback (``runpy`` returns none then)."""
    tb = exc.__traceback__
    while tb is not None:
        namespace = tb.tb_frame.f_globals
        mine = namespace is globals() or any(namespace is g for g in _script_globals)
        if namespace.get("__name__") == "__main__" and not mine:
            _script_globals.append(namespace)
        tb = tb.tb_next


def release_globals() -> None:
    """What interpreter shutdown does to ``__main__``'s globals, for a process that ends with
    ``os._exit`` (a forked trial): clear them and collect, so that what they held is finalised
    (an unclosed file flushes its buffer)."""
    import gc

    while _script_globals:
        _script_globals.pop().clear()
    gc.collect()


class _CannotRun(Exception):
    """A module ``python -m`` would refuse with one line: not found, a package without ``__main__``..."""


def _check_module(name: str) -> None:
    """Exit 2 with ``python -m``'s own one-line reason if ``name`` cannot be run as a module.

    runpy's lookup (pdb uses it too) imports the parent packages: an error in their code
    propagates, a traceback as under ``python -m``, instead of passing for a missing module.
    """
    details = getattr(runpy, "_get_module_details", None)  # private: a later python may drop it
    try:
        if details is not None:
            details(name, _CannotRun)
        elif importlib.util.find_spec(name) is None:
            raise _CannotRun(f"No module named {name}")
    except _CannotRun as exc:
        reason = str(exc)
        if reason == f"No module named {name}":
            reason = f"no module named {name!r}; check the name, or run from the directory that has it"
        _say(f"seedlock: error: {reason}")
        sys.exit(2)


def _run_script(path: str) -> None:
    """Run a .py file as ``python SCRIPT`` does: in a ``__main__`` module that stays in
    ``sys.modules`` after the last line (runpy puts boot's back, and pickling a class of the
    script from a thread or atexit then failed), with an absolute ``__file__``, a loader, and
    ``__builtins__`` the module."""
    import builtins
    import types
    from importlib.machinery import SourceFileLoader

    with open(path, "rb") as f:  # bytes: compile() reads the coding cookie
        source = f.read()
    code = compile(source, path, "exec", dont_inherit=True)  # not boot's __future__ imports
    main = types.ModuleType("__main__")
    main.__dict__.update(
        __file__=path,
        __cached__=None,
        __loader__=SourceFileLoader("__main__", path),
        __package__=None,
        __spec__=None,
        __builtins__=builtins,
    )
    sys.modules["__main__"] = main
    _script_globals.append(main.__dict__)
    exec(code, main.__dict__)


def main(argv: list[str], after_setup: Callable[[], None] | None = None) -> None:
    mode, target, *args = argv
    # Run as `python -m seedlock.launch.boot`, this module is __main__ until the script's takes
    # that name: findable by its own name all along (the exit fingerprint reads _script_globals),
    # and never imported a second time.
    sys.modules.setdefault("seedlock.launch.boot", sys.modules[__name__])
    die_with_parent()
    _setup()
    if after_setup is not None:  # `seedlock repeat`'s forked trials: replay the zygote's import-time draws
        after_setup()

    target_file: str | None = None
    # Under -P sys.path[0] is the standard library's zip: insert, do not replace.
    first = os.path.dirname(os.path.realpath(target)) if mode == "path" else os.getcwd()
    if mode == "path" and os.environ.get(ENV_VIEW):  # the script's directory in the view, not the user's
        from seedlock.launch.cow import to_view

        first = to_view(first)
        target = to_view(target) if os.path.isabs(target) else target
    if sys.flags.safe_path:
        sys.path.insert(0, first)
    else:
        sys.path[0] = first
    sys.argv = [target, *args]  # for -m, runpy replaces argv[0] with the module's file, as python does
    if mode == "path":
        target_file = os.path.abspath(target)

    try:
        if mode == "path" and target.endswith(".py"):
            _run_script(os.path.abspath(target))
        elif mode == "path":  # a zip archive, a .pyc: runpy knows them
            _script_globals.append(runpy.run_path(target, run_name="__main__"))
        else:
            _check_module(target)  # inside the try: a parent package's own error is the script's
            _script_globals.append(runpy.run_module(target, run_name="__main__", alter_sys=True))
    except (SystemExit, KeyboardInterrupt) as exc:
        _keep_globals(exc)
        raise  # exit codes and Ctrl-C behave as under plain python
    except BaseException as exc:
        _keep_globals(exc)
        tb = _trimmed(exc.__traceback__, target_file)
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])

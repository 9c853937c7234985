"""Put first on ``PYTHONPATH`` by ``seedlock run``/``check``/``repeat``, so that every Python
interpreter started beneath a seeded run (torchrun's ranks, multiprocessing's spawn and forkserver
workers, a ``subprocess`` or a shell script's ``python``) is seeded before the user's code runs.

Then the ``sitecustomize`` this one shadows (a distribution's, a venv's) runs as it would have.
Not covered: interpreters started with ``-I``/``-E`` (they ignore ``PYTHONPATH``) or ``-S`` (no
site, so no sitecustomize), a Python without seedlock installed, and a child whose environment
the parent replaced without the ``SEEDLOCK_*`` variables.
"""

import os
import sys


def _chain() -> None:
    """Run the next ``sitecustomize`` on ``sys.path``, the one this file shadows."""
    import importlib.machinery
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


try:
    if os.environ.get("SEEDLOCK_ACTIVE") == "1" and os.environ.get("SEEDLOCK_ROOT") is None:
        from seedlock.launch import child

        child.setup()
except ImportError:
    pass  # a Python without seedlock: nothing to seed with
except Exception as exc:  # a child must run even if seeding it failed; say so once
    print(f"seedlock: this child process was not seeded ({type(exc).__name__}: {exc})", file=sys.stderr)
finally:
    _chain()

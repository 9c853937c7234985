"""``seedlock.trace_compare``, the public path of :mod:`seedlock.trace.compare`: the same module object, not a copy."""

import sys
from typing import TYPE_CHECKING

from seedlock.trace import compare as _module

if TYPE_CHECKING:  # what type checkers see at this path
    from seedlock.trace.compare import *  # noqa: F403

sys.modules[__name__] = _module

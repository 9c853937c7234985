"""``seedlock.keras``, the public path of :mod:`seedlock.trace.keras_callbacks`: the same module object, not a copy."""

import sys
from typing import TYPE_CHECKING

from seedlock.trace import keras_callbacks as _module

if TYPE_CHECKING:  # what type checkers see at this path
    from seedlock.trace.keras_callbacks import *  # noqa: F403

sys.modules[__name__] = _module

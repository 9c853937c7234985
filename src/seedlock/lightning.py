"""``seedlock.lightning``, the public path of :mod:`seedlock.integrations.lightning`: the same module object, not a copy."""

import sys
from typing import TYPE_CHECKING

from seedlock.integrations import lightning as _module

if TYPE_CHECKING:  # what type checkers see at this path
    from seedlock.integrations.lightning import *  # noqa: F403

sys.modules[__name__] = _module

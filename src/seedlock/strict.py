"""``seedlock.strict``, the public path of :mod:`seedlock.audit.strict`: the same module object, not a copy."""

import sys
from typing import TYPE_CHECKING

from seedlock.audit import strict as _module

if TYPE_CHECKING:  # what type checkers see at this path
    from seedlock.audit.strict import *  # noqa: F403

sys.modules[__name__] = _module

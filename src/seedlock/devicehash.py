"""``seedlock.devicehash``, the public path of :mod:`seedlock.fingerprint.devicehash`: the same module object, not a copy."""

import sys
from typing import TYPE_CHECKING

from seedlock.fingerprint import devicehash as _module

if TYPE_CHECKING:  # what type checkers see at this path
    from seedlock.fingerprint.devicehash import *  # noqa: F403

sys.modules[__name__] = _module

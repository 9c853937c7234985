"""``seedlock.pytest_plugin``, the public path of :mod:`seedlock.integrations.pytest_plugin`: the same module object, not a copy."""

import sys
from typing import TYPE_CHECKING

from seedlock.integrations import pytest_plugin as _module

if TYPE_CHECKING:  # what type checkers see at this path
    from seedlock.integrations.pytest_plugin import *  # noqa: F403

sys.modules[__name__] = _module

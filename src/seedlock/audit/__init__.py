"""Runtime auditing: which ops ran with no deterministic kernel (``--audit``), which RNGs were
drawn from where (``--strict``), and the user's line of code behind each.

``seedlock.audit.install``/``explain``/``ALTERNATIVES`` are the op audit's (:mod:`seedlock.audit.ops`);
``seedlock.strict`` is the public path of :mod:`seedlock.audit.strict`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

_LAZY = {
    "ops": ["finish", "install", "install_from_env"],
    "records": ["ALTERNATIVES", "AuditRecord", "alternative_for", "explain", "record", "records", "write"],
}
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__, submodules=["callsite", "ops", "records", "strict", "tf_ops"], submod_attrs=_LAZY
)

if TYPE_CHECKING:  # for type checkers; tests/test_layout.py keeps it equal to _LAZY
    from seedlock.audit.ops import finish, install, install_from_env
    from seedlock.audit.records import (
        ALTERNATIVES,
        AuditRecord,
        alternative_for,
        explain,
        record,
        records,
        write,
    )

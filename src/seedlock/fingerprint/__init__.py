"""Fingerprints: bitwise digests of weights and tensors (xxh3 on the host, ``dh1`` where a tensor
lives on a device), the leaves they are taken of, and float summaries for telling how far runs differ.

>>> import numpy as np
>>> from seedlock.fingerprint import fingerprint
>>> fingerprint({"w": np.zeros(3)}).digest == fingerprint({"w": np.zeros(3)}).digest
True
"""

from seedlock.fingerprint.digest import *  # noqa: F403
from seedlock.fingerprint.digest import __all__ as __all__

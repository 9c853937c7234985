"""``seedlock doctor``: why is my run not reproducible?

Three tools, each usable on its own:

* :mod:`~seedlock.doctor.environment`: audit this machine and process (Python, CPU flags,
  GPU, library versions, threads, oneDNN, hash seed, determinism variables);
* :mod:`~seedlock.doctor.static`: scan scripts, without running them, for sources of
  nondeterminism, each with a stable rule ID, file:line:col and the fix;
* :mod:`~seedlock.doctor.manifest`: record a run's provenance and diff two records.

>>> from seedlock.doctor import scan_source
>>> [f.id for f in scan_source("import numpy as np\\nrng = np.random.default_rng()\\n")]
['SL101']

Nothing here imports a framework.
"""

from __future__ import annotations

from seedlock.doctor.environment import collect, findings
from seedlock.doctor.findings import Finding, Status
from seedlock.doctor.static import RULES, scan, scan_file, scan_source

__all__ = ["RULES", "Finding", "Status", "collect", "findings", "scan", "scan_file", "scan_source"]

"""NumPy's legacy global ``RandomState`` (``np.random.*``; scikit-learn's ``random_state=None``)."""

from __future__ import annotations

from types import ModuleType

from seedlock.frameworks.base import Adapter, Config, version_of
from seedlock.report import SeedReport


def apply(np: ModuleType, config: Config, report: SeedReport, explicit: bool) -> None:
    np.random.seed(config.seed)
    report.add(
        "numpy",
        "seeded",
        f"numpy {version_of(np)}: np.random.seed({config.seed}) (legacy global state; "
        "also scikit-learn's random_state=None). np.random.default_rng() with no seed is not reached: "
        "pass seedlock.rng(name)",
    )


ADAPTER = Adapter("numpy", "numpy", apply)

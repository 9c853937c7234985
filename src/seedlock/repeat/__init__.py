"""``seedlock repeat``: run a script over many seeds, keep every result, summarise honestly.

* :mod:`seedlock.repeat.store`: the SQLite store of experiments, trials and metrics.
* :mod:`seedlock.repeat.stats`: summaries, comparisons, multiple-testing correction, power.
* :mod:`seedlock.repeat.plots` and :mod:`seedlock.repeat.report`: PNG plots, one HTML report.

Only the store is imported here: scipy and matplotlib load when a statistic or plot is asked for.
"""

from seedlock.repeat.records import Experiment, ExperimentRuns, Trial
from seedlock.repeat.store import DEFAULT_STORE, Store

__all__ = ["DEFAULT_STORE", "Experiment", "ExperimentRuns", "Store", "Trial"]

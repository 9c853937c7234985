"""PyTensor (Theano's successor) with RNGs created without a seed, as seed 001's RandomStreams."""

import warnings

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.tensor.random.utils import RandomStream

from _digest import emit

warnings.simplefilter("ignore")
srng = RandomStream()
u = srng.uniform(0, 1, size=(3,))
n = pt.random.normal(0, 1, size=(2,))  # no rng: PyTensor makes one from OS entropy
f = pytensor.function([], [u, n])
emit("pytensor", [np.asarray(v) for v in f()])

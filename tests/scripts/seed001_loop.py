"""Seed 001's reset_random_seeds() loop, adapted to today's Keras (fewer rows and epochs).

--reset theirs    the answer's own reset_random_seeds() before each run
--reset seedlock  seedlock.reproducible(1) before each run
--reset none      nothing: each run continues the RNG streams of the last
"""

import os
import random
import sys

import keras
import numpy as np
import tensorflow as tf

from _digest import digest

mode = sys.argv[sys.argv.index("--reset") + 1] if "--reset" in sys.argv else "theirs"


def reset_random_seeds():
    os.environ["PYTHONHASHSEED"] = str(1)  # too late to matter: kept as the answer wrote it
    tf.random.set_seed(1)
    np.random.seed(1)
    random.seed(1)


NUM_ROWS, NUM_FEATURES = 64, 10
if mode == "theirs":
    reset_random_seeds()
x = np.random.normal(size=(NUM_ROWS, NUM_FEATURES)).astype("float32")
y = x.sum(axis=1) + np.random.normal(size=NUM_ROWS).astype("float32")


def run():
    model = keras.Sequential([keras.Input((NUM_FEATURES,)), keras.layers.Dense(40, activation="relu"),
                              keras.layers.Dense(20, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mean_squared_error")
    model.fit(x, y, epochs=3, verbose=0)
    return digest(model.get_weights())


results = []
for _ in range(3):
    if mode == "theirs":
        reset_random_seeds()
        results.append(run())
    elif mode == "seedlock":
        import seedlock

        with seedlock.reproducible(1):
            results.append(run())
    else:
        results.append(run())
print("runs:", " ".join(results))

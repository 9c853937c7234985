"""Seed 003: build-compile-fit twice in one process. With --reproducible, each fit runs inside
seedlock.reproducible(1234); without, the recipe seed 003 started from: tf.random.set_seed once."""

import sys

import keras
import numpy as np
import tensorflow as tf

from _digest import digest

use_seedlock = "--reproducible" in sys.argv
x = np.ones((3, 3), dtype="float32")
y = np.array([3.0, 2.0, 1.0], dtype="float32")


def build_and_fit():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="relu"),
                              keras.layers.Dense(3, activation="relu"), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(loss="mse", optimizer=keras.optimizers.Adam(0.001))
    model.fit(x, y, epochs=3, batch_size=1, verbose=0)
    return digest(model.get_weights())


if use_seedlock:
    import seedlock

    runs = []
    for _ in range(2):
        with seedlock.reproducible(1234):
            runs.append(build_and_fit())
else:
    tf.random.set_seed(1234)
    runs = [build_and_fit(), build_and_fit()]
print("fits:", " ".join(runs))

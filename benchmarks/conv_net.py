"""A small CPU conv net (Keras 3, TensorFlow): prints `fit_seconds:` (the fit alone, not the import)."""

import os
import sys
import time

import keras
import numpy as np

if "--one-thread" in sys.argv:  # the seeds' recipe: one intra-op and one inter-op thread
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
if "--seeded" in sys.argv:  # plain seeding, no determinism switches
    keras.utils.set_random_seed(int(os.environ.get("SEED", "1")))

rng = np.random.default_rng(0)
x = rng.standard_normal((2048, 28, 28, 1), dtype=np.float32)
y = rng.integers(0, 10, 2048)
model = keras.Sequential(
    [
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(16, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.25),
        keras.layers.Dense(10, activation="softmax"),
    ]
)
model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
model.fit(x[:256], y[:256], epochs=1, batch_size=64, verbose=0)  # warm-up: tracing, allocation
t = time.perf_counter()
model.fit(x, y, epochs=4, batch_size=64, verbose=0)
print("fit_seconds:", time.perf_counter() - t)

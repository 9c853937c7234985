"""Several TensorFlow-era scenarios in one process (one TF import): each prints `name: digest`."""

import os
import random
import sys
import time

import numpy as np
import tensorflow as tf

from _digest import emit

only = set(sys.argv[1:])


def want(name):
    return not only or name in only


# A vocabulary built by iterating a set of strings: its order follows PYTHONHASHSEED.
if want("set-vocab"):
    words = set("the quick brown fox jumps over the lazy dog again and again".split())
    vocab = {w: i for i, w in enumerate(words)}
    emit("set-vocab", [np.frombuffer(" ".join(vocab).encode(), dtype=np.uint8)])

# tf.data parallel map with deterministic=False: the order is whichever element finishes first.
if want("tf-data"):
    jitter = random.SystemRandom()  # not a seedable RNG: only op determinism can fix the order

    def slow(x):
        time.sleep(jitter.random() * 0.004)
        return x

    ds = tf.data.Dataset.range(24).map(
        lambda x: tf.py_function(slow, [x], tf.int64), num_parallel_calls=4, deterministic=False
    )
    emit("tf-data", [np.array([int(v) for v in ds], dtype=np.int64)])

# scikit-learn with random_state=None draws from NumPy's global state.
if want("sklearn"):
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    Xc, yc = make_classification(n_samples=80, n_features=6, random_state=0)
    clf = RandomForestClassifier(n_estimators=5, random_state=None).fit(Xc, yc)
    emit("sklearn", [clf.predict_proba(Xc)])

# Seed 000's LSTM, small, with dropout, in today's Keras.
if want("lstm"):
    import keras

    data = np.linspace(0, 1, 4 * 6 * 3, dtype="float32").reshape(4, 6, 3)
    target = np.eye(3, dtype="float32")[[0, 1, 2, 0]]
    m = keras.Sequential([keras.Input((6, 3)), keras.layers.LSTM(8), keras.layers.Dropout(0.3), keras.layers.Dense(3, activation="softmax")])
    m.compile(loss="categorical_crossentropy", optimizer="adam")
    m.fit(data, target, epochs=3, batch_size=2, verbose=0)
    emit("lstm", m.get_weights())

# Plain tf.random ops and the global tf.random.Generator.
if want("tf-random"):
    a = tf.random.uniform([4])
    g = tf.random.get_global_generator().normal([4])
    emit("tf-random", [a.numpy(), g.numpy()])

# Python's and NumPy's own global RNGs.
if want("py-np"):
    emit("py-np", [np.array([random.random() for _ in range(3)]), np.random.rand(3)])

if want("env"):
    print("env:", os.environ.get("PYTHONHASHSEED"))

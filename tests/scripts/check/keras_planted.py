"""A Keras model whose layer `dense_2` adds OS-entropy noise to its output from epoch 3 on:
`seedlock check` must report epoch 3 and `dense_2`."""

import os

import keras
import numpy as np

EPOCH = {"now": 0}


class Noisy(keras.layers.Dense):
    def call(self, x):
        out = super().call(x)
        if EPOCH["now"] >= 3:
            noise = np.frombuffer(os.urandom(4), dtype=np.uint32)[0] / 2**32 * 1e-3
            out = out + noise
        return out


class Epochs(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        EPOCH["now"] = epoch


x = np.linspace(-1, 1, 64, dtype="float32").reshape(-1, 4)
y = x.sum(axis=1, keepdims=True)
model = keras.Sequential([
    keras.Input((4,)),
    keras.layers.Dense(8, activation="relu", name="dense_1"),
    Noisy(8, activation="relu", name="dense_2"),
    keras.layers.Dense(1, name="dense_3"),
])
model.compile(loss="mse", optimizer="sgd", run_eagerly=True)  # Python-side noise runs every call
model.fit(x, y, epochs=5, batch_size=8, verbose=0, callbacks=[Epochs()])
print("done")

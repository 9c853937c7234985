"""Keras 3 with BackupAndRestore, the way the Keras docs show it: fit 4 epochs, a backup in
./backup after each, fit resumes from it on start. Shuffled batches and dropout, no RNG
handling of its own. STOP_AFTER_EPOCH=K exits after epoch K's backup (a preemption). Prints a
sha256 of the final weights' raw bytes."""

import hashlib
import os
import sys

import keras
import numpy as np

stop_after = int(os.environ.get("STOP_AFTER_EPOCH", "-1"))

x = np.linspace(-1, 1, 64 * 8, dtype="float32").reshape(64, 8)
y = np.sin(x.sum(axis=1, keepdims=True))
model = keras.Sequential(
    [keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dropout(0.3), keras.layers.Dense(1)]
)
model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="mse")


class Preempt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == stop_after:
            sys.exit(3)  # after BackupAndRestore, listed first, wrote this epoch's backup


model.fit(
    x,
    y,
    batch_size=8,
    epochs=4,
    shuffle=True,
    verbose=0,
    callbacks=[keras.callbacks.BackupAndRestore("backup"), Preempt()],
)
weights = b"".join(w.tobytes() for w in model.get_weights())
print("weights", hashlib.sha256(weights).hexdigest())

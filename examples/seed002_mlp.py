"""Seed 002's experiment: an MLP learns x -> x + 0.1 on ten points; 100 epochs; print the MSE.

Run it twice with plain `python` and the MSE changes; run it under `seedlock run` and it doesn't.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

length = 10
sequence = np.array([i / float(length) for i in range(length)], dtype="float32")
X, y = sequence[:-1].reshape(-1, 1), sequence[1:]
model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(10), keras.layers.Dense(1)])
model.compile(loss="mean_squared_error", optimizer="adam")
model.fit(X, y, epochs=100, batch_size=len(X), verbose=0)
yhat = model.predict(X, verbose=0)
print("MSE:", float(np.mean((y - yhat[:, 0]) ** 2)))

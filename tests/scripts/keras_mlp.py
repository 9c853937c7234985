"""Seed 002's MLP (today's Keras 3 API) on whatever KERAS_BACKEND says, with a Dropout layer."""

import keras
import numpy as np

from _digest import emit

length = 10
seq = np.array([i / float(length) for i in range(length)], dtype="float32")
X, y = seq[:-1].reshape(-1, 1), seq[1:]
model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(10), keras.layers.Dropout(0.2), keras.layers.Dense(1)])
model.compile(loss="mean_squared_error", optimizer="adam")
model.fit(X, y, epochs=20, batch_size=3, shuffle=True, verbose=0)
yhat = model.predict(X, verbose=0)
print("MSE:", float(np.mean((y - yhat[:, 0]) ** 2)).hex())
emit(f"keras-{keras.backend.backend()}", [np.asarray(w) for w in model.get_weights()])

"""A Keras 3 MLP fit for 50 epochs (shuffled batches, dropout), as a long job is."""

import keras
import numpy as np

x = np.linspace(-1, 1, 256 * 8, dtype="float32").reshape(256, 8)
y = np.sin(x.sum(axis=1, keepdims=True))
model = keras.Sequential(
    [keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dropout(0.3), keras.layers.Dense(1)]
)
model.compile(optimizer="sgd", loss="mse")
model.fit(x, y, epochs=50, batch_size=32, verbose=0)
print("loss", model.evaluate(x, y, verbose=0))

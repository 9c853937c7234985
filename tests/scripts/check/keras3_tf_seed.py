"""Seeds 001-003 in today's Keras: tf.random.set_seed (and NumPy's seed) as the only seeding.
Keras 3's initializers and dropout draw from its own SeedGenerator, so plain runs differ."""

import keras
import numpy as np
import tensorflow as tf

np.random.seed(1)
tf.random.set_seed(1234)
x = np.random.rand(32, 4).astype("float32")
y = x.sum(axis=1, keepdims=True)
model = keras.Sequential(
    [keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dropout(0.3), keras.layers.Dense(1)]
)
model.compile(loss="mse", optimizer="sgd")
model.fit(x, y, epochs=2, batch_size=8, verbose=0)
print("done")

"""tf-keras (Keras 2) with dropout."""

import numpy as np
import tf_keras

from _digest import emit

X = np.linspace(0, 1, 32, dtype="float32").reshape(-1, 1)
y = 2 * X[:, 0]
model = tf_keras.Sequential([tf_keras.layers.Dense(8, input_shape=(1,)), tf_keras.layers.Dropout(0.3), tf_keras.layers.Dense(1)])
model.compile(loss="mse", optimizer="adam")
model.fit(X, y, epochs=3, batch_size=8, verbose=0)
emit("tf-keras", model.get_weights())

"""keras3_tf_seed.py fixed as SL505 says: keras.utils.set_random_seed seeds Keras 3 too."""

import keras
import numpy as np

keras.utils.set_random_seed(1234)
x = np.random.rand(32, 4).astype("float32")
y = x.sum(axis=1, keepdims=True)
model = keras.Sequential(
    [keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dropout(0.3), keras.layers.Dense(1)]
)
model.compile(loss="mse", optimizer="sgd")
model.fit(x, y, epochs=2, batch_size=8, verbose=0)
print("done")

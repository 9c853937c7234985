"""Seed 000 as it was written: tf-keras (Keras 2) in TF1 graph mode, seeded by hand, an LSTM with
dropout fit on tiny random data; it prints nothing of its weights, so `seedlock check` must compare
them itself. With the argument `nudge`, the last layer's bias starts at a tiny value drawn from OS entropy:
stdout stays the same, the weights do not."""

import os
import random
import sys

os.environ["TF_USE_LEGACY_KERAS"] = "1"

import numpy as np
import tensorflow as tf

tf.compat.v1.disable_eager_execution()
import tf_keras as keras  # noqa: E402 - after the switch to graph mode, as seed 000 does

np.random.seed(42)
random.seed(12345)
tf.compat.v1.set_random_seed(1234)
config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
tf.compat.v1.keras.backend.set_session(
    tf.compat.v1.Session(graph=tf.compat.v1.get_default_graph(), config=config)
)

x = np.random.rand(16, 4, 3).astype("float32")
y = np.random.rand(16, 1).astype("float32")
noise = np.frombuffer(os.urandom(4), dtype=np.uint32)[0] / 2**32 * 1e-6 if sys.argv[1:] == ["nudge"] else 0.0
model = keras.Sequential(
    [
        keras.layers.LSTM(4, input_shape=(4, 3)),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(1, bias_initializer=keras.initializers.Constant(noise)),
    ]
)
model.compile(loss="mse", optimizer="adam")
model.fit(x, y, epochs=2, batch_size=8, verbose=0)
print("trained")

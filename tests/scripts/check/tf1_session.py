"""Pure TF1: a linear model in a graph, tf.compat.v1.get_variable, GradientDescentOptimizer, a
Session that closes before the script ends; it prints nothing of its weights. With the argument
`nudge`, the initial weights get an unseeded random_normal: stdout stays the same, the weights
do not."""

import sys

import numpy as np
import tensorflow as tf

tf.compat.v1.disable_eager_execution()
tf.compat.v1.set_random_seed(7)
x_data = np.linspace(-1, 1, 32, dtype="float32").reshape(-1, 2)
y_data = x_data @ np.array([[2.0], [-1.0]], dtype="float32")

x = tf.compat.v1.placeholder(tf.float32, [None, 2])
y = tf.compat.v1.placeholder(tf.float32, [None, 1])
w = tf.compat.v1.get_variable("w", shape=[2, 1], initializer=tf.compat.v1.glorot_uniform_initializer())
if sys.argv[1:] == ["nudge"]:  # a second random op seeded from the clock, not the graph seed
    extra = tf.compat.v1.random_normal([2, 1], stddev=1e-3, seed=np.random.SeedSequence().entropy % 2**31)
    w_init = tf.compat.v1.assign_add(w, extra)
else:
    w_init = tf.no_op()
loss = tf.reduce_mean(tf.square(tf.matmul(x, w) - y))
train = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(loss)
with tf.compat.v1.Session() as sess:
    sess.run(tf.compat.v1.global_variables_initializer())
    sess.run(w_init)
    for _ in range(5):
        sess.run(train, {x: x_data, y: y_data})
print("trained")

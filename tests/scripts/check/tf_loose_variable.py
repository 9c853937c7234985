"""Eager TensorFlow with a weight outside any model or session: a tf.Variable fit by GradientTape.
It prints nothing of the weight, so equal stdout proves nothing about it. With the argument
`constant`, no variable is held: stdout is all there is."""

import sys

import tensorflow as tf

x = tf.linspace(-1.0, 1.0, 16)
if sys.argv[1:] == ["constant"]:
    w = tf.constant(0.5)
else:
    w = tf.Variable(tf.random.normal([]))
    for _ in range(3):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(w * x - 2 * x))
        w.assign_sub(0.1 * tape.gradient(loss, w))
print("done")

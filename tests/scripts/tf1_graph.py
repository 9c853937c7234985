"""Seeds 000/001 as TF1 graph code: a graph created after disable_eager_execution, ConfigProto, Session."""

import numpy as np
import tensorflow as tf

from _digest import emit

tf.compat.v1.disable_eager_execution()
graph = tf.Graph()
with graph.as_default():
    x = tf.compat.v1.random_normal([3, 2])
    w = tf.compat.v1.get_variable("w", shape=[2, 2], initializer=tf.compat.v1.glorot_uniform_initializer())
    y = tf.nn.dropout(tf.matmul(x, w), rate=0.5)
    init = tf.compat.v1.global_variables_initializer()
config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
with tf.compat.v1.Session(graph=graph, config=config) as sess:
    sess.run(init)
    out = sess.run(y)
emit("tf1-graph", [np.asarray(out)])

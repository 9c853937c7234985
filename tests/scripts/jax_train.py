"""JAX: a key taken from NumPy's global RNG (a common pattern), a few SGD steps with dropout."""

import jax
import jax.numpy as jnp
import numpy as np

from _digest import emit

key = jax.random.key(np.random.randint(2**31))
k1, k2, k3 = jax.random.split(key, 3)
w = jax.random.normal(k1, (4, 1))
x = jax.random.normal(k2, (16, 4))
y = x @ jnp.ones((4, 1))


def loss(w, k):
    keep = jax.random.bernoulli(k, 0.8, x.shape)
    return jnp.mean(((x * keep) @ w - y) ** 2)


for _ in range(5):
    k3, sub = jax.random.split(k3)
    w = w - 0.1 * jax.grad(loss)(w, sub)
emit("jax", [np.asarray(w)])

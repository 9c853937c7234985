import random

rng = random.SystemRandom()
print([rng.random() for _ in range(3)])

import os

noise = int.from_bytes(os.urandom(8), "little")
print(noise % 1000003)

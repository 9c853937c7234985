"""Prints bytes of OS entropy: no setting of seedlock's makes two runs equal; the code must change."""

import os

print(os.urandom(8).hex())

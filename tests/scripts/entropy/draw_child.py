"""mirror_probe.py's subprocess: a file of the user's that draws 8 bytes of OS entropy."""

import os

print(os.urandom(8).hex())

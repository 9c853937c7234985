"""A Python child started by a shell script: it draws from NumPy's global RNG."""

import subprocess
import sys

child = "import numpy as np; print('child', float(np.random.rand()))"
out = subprocess.run(["sh", "-c", f'"{sys.executable}" -c "{child}"'], capture_output=True, text=True, check=True)
print(out.stdout.strip())

"""Reports what a script can see of how it was launched; exits with the code in $PROBE_EXIT."""

import json
import os
import sys

info = {
    "name": __name__,
    "argv": sys.argv,
    "path0": sys.path[0],
    "hashseed": os.environ.get("PYTHONHASHSEED"),
    "xla": os.environ.get("XLA_FLAGS"),
    "cublas": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    "omp": os.environ.get("OMP_NUM_THREADS"),
    "heavy": sorted(m for m in ("numpy", "tensorflow", "torch", "jax", "keras") if m in sys.modules),
    "hash": hash("seedlock"),
}
if "--stdin" in sys.argv:
    info["stdin"] = sys.stdin.read()
print(json.dumps(info), flush=True)
if "--wait" in sys.argv:
    print("ready", flush=True)
    sys.stdin.readline()  # blocks until the test signals us
sys.exit(int(os.environ.get("PROBE_EXIT", "0")))

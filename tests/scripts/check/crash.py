import sys

print("starting")
print("something went wrong in the data loader", file=sys.stderr)
sys.exit(3)

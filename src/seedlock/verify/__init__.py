"""Proving reproducibility: re-run in fresh processes, compare bitwise, find where runs part."""

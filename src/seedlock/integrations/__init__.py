"""Exports of seedlock's results to other tools (MLflow). Each module imports its tool on use."""

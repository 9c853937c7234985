"""The version, read by pyproject.toml and shown as ``seedlock.__version__``; a floor-0 module,
so that manifests and traces can record it without importing the top of the package."""

__version__ = "0.1.0"

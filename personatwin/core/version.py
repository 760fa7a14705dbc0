"""The engine version, stamped into manifests and reports."""

__version__ = "0.1.0"

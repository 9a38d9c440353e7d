"""Kazoe edge node: frames in, aggregate counts out, nothing else."""

__version__ = "0.1.0"

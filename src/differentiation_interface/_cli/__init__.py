"""The command line: ``python -m differentiation_interface check``."""

from ._main import main

__all__ = ["main"]

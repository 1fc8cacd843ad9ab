"""Engines behind the backend selectors, loaded lazily by name.

Only ``_base`` and ``_registry`` are imported with the package; each engine module
(``_finite_diff``, ``_jax``, ``_torch``, ``_autograd``) is the only place that imports its
engine, and it is imported on the first use of its selector.
"""

from ._base import Engine, Fn
from ._registry import check_available, check_inplace, engine_for

__all__ = ["Engine", "Fn", "check_available", "check_inplace", "engine_for"]

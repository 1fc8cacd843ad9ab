"""Engines behind the backend selectors, loaded lazily by name.

Only ``_base`` (the engine contract) and ``_registry`` (selector -> engine) are imported with
the package. Each engine is a package of the same anatomy (``finite_diff``, ``jax``, ``torch``,
``autograd``: ``engine``, ``io`` — the caller-array adapter ``CallerIO`` —, ``first``,
``second``, plus what it needs); it is the only place importing its engine, imports no other
engine and no ``operators``, and is imported on the first use of its selector.
"""

from ._base import Engine, Fn
from ._registry import check_available, check_inplace, engine_for

__all__ = ["Engine", "Fn", "check_available", "check_inplace", "engine_for"]

"""The small typing vocabulary of the library's signatures.

Arrays of the Array-API namespaces share no static type (numpy, PyTorch, JAX, CuPy and
array-api-strict each define their own, and none is a dependency), so to a type checker these
names are ``Any``; to a reader they say what a parameter expects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

__all__ = ["Array", "Function", "Tangents"]

#: An array of any Array-API namespace (numpy, PyTorch, JAX, CuPy, array-api-strict, dask).
Array: TypeAlias = Any
#: Tangents like ``x`` or cotangents like ``f(x)``: a tuple of arrays.
Tangents: TypeAlias = tuple[Any, ...]
#: The function differentiated: ``f(x, *contexts) -> y`` or ``f(y, x, *contexts) -> None``.
Function: TypeAlias = Callable[..., Any]

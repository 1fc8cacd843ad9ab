"""Contexts: extra arguments of ``f`` that are not differentiated.

They go positionally after ``x`` (and after the tangents) and are unwrapped before ``f`` is
called::

    di.gradient(f, backend, x, di.Constant(A), di.Cache(buf))   # calls f(x, A, buf)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Cache", "Constant", "Context"]


@dataclass(frozen=True, eq=False)
class Context:
    """Base class of the context wrappers; holds ``value``."""

    value: Any


@dataclass(frozen=True, eq=False)
class Constant(Context):
    """Read-only data passed to ``f`` and not differentiated.

    The value may differ between preparation and use, as long as an array value keeps its
    namespace, shape, dtype and device (a non-array value keeps its type). The library never
    mutates it; array values are converted to the engine's namespace and device like ``x``.

    Parameters
    ----------
    value : Any
        The data (an array, a number, or any Python object ``f`` understands).

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> f = lambda x, a: (a * x**2).sum()
    >>> g = di.gradient(f, di.AutoFiniteDiff(), np.ones(2), di.Constant(np.array([1.0, 3.0])))
    >>> np.allclose(g, [2.0, 6.0])
    True
    """


@dataclass(frozen=True, eq=False)
class Cache(Context):
    """Scratch storage that ``f`` may overwrite; its content on entry is irrelevant.

    Engines that cannot write into the caller's buffer while differentiating (because ``f``
    is evaluated on engine arrays) pass a fresh buffer of the same shape and dtype instead.

    Parameters
    ----------
    value : Any
        A writable array (or any object ``f`` uses as scratch).

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> def f(x, buf):
    ...     buf[...] = x**2  # scratch writes are allowed
    ...     return buf.sum()
    >>> g = di.gradient(f, di.AutoFiniteDiff(), np.ones(2), di.Cache(np.zeros(2)))
    >>> np.allclose(g, [2.0, 2.0])
    True
    """

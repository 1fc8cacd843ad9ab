"""Shared docstring paragraphs, so every operator says the same thing the same way.

Docstrings of the public functions use ``{placeholders}``; :func:`fill` cleans the docstring
and substitutes the paragraphs below (Sphinx and ``help()`` see the result).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TypeVar

__all__ = ["fill"]

F = TypeVar("F", bound=Callable[..., object])

_PARAGRAPHS = {
    "f": """f : callable
    The function, ``f(x, *contexts) -> y``, written against the Array API (for example
    ``xp = array_api_compat.array_namespace(x)``) or with the engine's own functions. It
    must not mutate ``x``.""",
    "f_inplace": """f : callable
    The function, ``f(x, *contexts) -> y``; or, when ``y`` is given, a two-argument function
    ``f(y, x, *contexts) -> None`` that overwrites ``y``. It must not mutate ``x``.""",
    "backend": """backend : AbstractBackend
    The backend selector, e.g. ``di.AutoFiniteDiff()`` or ``di.AutoJAX()``.""",
    "x": """x : array
    The point, a real or complex floating array of any Array-API namespace. Results live in
    its namespace and on its device.""",
    "x0d": """x : array
    The point, a 0-d real or complex floating array of any Array-API namespace.""",
    "tx": """tx : tuple of arrays
    Tangents, each like ``x`` (same namespace, shape, dtype, device). Several tangents are
    computed together in as few engine passes as the engine allows.""",
    "ty": """ty : tuple of arrays
    Cotangents, each like ``f(x)`` (same namespace, shape, dtype, device).""",
    "contexts": """*contexts : Constant or Cache
    Extra arguments of ``f``, wrapped in :class:`~differentiation_interface.Constant` or
    :class:`~differentiation_interface.Cache`; not differentiated.""",
    "prep": """prep : Prep, optional
    The result of the matching ``prepare_*`` function. Without it the call prepares
    internally, reusing a cached preparation when ``f``, the backend and the argument kinds
    repeat.""",
    "y": """y : array, optional
    Output buffer declaring a two-argument function ``f(y, x, *contexts)``. After the call
    it holds ``f(x)``. Needs a backend with :func:`~differentiation_interface.check_inplace`.""",
    "has_aux": """has_aux : bool, default False
    Whether ``f`` returns a pair ``(y, aux)`` (JAX's convention): ``aux``, any pytree, is
    not differentiated and comes back as computed at ``x`` (arrays detached, in ``x``'s
    namespace and device). The result is then ``(result, aux)``, and for value-and
    variants ``((y, aux), result)``. A preparation serves calls with the same ``has_aux``.""",
    "strict": """strict : bool, default True
    Whether prepared calls check that their arguments match the preparation (namespace,
    shape, dtype and device of every array, same ``f`` and backend) and raise
    :class:`~differentiation_interface.PreparationMismatchError` otherwise.""",
    "prep_returns": """Prep
    Reusable preparation; pass it as ``prep=``. It is immutable, so several threads may use
    it at once.""",
    "out_note": """``out=`` is checked (writable, namespace, shape, dtype, device) before anything
is computed; on success the results are written into it and the same objects are returned.""",
}


def fill(func: F) -> F:
    """Substitute the shared paragraphs into ``func.__doc__``."""
    if func.__doc__:
        func.__doc__ = inspect.cleandoc(func.__doc__).format(**_PARAGRAPHS)
    return func

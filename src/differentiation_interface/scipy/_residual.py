"""``Residual``: a vector function and its prepared Jacobian for ``least_squares`` and
``root``."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .. import operators as ops
from .._tree import flatten
from ..adtypes import AbstractBackend
from ..contexts import Context
from ._flat import FlatLayout, as_float64
from ._matrices import to_scipy_matrix
from ._objective import point_key

__all__ = ["Residual"]


class Residual:
    """A vector function ready for ``scipy.optimize.least_squares`` and ``root``: its
    values and prepared Jacobian on scipy's flat float64 numpy vectors.

    ``f`` is written for ``x0``'s kind of arrays (any namespace, device, floating dtype,
    shape or pytree) and may return any shape or pytree, flattened in
    :func:`~differentiation_interface.ravel` order. ``fun(x)`` evaluates ``f`` only (solvers
    evaluate rejected trial points without their Jacobian: with JAX, pass a ``jax.jit``-ed
    ``f``, as with scipy's own finite differences); ``jac(x)`` computes the value and
    the Jacobian together and keeps the value, so a later ``fun`` at that point is free.

    Parameters
    ----------
    f : callable
        ``f(x, *contexts) -> array``, written for arrays like ``x0``.
    backend : AbstractBackend
        Any backend; with :class:`~differentiation_interface.AutoSparse`, ``jac`` returns a
        ``scipy.sparse.csr_array`` (``least_squares`` then solves with LSMR).
    x0 : array or pytree of arrays
        The starting point; real floating.
    *contexts : Constant or Cache
        Extra arguments of ``f``.

    Attributes
    ----------
    x0 : numpy.ndarray
        ``x0`` as scipy's flat float64 vector.
    jac_sparsity : scipy.sparse.csr_array or None
        The Jacobian's boolean pattern for sparse backends, None for dense ones.

    Raises
    ------
    ArgumentTypeError
        ``x0`` is not real floating.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.optimize import least_squares
    >>> import differentiation_interface as di
    >>> from differentiation_interface.scipy import Residual
    >>> res = Residual(lambda x: x**2 - np.array([1.0, 4.0]), di.AutoFiniteDiff(), np.ones(2))
    >>> sol = least_squares(res.fun, res.x0, jac=res.jac)
    >>> np.round(sol.x, 6)
    array([1., 2.])
    """

    def __init__(self, f: Any, backend: AbstractBackend, x0: Any, *contexts: Context) -> None:
        self.layout = FlatLayout(x0, "Residual", "x0")
        self.layout.check_floating()
        self.f = f
        self.backend = backend
        self.contexts = contexts
        self.x0 = np.array(self.layout.flatten(x0))  # a copy: never the caller's x0
        self._prep = ops.prepare_jacobian(f, backend, x0, *contexts)
        self.jac_sparsity: Any = getattr(self._prep, "sparsity", None)
        self._last_key = b""
        self._last_value: np.ndarray[Any, Any] = np.empty(0)
        self._lock = threading.Lock()

    def unflatten(self, x: Any) -> Any:
        """scipy's vector ``x`` (e.g. ``result.x``) as ``x0``'s kind of array or pytree."""
        return self.layout.unflatten(x)

    def _cached(self, key: bytes) -> np.ndarray[Any, Any] | None:
        return self._last_value if key == self._last_key else None

    def fun(self, x: Any) -> np.ndarray[Any, Any]:
        """``f(x)`` as a flat float64 numpy vector."""
        key = point_key(x)
        with self._lock:
            value = self._cached(key)
            if value is None:
                point = self.layout.unflatten(x)
                value = _flat_output(self.f(point, *(c.value for c in self.contexts)))
                self._last_key, self._last_value = key, value
            return value.copy()

    def jac(self, x: Any, *_: Any) -> Any:
        """The Jacobian at ``x``: float64 numpy ``(m, n)``, or a ``scipy.sparse.csr_array``
        for sparse backends (extra positional arguments scipy passes are ignored: contexts
        carry ``f``'s data)."""
        point = self.layout.unflatten(x)
        value, jac = ops.value_and_jacobian(
            self.f, self.backend, point, *self.contexts, prep=self._prep
        )
        flat = _flat_output(value)
        with self._lock:
            self._last_key, self._last_value = point_key(x), flat
        return to_scipy_matrix(jac, self.jac_sparsity, (flat.size, self.layout.size))


def _flat_output(y: Any) -> np.ndarray[Any, Any]:
    """``f``'s output (an array or a pytree of arrays) as one flat float64 numpy vector."""
    leaves, _ = flatten(y, "f(x)")
    if len(leaves) == 1:
        return as_float64(leaves[0])
    return np.concatenate([as_float64(leaf) for leaf in leaves])

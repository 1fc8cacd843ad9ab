"""``Objective``: a scalar function and its prepared derivatives for ``scipy.optimize``."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .. import operators as ops
from ..adtypes import AbstractBackend
from ..contexts import Context
from ..errors import ArgumentValueError
from ._flat import FlatLayout
from ._matrices import to_scipy_matrix

__all__ = ["Objective"]

# scipy.optimize.minimize's methods (lower case, as scipy compares them) by what they use.
_NO_DERIVATIVES = frozenset({"nelder-mead", "powell", "cobyla", "cobyqa"})
_GRADIENT_ONLY = frozenset({"cg", "bfgs", "l-bfgs-b", "tnc", "slsqp"})
_HESS_ONLY = frozenset({"dogleg", "trust-exact"})
_HESS_OR_HESSP = frozenset({"newton-cg", "trust-ncg", "trust-krylov", "trust-constr"})
_METHODS = _NO_DERIVATIVES | _GRADIENT_ONLY | _HESS_ONLY | _HESS_OR_HESSP


_FLOAT64 = np.dtype(np.float64)  # numpy's one native float64 dtype: ``is`` is the check


def point_key(x: Any) -> bytes:
    """The bytes of scipy's vector ``x`` as float64: equal keys, equal points (a bytes
    comparison is a ``memcmp``, several times cheaper than ``np.array_equal`` at scipy's
    sizes, and a copy that later writes into ``x`` cannot change)."""
    if type(x) is np.ndarray and x.dtype is _FLOAT64:
        return x.tobytes()
    return np.asarray(x, dtype=np.float64).tobytes()


class _LastPoint:
    """The value and gradient at the last point, kept so that scipy's ``fun(x)`` followed by
    ``jac(x)`` at the same ``x`` costs one value-and-gradient computation."""

    __slots__ = ("grad", "key", "value")

    def __init__(self, key: bytes, value: float, grad: np.ndarray[Any, Any]) -> None:
        self.key = key
        self.value = value
        self.grad = grad


class Objective:
    """A scalar function ready for ``scipy.optimize.minimize``: prepared derivatives that take
    and return scipy's flat float64 numpy vectors.

    ``f`` is written for ``x0``'s kind of arrays (any namespace, device, floating dtype, shape
    or pytree); every call converts scipy's vector into that kind once, calls the prepared
    operator, and returns float64 numpy. ``fun(x)`` computes the value *and* the gradient in
    one call and keeps both, so the ``jac(x)`` scipy asks for next at the same point costs
    nothing (and ``fun_and_jac`` serves ``jac=True``). Hessians and Hessian-vector products
    are prepared on first use. Instances are safe to share between threads (a lock guards
    the last point).

    Parameters
    ----------
    f : callable
        ``f(x, *contexts) -> 0-d array``, written for arrays like ``x0``.
    backend : AbstractBackend
        Any backend; with :class:`~differentiation_interface.AutoSparse`, ``hess`` returns a
        ``scipy.sparse.csr_array``.
    x0 : array or pytree of arrays
        The starting point; real floating.
    *contexts : Constant or Cache
        Extra arguments of ``f``, passed to every call.
    hessian : {"hessp", "hess"}
        Which second-order callable :meth:`minimize_kwargs` hands to methods that accept
        either (Newton-CG, trust-ncg, trust-krylov, trust-constr): Hessian-vector products
        (``n`` times cheaper memory, matrix-free) or the full Hessian.

    Attributes
    ----------
    x0 : numpy.ndarray
        ``x0`` as scipy's flat float64 vector (leaves in :func:`~differentiation_interface.ravel`
        order).
    nfev : int
        Value-and-gradient computations so far (not counting repeated calls at one point).

    Raises
    ------
    ArgumentTypeError
        ``x0`` is not real floating.
    ArgumentValueError
        ``hessian`` is not one of the two choices.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.optimize import minimize, rosen
    >>> import differentiation_interface as di
    >>> from differentiation_interface.scipy import Objective
    >>> obj = Objective(rosen, di.AutoFiniteDiff(), np.zeros(4))
    >>> res = minimize(obj.fun, obj.x0, method="BFGS", **obj.minimize_kwargs("BFGS"))
    >>> bool(np.allclose(res.x, 1.0, atol=1e-4))
    True
    >>> obj.unflatten(res.x).shape          # back to x0's kind of array
    (4,)
    """

    def __init__(
        self,
        f: Any,
        backend: AbstractBackend,
        x0: Any,
        *contexts: Context,
        hessian: str = "hessp",
    ) -> None:
        if hessian not in ("hessp", "hess"):
            msg = f'Objective: hessian must be "hessp" or "hess"; got {hessian!r}.'
            raise ArgumentValueError(msg)
        self.layout = FlatLayout(x0, "Objective", "x0")
        self.layout.check_floating()
        self.f = f
        self.backend = backend
        self.contexts = contexts
        self.hessian = hessian
        self.x0 = np.array(self.layout.flatten(x0))  # a copy: never the caller's x0
        self.nfev = 0
        self._x0 = x0
        self._gradient_prep = ops.prepare_gradient(f, backend, x0, *contexts)
        self._hessian_prep: Any = None
        self._hvp_prep: Any = None
        self._last: _LastPoint | None = None
        self._lock = threading.Lock()

    def unflatten(self, x: Any) -> Any:
        """scipy's vector ``x`` (e.g. ``result.x``) as ``x0``'s kind of array or pytree."""
        return self.layout.unflatten(x)

    def _evaluate(self, x: Any) -> _LastPoint:
        key = point_key(x)
        # acquire/release: half the cost of a with-statement, on every evaluation
        self._lock.acquire()
        try:
            last = self._last
            if last is not None and last.key == key:
                return last
            layout = self.layout
            value, grad = ops.value_and_gradient(
                self.f, self.backend, layout.unflatten(x), *self.contexts, prep=self._gradient_prep
            )
            # the gradient may stay read-only here: every caller gets a copy
            last = self._last = _LastPoint(key, float(value), layout.flatten(grad, writable=False))
            self.nfev += 1
            return last
        finally:
            self._lock.release()

    def fun(self, x: Any) -> float:
        """``f(x)`` as a Python float (the gradient at ``x`` is computed alongside, kept)."""
        return self._evaluate(x).value

    def jac(self, x: Any) -> np.ndarray[Any, Any]:
        """The gradient at ``x``, a flat float64 numpy vector."""
        return self._evaluate(x).grad.copy()

    def fun_and_jac(self, x: Any) -> tuple[float, np.ndarray[Any, Any]]:
        """``(fun(x), jac(x))`` from one computation, for ``minimize(..., jac=True)``."""
        last = self._evaluate(x)
        return last.value, last.grad.copy()

    def hess(self, x: Any) -> Any:
        """The Hessian at ``x``: float64 numpy ``(n, n)``, or a ``scipy.sparse.csr_array``
        for sparse backends."""
        point = self.layout.unflatten(x)
        if self._hessian_prep is None:
            self._hessian_prep = ops.prepare_hessian(self.f, self.backend, self._x0, *self.contexts)
        hess = ops.hessian(self.f, self.backend, point, *self.contexts, prep=self._hessian_prep)
        pattern = getattr(self._hessian_prep, "sparsity", None)
        return to_scipy_matrix(hess, pattern, (self.layout.size, self.layout.size))

    def hessp(self, x: Any, p: Any) -> np.ndarray[Any, Any]:
        """The Hessian at ``x`` times the vector ``p`` (a Hessian-vector product; the
        Hessian itself is never formed)."""
        point = self.layout.unflatten(x)
        tangent = self.layout.unflatten(p, "p")
        if self._hvp_prep is None:
            self._hvp_prep = ops.prepare_hvp(
                self.f, self.backend, self._x0, (self._x0,), *self.contexts
            )
        (hv,) = ops.hvp(
            self.f, self.backend, point, (tangent,), *self.contexts, prep=self._hvp_prep
        )
        return self.layout.flatten(hv)

    def minimize_kwargs(self, method: Any = None) -> dict[str, Any]:
        """The keyword arguments of ``scipy.optimize.minimize`` for ``method``.

        Parameters
        ----------
        method : str or None
            scipy's method name (any case); None is scipy's default choice (BFGS, L-BFGS-B
            or SLSQP, all gradient-based). Derivative-free methods get no arguments.

        Returns
        -------
        dict
            ``jac``, plus ``hess`` or ``hessp`` (by ``hessian=``) when the method uses
            second derivatives.

        Examples
        --------
        >>> import numpy as np
        >>> import differentiation_interface as di
        >>> from differentiation_interface.scipy import Objective
        >>> obj = Objective(lambda x: (x**2).sum(), di.AutoFiniteDiff(), np.ones(2))
        >>> sorted(obj.minimize_kwargs("trust-krylov"))
        ['hessp', 'jac']
        >>> obj.minimize_kwargs("Nelder-Mead")
        {}
        """
        if method is None:
            return {"jac": self.jac}
        if not isinstance(method, str) or method.lower() not in _METHODS:
            msg = (
                f"Objective.minimize_kwargs: unknown method {method!r}; expected one of "
                f"scipy.optimize.minimize's methods ({', '.join(sorted(_METHODS))}) or None."
            )
            raise ArgumentValueError(msg)
        name = method.lower()
        if name in _NO_DERIVATIVES:
            return {}
        kwargs: dict[str, Any] = {"jac": self.jac}
        if name in _HESS_ONLY or (name in _HESS_OR_HESSP and self.hessian == "hess"):
            kwargs["hess"] = self.hess
        elif name in _HESS_OR_HESSP:
            kwargs["hessp"] = self.hessp
        return kwargs

"""Lazy Jacobians and Hessians as ``scipy.sparse.linalg.LinearOperator``s.

Each product is one prepared pushforward, pullback or Hessian-vector product at the fixed
point; ``matmat`` passes all columns as one batch of tangents. scipy hands operators vectors
of any dtype (``LinearOperator`` probes with ``int8``, ``gmres`` on a complex system passes
complex vectors) and shape ``(n,)`` or ``(n, 1)``: real vectors are cast to the point's
dtype; a complex vector is applied as its real and imaginary parts, which is exact because
the operator is real.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.sparse.linalg import LinearOperator

from .. import operators as ops
from ..adtypes import AbstractBackend
from ..contexts import Context
from ..errors import ArgumentValueError
from ._flat import FlatLayout

__all__ = ["hessian_operator", "jacobian_operator"]

# One prep per batch size; matmat with ever new column counts (rare) starts over.
_MAX_BATCH_PREPS = 16

_Prepare = Callable[[tuple[Any, ...]], Any]
_Apply = Callable[[tuple[Any, ...], Any], tuple[Any, ...]]


class _Products:
    """Products of one linear map at one point: tangents in ``inputs``' layout, results in
    ``outputs``', one prep per number of tangents."""

    def __init__(
        self, inputs: FlatLayout, outputs: FlatLayout, prepare: _Prepare, apply: _Apply
    ) -> None:
        self.inputs = inputs
        self.outputs = outputs
        self.prepare = prepare
        self.apply = apply
        self.preps: dict[int, Any] = {}

    def vector(self, v: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """The map applied to the vector ``v`` (any dtype, ``m`` or ``(m, 1)`` entries):
        the iterative solvers' one product per step, without :meth:`__call__`'s 2-D round
        trip."""
        if np.iscomplexobj(v):
            return self(np.reshape(v, (-1, 1)))[:, 0]
        tangents = (self.inputs.unflatten(np.reshape(v, (-1,))),)
        (result,) = self.apply(tangents, self._prep(tangents))
        return self.outputs.flatten(result)

    def _prep(self, tangents: tuple[Any, ...]) -> Any:
        """The prep for this many tangents (made on first need)."""
        prep = self.preps.get(len(tangents))
        if prep is None:
            if len(self.preps) >= _MAX_BATCH_PREPS:
                self.preps.clear()
            prep = self.preps[len(tangents)] = self.prepare(tangents)
        return prep

    def __call__(self, columns: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """The map applied to each column of the 2-D ``columns`` (any dtype)."""
        if np.iscomplexobj(columns):
            real = self(np.ascontiguousarray(columns.real))
            imag = self(np.ascontiguousarray(columns.imag))
            return real + 1j * imag
        k = columns.shape[1]
        tangents = tuple(self.inputs.unflatten(columns[:, j]) for j in range(k))
        results = self.apply(tangents, self._prep(tangents))
        return np.stack([self.outputs.flatten(r) for r in results], axis=1)


class _DIOperator(LinearOperator):  # type: ignore[misc]  # scipy is untyped
    """A ``LinearOperator`` whose products are prepared calls; checks shapes itself so a
    wrong vector gets the adapter's message, not scipy's ``dimension mismatch``."""

    def __init__(self, name: str, forward: _Products, backward: _Products | None) -> None:
        super().__init__(
            dtype=np.dtype(np.float64), shape=(forward.outputs.size, forward.inputs.size)
        )
        self.name = name
        self.forward = forward
        self.backward = backward

    def _check(self, a: Any, rows: int, what: str, vector: bool) -> np.ndarray[Any, Any]:
        arr = np.asarray(a)
        shapes = f"({rows},) or ({rows}, 1)" if vector else f"({rows}, k)"
        fits = arr.shape in ((rows,), (rows, 1)) if vector else arr.ndim == 2 and len(arr) == rows
        if not fits:
            msg = (
                f"{self.name}: {what} must have shape {shapes}, the operator's shape being "
                f"{self.shape}; got an array of shape {arr.shape}."
            )
            raise ArgumentValueError(msg)
        return arr

    def matvec(self, x: Any) -> Any:
        """The operator times the vector ``x`` (shape ``(n,)`` or ``(n, 1)``)."""
        if type(x) is np.ndarray and x.shape == self.shape[1:]:  # a solver's own vector
            return self.forward.vector(x)
        return super().matvec(self._check(x, self.shape[1], "matvec's vector", vector=True))

    def rmatvec(self, x: Any) -> Any:
        """The transposed operator times the vector ``x`` (shape ``(m,)`` or ``(m, 1)``)."""
        if type(x) is np.ndarray and x.shape == self.shape[:1]:
            return (self.backward or self.forward).vector(x)
        return super().rmatvec(self._check(x, self.shape[0], "rmatvec's vector", vector=True))

    def matmat(self, X: Any) -> Any:
        """The operator times the columns of ``X`` (shape ``(n, k)``), in one batch."""
        return super().matmat(self._check(X, self.shape[1], "matmat's matrix", vector=False))

    def rmatmat(self, X: Any) -> Any:
        """The transposed operator times the columns of ``X`` (shape ``(m, k)``)."""
        return super().rmatmat(self._check(X, self.shape[0], "rmatmat's matrix", vector=False))

    def _matvec(self, x: Any) -> Any:
        return self.forward.vector(x)

    def _matmat(self, X: Any) -> Any:
        return self.forward(np.asarray(X))

    def _rmatvec(self, x: Any) -> Any:
        return (self.backward or self.forward).vector(x)

    def _rmatmat(self, X: Any) -> Any:
        backward = self.backward or self.forward
        return backward(np.asarray(X))

    def _adjoint(self) -> LinearOperator:
        if self.backward is None:  # symmetric
            return self
        return _DIOperator(self.name + ".H", self.backward, self.forward)

    _transpose = _adjoint  # real operators: the transpose is the adjoint


def jacobian_operator(f: Any, backend: AbstractBackend, x: Any, *contexts: Context) -> Any:
    """The Jacobian of ``f`` at ``x`` as a lazy ``scipy.sparse.linalg.LinearOperator``.

    ``A @ v`` is a pushforward (``J v``), ``A.T @ w`` a pullback (``Jᵀ w``), ``A @ V`` one
    batched pushforward over the columns of ``V``; all are prepared once, at ``x``, and the
    matrix is never formed. Vectors are scipy's float64 (or any real or complex dtype:
    scipy's dtype probes work), flattened in :func:`~differentiation_interface.ravel` order
    on both sides; the operator's dtype is float64.

    Parameters
    ----------
    f : callable
        ``f(x, *contexts) -> array`` (or pytree), written for arrays like ``x``.
    backend : AbstractBackend
        Any backend.
    x : array or pytree of arrays
        The point (any namespace, device, real floating dtype).
    *contexts : Constant or Cache
        Extra arguments of ``f``.

    Returns
    -------
    scipy.sparse.linalg.LinearOperator
        Shape ``(f(x).size, x.size)``, dtype float64.

    Raises
    ------
    ArgumentTypeError
        ``x`` is not real floating.
    ArgumentValueError
        (from the operator) a vector or matrix with the wrong number of rows.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.sparse.linalg import gmres
    >>> import differentiation_interface as di
    >>> from differentiation_interface.scipy import jacobian_operator
    >>> f = lambda x: x**3 + np.roll(x, 1)
    >>> A = jacobian_operator(f, di.AutoFiniteDiff(), np.ones(3))
    >>> A @ np.array([1.0, 0.0, 0.0])
    array([3., 1., 0.])
    >>> b = np.array([4.0, 4.0, 4.0])
    >>> v, info = gmres(A, b, rtol=1e-10)
    >>> info, np.round(v, 6)
    (0, array([1., 1., 1.]))
    """
    inputs = FlatLayout(x, "jacobian_operator", "x")
    inputs.check_floating()
    zero = inputs.unflatten(np.zeros(inputs.size))
    pushforward_prep = ops.prepare_pushforward_same_point(f, backend, x, (zero,), *contexts)
    y, _ = ops.value_and_pushforward(f, backend, x, (zero,), *contexts, prep=pushforward_prep)
    outputs = FlatLayout(y, "jacobian_operator", "f(x)")

    def prepare_forward(tx: tuple[Any, ...]) -> Any:
        if len(tx) == 1:
            return pushforward_prep
        return ops.prepare_pushforward_same_point(f, backend, x, tx, *contexts)

    def forward(tx: tuple[Any, ...], prep: Any) -> tuple[Any, ...]:
        return ops.pushforward(f, backend, x, tx, *contexts, prep=prep)

    def prepare_backward(ty: tuple[Any, ...]) -> Any:
        return ops.prepare_pullback_same_point(f, backend, x, ty, *contexts)

    def backward(ty: tuple[Any, ...], prep: Any) -> tuple[Any, ...]:
        return ops.pullback(f, backend, x, ty, *contexts, prep=prep)

    return _DIOperator(
        "jacobian_operator",
        _Products(inputs, outputs, prepare_forward, forward),
        _Products(outputs, inputs, prepare_backward, backward),
    )


def hessian_operator(f: Any, backend: AbstractBackend, x: Any, *contexts: Context) -> Any:
    """The Hessian of the scalar ``f`` at ``x`` as a lazy, symmetric
    ``scipy.sparse.linalg.LinearOperator``.

    ``H @ v`` is a Hessian-vector product prepared once at ``x`` (``H.T`` is ``H``),
    ``H @ V`` one batched product over the columns of ``V``; the matrix is never formed.
    Vectors of any real or complex dtype are accepted (scipy's ``int8`` dtype probe
    included); the operator's dtype is float64.

    Parameters
    ----------
    f : callable
        ``f(x, *contexts) -> 0-d array``, written for arrays like ``x``.
    backend : AbstractBackend
        Any backend with second order (e.g. ``SecondOrder(AutoJAX("forward"), AutoJAX())``).
    x : array or pytree of arrays
        The point (any namespace, device, real floating dtype).
    *contexts : Constant or Cache
        Extra arguments of ``f``.

    Returns
    -------
    scipy.sparse.linalg.LinearOperator
        Shape ``(n, n)`` with ``n`` the number of entries of ``x``, dtype float64.

    Raises
    ------
    ArgumentTypeError
        ``x`` is not real floating.
    ArgumentValueError
        (from the operator) a vector or matrix with the wrong number of rows.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.sparse.linalg import cg
    >>> import differentiation_interface as di
    >>> from differentiation_interface.scipy import hessian_operator
    >>> f = lambda x: (x**4).sum() + x[0] * x[1]
    >>> H = hessian_operator(f, di.AutoFiniteDiff(), np.ones(2))   # [[12, 1], [1, 12]]
    >>> p, info = cg(H, np.array([13.0, 13.0]), rtol=1e-10)
    >>> info, np.round(p, 4)
    (0, array([1., 1.]))
    """
    layout = FlatLayout(x, "hessian_operator", "x")
    layout.check_floating()

    def prepare(tx: tuple[Any, ...]) -> Any:
        return ops.prepare_hvp_same_point(f, backend, x, tx, *contexts)

    def apply(tx: tuple[Any, ...], prep: Any) -> tuple[Any, ...]:
        return ops.hvp(f, backend, x, tx, *contexts, prep=prep)

    products = _Products(layout, layout, prepare, apply)
    products(np.zeros((layout.size, 1)))  # prepare now: a failure surfaces here, not in cg
    return _DIOperator("hessian_operator", products, None)

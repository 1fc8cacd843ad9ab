"""Second-order finite-difference stencils (finite differences over finite differences, fused).

Nesting two central differences with their first-order steps amplifies the inner rounding
noise by ``1 / h`` (about ``1e-5`` relative in float64). Fusing them into one stencil with the
second-order step ``c = eps**(1/4)`` gives ``eps**(1/2)`` (about ``1.5e-8``):

* ``second_derivative``: ``(f(x+h) - 2 f(x) + f(x-h)) / h**2`` (3 evaluations);
* ``hvp``: ``(H t)_i = [f(x+a t+b_i e_i) - f(x+a t-b_i e_i) - f(x-a t+b_i e_i)
  + f(x-a t-b_i e_i)] / (4 a b_i)`` (``4 n`` evaluations per tangent, ``8 n`` for complex ``x``,
  whose imaginary directions give the library's gradient convention);
* ``hessian``: the same stencil on pairs ``i < j`` and ``(f(x+2b e_i) - 2 f(x) + f(x-2b e_i))
  / (4 b**2)`` on the diagonal, evaluated once per pair: ``2 n**2 + 1`` evaluations, exactly
  symmetric.

Gradients requested alongside (``gradient_and_hvp``, ``value_gradient_and_hessian``) use the
first-order central stencil, which is more accurate than reusing second-order points.
"""

from __future__ import annotations

import math
from typing import Any

from ..._array import (
    chunked_like,
    constant,
    device_for,
    distribute_like,
    is_complex_dtype,
    is_dask,
    is_dtensor,
    namespace_of,
    replicated_for,
)
from ...adtypes import AutoFiniteDiff
from ...errors import UnsupportedOperationError
from .._base import Fn, HessianPlan, HVPPlan, SecondDerivativePlan
from .evaluate import Evaluator
from .first import BasisDifferences, gradient_by_differences, relative_step, tangent_steps

__all__ = ["FiniteDiffHVP", "FiniteDiffHessian", "FiniteDiffSecondDerivative"]


def _central_gradient(backend: AutoFiniteDiff, fn: Fn, x: Any, y: Any) -> BasisDifferences:
    central = AutoFiniteDiff(method="central", step=backend.step)
    return BasisDifferences(central, fn, x, y, c=relative_step(central, fn, x))


def _coordinate_steps(xp: Any, x: Any, c: float) -> Any:
    """``c * max(1, |x_j|)``, flattened, as constants for an engine differentiating ``x``."""
    return constant(c * xp.maximum(xp.abs(xp.reshape(x, (-1,))), 1.0))


class FiniteDiffSecondDerivative(SecondDerivativePlan):
    """Three-point stencil; also gives ``f(x)`` and a central first derivative for free."""

    def __init__(self, backend: AutoFiniteDiff, fn: Fn, x: Any, y: Any) -> None:
        self.c = relative_step(backend, fn, x, order=2)
        self.evaluate = Evaluator(fn, x, y)
        self.y_dtype = y.dtype
        self.y_ndim = len(y.shape)

    def run(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, Any, Any]:
        xp = namespace_of(x)
        h = constant(self.c * xp.maximum(xp.abs(x), 1.0))
        hx = xp.astype(h, x.dtype)
        values = self.evaluate(fn, xp.stack([x + hx, x, x - hx], axis=0))
        hy = xp.reshape(h, (1,) * self.y_ndim)
        der2 = (values[0, ...] - 2.0 * values[1, ...] + values[2, ...]) / (hy * hy)
        if not value:
            return None, None, xp.astype(der2, self.y_dtype)
        der = (values[0, ...] - values[2, ...]) / (2.0 * hy)
        return values[1, ...], xp.astype(der, self.y_dtype), xp.astype(der2, self.y_dtype)


class _MixedStencil:
    """``sum_{s1, s2 = +-1} s1 s2 f(x + s1 u_k + s2 v_k) / 4`` for stacked offsets u, v."""

    def __init__(self, fn: Fn, x: Any, y: Any) -> None:
        self.evaluate = Evaluator(fn, x, y)
        self.chunk = max(1, self.evaluate.chunk // 4)

    def __call__(self, fn: Fn, x: Any, u: Any, v: Any) -> Any:
        xp = namespace_of(x)
        base = xp.expand_dims(x, axis=0)
        plus, minus = base + u, base - u
        points = xp.concat([plus + v, plus - v, minus + v, minus - v], axis=0)
        values = self.evaluate(fn, points)
        k = u.shape[0]
        return (values[:k] - values[k : 2 * k] - values[2 * k : 3 * k] + values[3 * k :]) / 4.0


class FiniteDiffHVP(HVPPlan):
    """Mixed second differences along each tangent and each coordinate."""

    def __init__(self, backend: AutoFiniteDiff, fn: Fn, x: Any, y: Any) -> None:
        self.c = relative_step(backend, fn, x, order=2)
        self.n = math.prod(x.shape)
        self.complex = is_complex_dtype(namespace_of(x), x.dtype)
        self.stencil = _MixedStencil(fn, x, y)
        self.gradient = _central_gradient(backend, fn, x, y)
        self.dask = is_dask(x) and not fn.inplace  # one task per chunk of x (.blocks)

    def _column(self, fn: Fn, x: Any, a_t: Any, a: Any, *, imaginary: bool) -> Any:
        """``(H t)`` restricted to real (or imaginary) coordinate directions, flattened."""
        if self.dask:
            from .blocks import dask_hvp_column

            return dask_hvp_column(fn, x, a_t, a, c=self.c, imaginary=imaginary)
        xp = namespace_of(x)
        b = _coordinate_steps(xp, x, self.c)
        parts = []
        for start in range(0, self.n, self.stencil.chunk):
            count = min(self.stencil.chunk, self.n - start)
            if is_dtensor(x):  # the seeds on x's mesh, each process its own part
                rows = distribute_like(xp.eye(count, self.n, k=start, dtype=x.dtype), x)
            else:
                device = device_for(x, (count, self.n))
                rows = xp.eye(count, self.n, k=start, dtype=x.dtype, device=device)
            rows = rows * xp.astype(b, x.dtype)
            if imaginary:
                rows = rows * 1j
            v = xp.reshape(rows, (count, *x.shape))
            u = xp.broadcast_to(xp.expand_dims(a_t, axis=0), v.shape)
            mixed = self.stencil(fn, x, u, v)
            parts.append(mixed / (a * b[start : start + count]))
        return parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)

    def run(self, fn: Fn, x: Any, tx: Any, *, value: bool) -> tuple[Any, Any]:
        xp = namespace_of(x)
        grad = gradient_by_differences(self.gradient, fn, x, value=False)[1] if value else None
        if self.n == 0:
            return grad, xp.zeros(tx.shape, dtype=x.dtype, device=device_for(x, tx.shape))
        a = constant(tangent_steps(xp, x, tx, self.c))
        results = []
        for k in range(tx.shape[0]):
            a_t = xp.astype(a[k], x.dtype) * tx[k, ...]
            column = xp.astype(self._column(fn, x, a_t, a[k], imaginary=False), x.dtype)
            if self.complex:
                im = self._column(fn, x, a_t, a[k], imaginary=True)
                column = column + xp.astype(im, x.dtype) * 1j
            results.append(xp.reshape(column, x.shape))
        hvps = xp.stack(results, axis=0)
        return grad, (chunked_like(hvps, x) if self.dask else hvps)


class FiniteDiffHessian(HessianPlan):
    """Symmetric stencil on every pair ``i <= j``: ``2 n**2 + 1`` evaluations."""

    def __init__(self, backend: AutoFiniteDiff, fn: Fn, x: Any, y: Any) -> None:
        xp = namespace_of(x)
        if is_complex_dtype(xp, x.dtype):
            msg = (
                "`hessian` of a function of a complex x is not defined as a complex matrix; "
                "use `hvp`, or differentiate with respect to the real and imaginary parts "
                "stacked in a real array."
            )
            raise UnsupportedOperationError(msg)
        self.c = relative_step(backend, fn, x, order=2)
        self.n = n = math.prod(x.shape)
        self.stencil = _MixedStencil(fn, x, y)
        self.diagonal = Evaluator(fn, x, y)
        self.gradient = _central_gradient(backend, fn, x, y)
        device = replicated_for(x)  # index arrays: whole on every device of x
        # Pairs i < j in row-major order, and where H[r, c] is found in [diagonal, pairs].
        rows, cols = (
            xp.reshape(a, (-1,))
            for a in xp.meshgrid(
                xp.arange(n, device=device), xp.arange(n, device=device), indexing="ij"
            )
        )
        upper = rows < cols
        lo, hi = xp.minimum(rows, cols), xp.maximum(rows, cols)
        pair_index = lo * n - (lo * (lo + 1)) // 2 + (hi - lo - 1)
        self.lookup = xp.where(rows == cols, rows, n + pair_index)
        npairs = n * (n - 1) // 2
        order = xp.argsort(xp.where(upper, pair_index, npairs + rows * n + cols), stable=True)
        self.pair_rows = xp.take(rows, order[:npairs])
        self.pair_cols = xp.take(cols, order[:npairs])

    def run(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, Any, Any]:
        xp, n = namespace_of(x), self.n
        device = device_for(x, (n, n))
        f0 = fn(x)
        grad = gradient_by_differences(self.gradient, fn, x, value=False)[1] if value else None
        if n == 0:
            return (f0 if value else None), grad, xp.zeros((0, 0), dtype=x.dtype, device=device)
        b = _coordinate_steps(xp, x, self.c)
        bx = xp.astype(b, x.dtype)
        scaled_eye = xp.reshape(xp.eye(n, dtype=x.dtype, device=device) * bx, (n, *x.shape))
        base = xp.expand_dims(x, axis=0)
        outer = self.diagonal(fn, xp.concat([base + 2.0 * scaled_eye, base - 2.0 * scaled_eye]))
        diag = (outer[:n] - 2.0 * f0 + outer[n:]) / (4.0 * b * b)
        parts = [xp.astype(diag, x.dtype)]
        idx = xp.arange(n, device=device_for(x, (n,)))
        npairs = self.pair_rows.shape[0]
        for start in range(0, npairs, self.stencil.chunk):
            stop = min(start + self.stencil.chunk, npairs)
            i, j = self.pair_rows[start:stop], self.pair_cols[start:stop]
            bi, bj = xp.take(b, i), xp.take(b, j)
            u = _one_hot(xp, i, idx, x) * xp.astype(xp.expand_dims(bi, axis=1), x.dtype)
            v = _one_hot(xp, j, idx, x) * xp.astype(xp.expand_dims(bj, axis=1), x.dtype)
            shape = (i.shape[0], *x.shape)
            mixed = self.stencil(fn, x, xp.reshape(u, shape), xp.reshape(v, shape))
            parts.append(xp.astype(mixed / (bi * bj), x.dtype))
        values = xp.concat(parts, axis=0) if len(parts) > 1 else parts[0]
        hess = xp.reshape(xp.take(values, self.lookup), (n, n))
        return (f0 if value else None), grad, hess


def _one_hot(xp: Any, index: Any, positions: Any, x: Any) -> Any:
    """Rows ``e_{index[k]}`` as a ``(K, n)`` array of ``x``'s dtype."""
    hot = xp.expand_dims(index, axis=1) == xp.expand_dims(positions, axis=0)
    return xp.astype(hot, x.dtype)

"""First-order finite differences: pushforward, gradient and Jacobian plans.

Steps and accuracy
------------------
With ``c = step`` (default ``eps**(1/3)`` central, ``eps**(1/2)`` one-sided), the step along
coordinate ``j`` is ``c * max(1, |x_j|)`` and along a tangent ``t`` it is
``c * max(1, max_j |x_j t_j| / max|t|) / max|t|``. Central differences are accurate to about
``eps**(2/3)`` relative (4e-11 in float64), one-sided ones to ``eps**(1/2)`` (1.5e-8).
Second-order stencils (:mod:`.second`) use ``c = eps**(1/4)`` and reach ``eps**(1/2)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..._array import (
    MAX_STACK_ELEMENTS,
    chunked_like,
    constant,
    device_for,
    distribute_like,
    dtype_in,
    eps_of,
    is_complex_dtype,
    is_dask,
    is_dtensor,
    namespace_of,
    real_dtype,
    redistribute_like,
)
from ...adtypes import AutoFiniteDiff
from ...errors import UnsupportedOperationError
from .._base import Fn, GradientPlan, JacobianPlan, PullbackPlan, PushforwardPlan
from .evaluate import Evaluator, coordinate_sweep, untracked

__all__ = [
    "BasisDifferences",
    "FiniteDiffGradient",
    "FiniteDiffJacobian",
    "FiniteDiffPullbackDTensor",
    "FiniteDiffPushforward",
    "gradient_by_differences",
    "relative_step",
    "tangent_steps",
]


def relative_step(backend: AutoFiniteDiff, fn: Fn, x: Any, *, order: int = 1) -> float:
    """The relative step ``c`` for this scheme and the precision of ``x``'s variables: the
    least precise one when ``x`` is raveled from leaves of several dtypes (``fn.precision``),
    so that no leaf is perturbed below its own resolution."""
    if backend.step is not None:
        return float(backend.step)
    xp = namespace_of(x)
    dtype = real_dtype(xp, x.dtype) if fn.precision is None else dtype_in(xp, fn.precision)
    eps = eps_of(xp, dtype)
    if order == 2:
        return float(eps ** (1 / 4))
    return float(eps ** (1 / 3) if backend.method == "central" else eps ** (1 / 2))


def _expand(xp: Any, h: Any, ndim: int) -> Any:
    """``h`` of shape ``(B,)`` reshaped to broadcast against ``(B, *shape)`` arrays."""
    return xp.reshape(h, (h.shape[0],) + (1,) * ndim)


class Differences:
    """One difference scheme: which points to evaluate and how to form the quotients.

    For scaled directions ``d_b = h_b t_b`` the quotients are ``(f(x + d_b) - f(x - d_b)) /
    (2 h_b)`` (central), ``(f(x + d_b) - f(x)) / h_b`` (forward) or ``(f(x) - f(x - d_b)) /
    h_b`` (backward).
    """

    __slots__ = ("evaluate", "method", "y_dtype", "y_ndim")

    def __init__(self, method: str, fn: Fn, x: Any, y: Any) -> None:
        self.method = method
        self.evaluate = Evaluator(fn, x, y)
        self.y_ndim = len(y.shape)
        self.y_dtype = y.dtype

    @property
    def points_per_direction(self) -> int:
        return 2 if self.method == "central" else 1

    def needs_f0(self) -> bool:
        """One-sided schemes need ``f(x)``."""
        return self.method != "central"

    def signed(self, xp: Any, directions: Any) -> Any:
        """The offsets to evaluate, stacked: ``[d; -d]``, ``d`` or ``-d``."""
        if self.method == "central":
            return xp.concat([directions, -directions], axis=0)
        return directions if self.method == "forward" else -directions

    def quotients(self, xp: Any, values: Any, h: Any, f0: Any) -> Any:
        """Difference quotients from the values at the signed offsets."""
        if self.method == "central":
            count = h.shape[0]
            diff = values[:count, ...] - values[count:, ...]
            quotient = diff / _expand(xp, 2.0 * h, self.y_ndim)
        elif self.method == "forward":
            quotient = (values - f0) / _expand(xp, h, self.y_ndim)
        else:
            quotient = (f0 - values) / _expand(xp, h, self.y_ndim)
        return xp.astype(quotient, self.y_dtype, copy=False)

    def __call__(self, fn: Fn, x: Any, offsets: Any, h: Any, f0: Any) -> Any:
        """Quotients for signed ``offsets`` (flat, ``(k * B, x.size)``) and steps ``h``."""
        xp = namespace_of(x)
        points = xp.reshape(xp.reshape(x, (1, -1)) + offsets, (offsets.shape[0], *x.shape))
        return self.quotients(xp, self.evaluate(fn, points), h, f0)


def tangent_steps(xp: Any, x: Any, tx: Any, c: float) -> Any:
    """Step ``h_b`` for each tangent (see the module docstring), shape ``(B,)``."""
    t = xp.abs(xp.reshape(tx, (tx.shape[0], -1)))
    ax = xp.abs(xp.reshape(x, (1, -1)))
    ax = xp.where(xp.isfinite(ax), ax, 0.0)  # a NaN or inf entry must not poison every step
    tmax = xp.max(t, axis=1)
    safe = xp.where(tmax > 0, tmax, 1.0)
    return c * xp.maximum(xp.max(t * ax, axis=1) / safe, 1.0) / safe


class FiniteDiffPushforward(PushforwardPlan):
    """Directional differences along each tangent, all evaluated in one stacked call."""

    def __init__(self, backend: AutoFiniteDiff, fn: Fn, x: Any, y: Any) -> None:
        self.c = relative_step(backend, fn, x)
        self.differences = Differences(backend.method, fn, x, y)
        self.y_shape = tuple(y.shape)

    def run(self, fn: Fn, x: Any, tx: Any, *, value: bool) -> tuple[Any, Any]:
        xp = namespace_of(x)
        f0 = fn(x) if value or self.differences.needs_f0() else None
        if math.prod(x.shape) == 0:  # nothing to perturb: the derivative is zero
            zeros = xp.zeros(
                (tx.shape[0], *self.y_shape),
                dtype=self.differences.y_dtype,
                device=device_for(x, (tx.shape[0], *self.y_shape)),
            )
            return f0, zeros
        h = constant(tangent_steps(xp, x, tx, self.c))
        directions = xp.reshape(tx, (tx.shape[0], -1)) * _expand(xp, xp.astype(h, x.dtype), 1)
        return f0, self.differences(fn, x, self.differences.signed(xp, directions), h, f0)


class BasisDifferences:
    """Differences along the coordinate axes of ``x``, in chunks of stacked points.

    The signed unit offsets of each chunk are built once at preparation (when they fit in
    the stacking budget); a call then costs a handful of array operations plus the
    evaluations. Shared by the gradient, the Jacobian and the second-order stencils.
    """

    def __init__(self, backend: AutoFiniteDiff, fn: Fn, x: Any, y: Any, *, c: float) -> None:
        xp = namespace_of(x)
        self.c = c
        self.n = math.prod(x.shape)
        self.complex = is_complex_dtype(xp, x.dtype)
        self.differences = Differences(backend.method, fn, x, y)
        per_direction = self.differences.points_per_direction
        self.chunk = max(1, self.differences.evaluate.chunk // per_direction)
        self.starts = tuple(range(0, self.n, self.chunk))
        self.units: tuple[Any, ...] | None = None
        self.indices: tuple[tuple[int, ...], ...] = ()
        # dask: one task per chunk of x (.blocks), no stacked offsets
        self.dask = is_dask(x) and not fn.inplace
        self.method, self.y_shape = backend.method, tuple(y.shape)
        if self.dask:
            return
        if self.differences.evaluate.sweepable:
            self.indices = tuple(
                tuple(int(i) for i in np.unravel_index(j, x.shape)) for j in range(self.n)
            )
        # Loop mode (f not batchable, x writable) sweeps coordinates and never reads the
        # offsets unless an engine tracks x: they are only kept for stacked calls.
        stacked = not self.differences.evaluate.sweepable
        if stacked and self.n * self.n * per_direction <= MAX_STACK_ELEMENTS:
            self.units = tuple(self._unit_offsets(xp, x, start) for start in self.starts)

    def _unit_offsets(self, xp: Any, x: Any, start: int) -> Any:
        count = min(self.chunk, self.n - start)
        if is_dtensor(x):  # the seeds on x's mesh, each process its own part
            rows = distribute_like(xp.eye(count, self.n, k=start, dtype=x.dtype), x)
        else:
            device = device_for(x, (count, self.n))
            rows = xp.eye(count, self.n, k=start, dtype=x.dtype, device=device)
        return self.differences.signed(xp, rows)

    def steps(self, xp: Any, x: Any) -> Any:
        """``c * max(1, |x_j|)`` for every coordinate, flattened."""
        return self.c * xp.maximum(xp.abs(xp.reshape(x, (-1,))), 1.0)

    def __call__(self, fn: Fn, x: Any, f0: Any, *, imaginary: bool = False) -> Any:
        """Derivatives along ``e_j`` (or ``1j * e_j``) for every ``j``: ``(n, *y.shape)``."""
        if self.dask:
            from .blocks import dask_basis

            return dask_basis(
                fn,
                x,
                c=self.c,
                method=self.method,
                y_shape=self.y_shape,
                y_dtype=self.differences.y_dtype,
                imaginary=imaginary,
            )
        xp = namespace_of(x)
        h = constant(self.steps(xp, x))
        h_x = xp.astype(h, x.dtype, copy=False)
        if self.differences.evaluate.sweepable and untracked(x, fn.args):
            try:
                return self._sweep(fn, x, h, h_x * 1j if imaginary else h_x, f0)
            except Exception:  # noqa: BLE001 - e.g. arrays traced by an outer engine refuse
                pass  # index writes; stacked points re-raise errors of f itself
        parts = []
        for i, start in enumerate(self.starts):
            units = self.units[i] if self.units is not None else self._unit_offsets(xp, x, start)
            offsets = units * h_x  # row j of each block holds +-h_j at column j
            if imaginary:
                offsets = offsets * 1j
            h_chunk = h[start : min(start + self.chunk, self.n)]
            parts.append(self.differences(fn, x, offsets, h_chunk, f0))
        return parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)

    def _sweep(self, fn: Fn, x: Any, h: Any, h_x: Any, f0: Any) -> Any:
        """Loop mode: perturb one coordinate of a private copy of ``x`` at a time."""
        xp = namespace_of(x)
        flat = xp.reshape(x, (-1,))
        method = self.differences.method
        shifted = {"central": [flat + h_x, flat - h_x], "forward": [flat + h_x]}.get(
            method, [flat - h_x]
        )
        values = coordinate_sweep(fn, x, shifted, self.indices)
        return self.differences.quotients(xp, values, h, f0)


class FiniteDiffGradient(GradientPlan):
    """Gradient by differences along each coordinate (and ``1j *`` each, for complex ``x``)."""

    def __init__(self, backend: AutoFiniteDiff, fn: Fn, x: Any, y: Any) -> None:
        self.basis = BasisDifferences(backend, fn, x, y, c=relative_step(backend, fn, x))

    def run(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, Any]:
        return gradient_by_differences(self.basis, fn, x, value=value)


def gradient_by_differences(
    basis: BasisDifferences, fn: Fn, x: Any, *, value: bool
) -> tuple[Any, Any]:
    """``(f(x) or None, gradient)`` with the library's complex convention."""
    xp = namespace_of(x)
    f0 = fn(x) if value or basis.differences.needs_f0() else None
    if basis.n == 0:
        return f0, xp.zeros(x.shape, dtype=x.dtype, device=device_for(x, x.shape))
    grad = basis(fn, x, f0)
    if basis.complex:  # df/dRe x + i df/dIm x
        grad = xp.astype(grad, x.dtype) + xp.astype(basis(fn, x, f0, imaginary=True), x.dtype) * 1j
    grad = xp.reshape(xp.astype(grad, x.dtype), x.shape)
    return f0, (chunked_like(grad, x) if basis.dask else grad)


class FiniteDiffJacobian(JacobianPlan):
    """Jacobian column by column; complex ``x`` assumes a holomorphic ``f``."""

    def __init__(self, backend: AutoFiniteDiff, fn: Fn, x: Any, y: Any) -> None:
        self.basis = BasisDifferences(backend, fn, x, y, c=relative_step(backend, fn, x))
        self.m = math.prod(y.shape)
        self.dtype = namespace_of(x).result_type(x.dtype, y.dtype)

    def run(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, Any]:
        xp = namespace_of(x)
        f0 = fn(x) if value or self.basis.differences.needs_f0() else None
        if self.basis.n == 0:
            return f0, xp.zeros((self.m, 0), dtype=self.dtype, device=device_for(x, (self.m, 0)))
        columns = xp.reshape(self.basis(fn, x, f0), (self.basis.n, self.m))
        return f0, xp.astype(xp.matrix_transpose(columns), self.dtype, copy=True)


class FiniteDiffPullbackDTensor(PullbackPlan):
    """Pullbacks of a function of a torch DTensor ``x``: ``u^T J`` from the Jacobian (``n``
    coordinate differences on the mesh), since the generic fallback's seeds are plain
    tensors. Real ``x`` and ``y`` only."""

    def __init__(self, backend: AutoFiniteDiff, fn: Fn, x: Any, y: Any) -> None:
        xp = namespace_of(x)
        if is_complex_dtype(xp, x.dtype) or is_complex_dtype(xp, y.dtype):
            msg = (
                "`pullback` with AutoFiniteDiff() of a torch DTensor x supports real x and "
                "f(x) only; use di.AutoTorch() for complex ones."
            )
            raise UnsupportedOperationError(msg)
        self.jacobian = FiniteDiffJacobian(backend, fn, x, y)

    def run(self, fn: Fn, x: Any, ty: Any, *, value: bool) -> tuple[Any, Any]:
        xp = namespace_of(x)
        y0, jac = self.jacobian.run(fn, x, value=value)
        rows = xp.reshape(ty, (ty.shape[0], -1)) @ jac
        return y0, redistribute_like(xp.reshape(rows, (ty.shape[0], *x.shape)), x)

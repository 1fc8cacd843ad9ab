"""Generic first-order fallbacks, written once against the Array API.

Everything is derived from an engine's pushforward or pullback, in the caller's namespace and
on its device, in batches of basis seeds (never one Python-level call per direction when the
engine can batch).

Complex numbers
---------------
Derivatives are real-linear maps ``L``; the adjoint is taken for the real inner product
``<a, b> = Re(sum(conj(a) * b))``. Then

* the pullback of ``w`` is ``L*(w)_j = <L e_j, w> + i <L(i e_j), w>`` (second term for complex
  ``x`` only), which is ``J^H w`` for holomorphic ``f`` and ``w * (df/dRe x + i df/dIm x)`` for
  real-valued ``f`` — the library's gradient convention;
* the pushforward of ``t`` is ``(L t)_k = <L* e_k, t> + i <L*(i e_k), t>`` (second term for
  complex ``y`` only).

Jacobians of complex inputs assume ``f`` is holomorphic (as in DifferentiationInterface.jl).
"""

from __future__ import annotations

import math
from typing import Any

from .._array import (
    basis_chunk,
    chunking,
    device_for,
    is_complex_dtype,
    namespace_of,
    real_dtype,
    replicated_for,
)
from ..backends import Engine, Fn
from ..backends._base import (
    DerivativePlan,
    GradientPlan,
    JacobianPlan,
    PullbackPlan,
    PushforwardPlan,
)
from . import _dispatch

__all__ = [
    "DerivativeViaPushforward",
    "GradientViaPullback",
    "JacobianViaPullback",
    "JacobianViaPushforward",
    "PullbackViaPushforward",
    "PushforwardViaPullback",
    "jacobian_fallback",
]


def _real_inner(xp: Any, a: Any, w: Any) -> Any:
    """``Re(conj(a) @ w.T)`` for a ``(k, n)`` and w ``(b, n)``: a ``(k, b)`` real matrix."""
    if is_complex_dtype(xp, a.dtype):
        a = xp.conj(a)
    product = xp.matmul(a, xp.matrix_transpose(w))
    return xp.real(product) if is_complex_dtype(xp, product.dtype) else product


def _as_complex(xp: Any, re: Any, im: Any, dtype: Any) -> Any:
    """``re + 1j * im`` in complex ``dtype`` (no real-array-times-complex-scalar promotion)."""
    return xp.astype(re, dtype) + xp.astype(im, dtype) * 1j


class _BasisSweep:
    """Run a batched plan over the basis of an array of ``shape``, one chunk at a time."""

    def __init__(self, engine: Engine, of: Any, *, complex_: bool) -> None:
        """The basis of arrays like ``of`` (``x`` or ``y``), in chunks that fit its memory."""
        self.shape = tuple(of.shape)
        self.size = math.prod(self.shape)
        self.dtype = of.dtype
        self.complex = complex_
        self.batch, self.nchunks = chunking(self.size, engine.max_batch(self.size, of))

    def seeds(self, xp: Any, device: Any, chunk: int, *, imaginary: bool = False) -> Any:
        return basis_chunk(
            xp, self.shape, chunk * self.batch, self.batch, self.dtype, device, imaginary=imaginary
        )

    def device(self, x: Any) -> Any:
        """Where seeds for ``x`` are made: ``x``'s device, or for a sharded ``x`` its devices
        (cut like ``x`` when the basis is ``x``'s, see :func:`device_for`)."""
        return device_for(x, (max(self.batch, 1), self.size))

    def template(self, xp: Any, device: Any) -> Any:
        """Seeds with the batch shape, for preparing the inner plan."""
        batch = max(self.batch, 1)
        zeros = xp.zeros((batch, self.size), dtype=self.dtype, device=device)
        return xp.reshape(zeros, (batch, *self.shape))


class PullbackViaPushforward(PullbackPlan):
    """Pullback from batched pushforwards of the basis of ``x`` (``x.size`` directions)."""

    def __init__(self, engine: Engine, fn: Fn, x: Any, ty: Any, y: Any) -> None:
        xp = namespace_of(x)
        self.sweep = _BasisSweep(engine, x, complex_=is_complex_dtype(xp, x.dtype))
        self.inner = None
        if self.sweep.size:
            seeds = self.sweep.template(xp, self.sweep.device(x))
            self.inner = _dispatch.build_plan("pushforward", engine, fn, x, seeds, y)

    def run(self, fn: Fn, x: Any, ty: Any, *, value: bool) -> tuple[Any, Any]:
        xp, sweep = namespace_of(x), self.sweep
        device = sweep.device(x)
        w = xp.reshape(ty, (ty.shape[0], -1))
        y = None
        parts_re: list[Any] = []
        parts_im: list[Any] = []
        for chunk in range(sweep.nchunks):
            for imaginary in (False, True) if sweep.complex else (False,):
                seeds = sweep.seeds(xp, device, chunk, imaginary=imaginary)
                y_c, columns = self.inner.run(fn, x, seeds, value=value and y is None)  # type: ignore[union-attr]
                if y is None:
                    y = y_c
                block = _real_inner(xp, xp.reshape(columns, (sweep.batch, -1)), w)
                (parts_im if imaginary else parts_re).append(block)
        if value and y is None:
            y = fn(x)
        tx = _join(xp, parts_re, (sweep.size, w.shape[0]), w.dtype, device)
        if sweep.complex:
            tx_im = _join(xp, parts_im, (sweep.size, w.shape[0]), w.dtype, device)
            tx = _as_complex(xp, tx, tx_im, x.dtype)
        tx = xp.reshape(xp.matrix_transpose(tx), (w.shape[0], *x.shape))
        return y, xp.astype(tx, x.dtype)


class PushforwardViaPullback(PushforwardPlan):
    """Pushforward from batched pullbacks of the basis of ``y`` (``y.size`` directions)."""

    def __init__(self, engine: Engine, fn: Fn, x: Any, tx: Any, y: Any) -> None:
        xp = namespace_of(y)
        self.y_shape, self.y_dtype = tuple(y.shape), y.dtype
        self.sweep = _BasisSweep(engine, y, complex_=is_complex_dtype(xp, y.dtype))
        self.inner = None
        if self.sweep.size:
            seeds = self.sweep.template(xp, self.sweep.device(x))
            self.inner = _dispatch.build_plan("pullback", engine, fn, x, seeds, y)

    def run(self, fn: Fn, x: Any, tx: Any, *, value: bool) -> tuple[Any, Any]:
        xp, sweep = namespace_of(x), self.sweep
        device = sweep.device(x)
        t = xp.reshape(tx, (tx.shape[0], -1))
        y = None
        parts_re: list[Any] = []
        parts_im: list[Any] = []
        for chunk in range(sweep.nchunks):
            for imaginary in (False, True) if sweep.complex else (False,):
                seeds = sweep.seeds(xp, device, chunk, imaginary=imaginary)
                y_c, rows = self.inner.run(fn, x, seeds, value=value and y is None)  # type: ignore[union-attr]
                if y is None:
                    y = y_c
                block = _real_inner(xp, xp.reshape(rows, (sweep.batch, -1)), t)
                (parts_im if imaginary else parts_re).append(block)
        if value and y is None:
            y = fn(x)
        rdtype = real_dtype(xp, self.y_dtype)
        ty = _join(xp, parts_re, (sweep.size, t.shape[0]), rdtype, device)
        if sweep.complex:
            ty_im = _join(xp, parts_im, (sweep.size, t.shape[0]), rdtype, device)
            ty = _as_complex(xp, ty, ty_im, self.y_dtype)
        ty = xp.reshape(xp.matrix_transpose(ty), (t.shape[0], *self.y_shape))
        return y, xp.astype(ty, self.y_dtype)


def _join(xp: Any, parts: list[Any], shape: tuple[int, int], dtype: Any, device: Any) -> Any:
    """Concatenate per-chunk rows and drop the wrap-around padding of the last chunk."""
    if not parts:
        return xp.zeros(shape, dtype=real_dtype(xp, dtype), device=device)
    joined = xp.concat(parts, axis=0) if len(parts) > 1 else parts[0]
    return joined[: shape[0], ...]


class GradientViaPullback(GradientPlan):
    """Gradient as the pullback of the cotangent 1 (one reverse pass)."""

    def __init__(self, engine: Engine, fn: Fn, x: Any, y: Any) -> None:
        xp = namespace_of(y)
        self.seed_dtype = y.dtype
        seed = xp.ones((1,), dtype=y.dtype, device=replicated_for(x))
        self.inner = _dispatch.build_plan("pullback", engine, fn, x, seed, y)

    def run(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, Any]:
        xp = namespace_of(x)
        seed = xp.ones((1,), dtype=self.seed_dtype, device=replicated_for(x))
        y, tx = self.inner.run(fn, x, seed, value=value)
        return y, tx[0, ...]


class DerivativeViaPushforward(DerivativePlan):
    """Derivative as the pushforward of the tangent 1 (one forward pass)."""

    def __init__(self, engine: Engine, fn: Fn, x: Any, y: Any) -> None:
        xp = namespace_of(x)
        seed = xp.ones((1,), dtype=x.dtype, device=replicated_for(x))
        self.inner = _dispatch.build_plan("pushforward", engine, fn, x, seed, y)

    def run(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, Any]:
        xp = namespace_of(x)
        seed = xp.ones((1,), dtype=x.dtype, device=replicated_for(x))
        y, ty = self.inner.run(fn, x, seed, value=value)
        return y, ty[0, ...]


class JacobianViaPushforward(JacobianPlan):
    """Jacobian column by column: batched pushforwards of the basis of ``x``."""

    def __init__(self, engine: Engine, fn: Fn, x: Any, y: Any) -> None:
        xp = namespace_of(x)
        self.m = math.prod(y.shape)
        self.dtype = xp.result_type(x.dtype, y.dtype)
        self.sweep = _BasisSweep(engine, x, complex_=False)
        self.inner = None
        if self.sweep.size:
            seeds = self.sweep.template(xp, self.sweep.device(x))
            self.inner = _dispatch.build_plan("pushforward", engine, fn, x, seeds, y)

    def run(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, Any]:
        xp, sweep = namespace_of(x), self.sweep
        device = sweep.device(x)
        y, parts = None, []
        for chunk in range(sweep.nchunks):
            seeds = sweep.seeds(xp, device, chunk)
            y_c, columns = self.inner.run(fn, x, seeds, value=value and y is None)  # type: ignore[union-attr]
            if y is None:
                y = y_c
            parts.append(xp.astype(xp.reshape(columns, (sweep.batch, self.m)), self.dtype))
        if value and y is None:
            y = fn(x)
        jac = _join(xp, parts, (sweep.size, self.m), self.dtype, device)
        return y, xp.astype(xp.matrix_transpose(jac), self.dtype, copy=True)


class JacobianViaPullback(JacobianPlan):
    """Jacobian row by row: batched pullbacks of the basis of ``y``.

    Rows are conjugated for complex ``x`` (holomorphic ``f``: the pullback gives ``J^H``), and
    rebuilt from a real and an imaginary seed for real ``x`` with complex ``y``.
    """

    def __init__(self, engine: Engine, fn: Fn, x: Any, y: Any) -> None:
        xp = namespace_of(x)
        self.n = math.prod(x.shape)
        self.dtype = xp.result_type(x.dtype, y.dtype)
        self.x_complex = is_complex_dtype(xp, x.dtype)
        y_complex = is_complex_dtype(xp, y.dtype)
        self.sweep = _BasisSweep(engine, y, complex_=y_complex and not self.x_complex)
        self.inner = None
        if self.sweep.size:
            seeds = self.sweep.template(xp, self.sweep.device(x))
            self.inner = _dispatch.build_plan("pullback", engine, fn, x, seeds, y)

    def run(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, Any]:
        xp, sweep = namespace_of(x), self.sweep
        device = sweep.device(x)
        y, parts = None, []
        for chunk in range(sweep.nchunks):
            blocks = []
            for imaginary in (False, True) if sweep.complex else (False,):
                seeds = sweep.seeds(xp, device, chunk, imaginary=imaginary)
                y_c, rows = self.inner.run(fn, x, seeds, value=value and y is None)  # type: ignore[union-attr]
                if y is None:
                    y = y_c
                blocks.append(xp.reshape(rows, (sweep.batch, self.n)))
            if sweep.complex:
                block = _as_complex(xp, blocks[0], blocks[1], self.dtype)
            else:
                block = xp.conj(blocks[0]) if self.x_complex else blocks[0]
            parts.append(xp.astype(block, self.dtype))
        if value and y is None:
            y = fn(x)
        return y, xp.astype(
            _join(xp, parts, (sweep.size, self.n), self.dtype, device), self.dtype, copy=True
        )


def jacobian_fallback(engine: Engine, fn: Fn, x: Any, y: Any) -> JacobianPlan:
    """Columns (pushforwards) when the engine is forward or the Jacobian is tall, else rows."""
    n, m = math.prod(x.shape), math.prod(y.shape)
    if engine.forward and (not engine.reverse or n <= m):
        return JacobianViaPushforward(engine, fn, x, y)
    return JacobianViaPullback(engine, fn, x, y)

"""First-order plans of the HIPS autograd engine.

Complex numbers: autograd's vector-Jacobian product is ``conj(L*(conj(w)))`` (``L*`` the
adjoint of the derivative for the real inner product ``Re(sum(conj(a) * b))``), so its
gradient is ``df/dRe x - 1j df/dIm x``. The library's convention is ``L*`` itself: pullbacks
conjugate the cotangent on the way in (complex ``y``) and the result on the way out (complex
``x``), which gives ``J^H w`` for holomorphic ``f`` and ``df/dRe x + 1j df/dIm x`` for real
``f``. Pushforwards (``make_jvp`` or the transposed pullback) are ``L t`` already.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import autograd.numpy as anp
import numpy as np

from ..._array import is_array
from ...contexts import Constant
from ...errors import FunctionOutputError
from .._base import DerivativePlan, Fn, GradientPlan, JacobianPlan, PullbackPlan, PushforwardPlan
from .io import CallerIO, host, read_only, stack
from .trace import (
    MissingForwardRuleError,
    getval,
    isbox,
    jvp_trace,
    jvps,
    pull,
    vjp_trace,
)

__all__ = [
    "AutogradDerivative",
    "AutogradGradient",
    "AutogradJacobian",
    "AutogradPullback",
    "AutogradPushforward",
    "SameGraph",
    "bound",
    "probe_forward",
]


def bound(fn: Fn, args: tuple[Any, ...]) -> Callable[[Any], Any]:
    """``x -> f(x, *args)``."""
    f = fn.f
    return lambda x: f(x, *args)


def expect_shape(y: Any, shape: tuple[int, ...]) -> None:
    """Refuse an output whose shape differs from the preparation's: autograd would broadcast
    seeds of the prepared shape against it and return a silently wrong result."""
    got = tuple(np.shape(getval(y)))
    if got != shape:
        msg = f"f returned shape {got} at this x, but shape {shape} at preparation."
        raise FunctionOutputError(msg)


def _spec(a: Any) -> tuple[tuple[int, ...], np.dtype[Any]]:
    value = host(a)
    return tuple(value.shape), value.dtype


def probe_forward(fun: Callable[[Any], Any], x: Any, t: Any) -> bool:
    """Whether autograd has forward-mode rules for everything ``fun`` does at ``x``."""
    try:
        jvp_trace(fun, x, t)
    except MissingForwardRuleError:
        return False
    return True


class SameGraph:
    """A graph traced once by a same-point preparation, reused while the point is the same.

    The trace is made on private copies of ``x`` and of the ``Constant`` values, and reused
    by a call only if its ``x`` and constants are equal to them (checked at every call, so a
    changed point is traced afresh, never answered from the old graph). The graph is only
    read afterwards, so threads may share it.
    """

    __slots__ = ("args", "constant", "graph", "x")

    def __init__(self, fn: Fn, x: Any, args: tuple[Any, ...], trace: Callable[..., Any]) -> None:
        self.x = np.array(getval(x))
        self.args = tuple(np.array(a) if isinstance(a, np.ndarray) else a for a in args)
        self.constant = tuple(isinstance(c, Constant) for c in fn.contexts)
        self.graph = trace(bound(fn, self.args), self.x)

    def get(self, x: Any, args: tuple[Any, ...]) -> Any:
        """The stored graph if ``x`` and the constants match it, else ``None``."""
        if isbox(x) or not np.array_equal(x, self.x):
            return None
        for a, a0, constant in zip(args, self.args, self.constant, strict=True):
            if constant and not _equal(a, a0):
                return None
        return self.graph


def _equal(a: Any, b: Any) -> bool:
    if is_array(a) or is_array(b):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and np.array_equal(a, b)
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - values that cannot be compared are different
        return False


class AutogradPushforward(PushforwardPlan):
    """``make_jvp`` per tangent; the transposed pullback where forward rules are missing."""

    def __init__(self, fn: Fn, x: Any, tx: Any, y: Any) -> None:
        self.io = CallerIO(x)
        self.y_shape, self.y_dtype = _spec(y)
        x_np, args = self.io.put(fn, x)
        self.forward = probe_forward(bound(fn, args), x_np, self.io.put_seeds(tx)[0])

    def run(self, fn: Fn, x: Any, tx: Any, *, value: bool) -> tuple[Any, Any]:
        io = self.io
        x_np, args = io.put(fn, x)
        y, ty = jvps(bound(fn, args), x_np, list(io.put_seeds(tx)), forward=self.forward)
        expect_shape(y, self.y_shape)
        sources = (x_np, *args)
        y_out = io.back(y, None, sources) if value else None
        return y_out, io.back_stacked(ty, self.y_shape, self.y_dtype)


class AutogradDerivative(DerivativePlan):
    """Pushforward of the tangent 1 (``x`` is 0-d)."""

    def __init__(self, fn: Fn, x: Any, y: Any) -> None:
        self.io = CallerIO(x)
        self.y_shape, self.y_dtype = _spec(y)
        self.one = read_only(np.ones((), dtype=self.io.x_dtype))
        x_np, args = self.io.put(fn, x)
        self.forward = probe_forward(bound(fn, args), x_np, self.one)

    def run(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, Any]:
        io = self.io
        x_np, args = io.put(fn, x)
        y, (der,) = jvps(bound(fn, args), x_np, [self.one], forward=self.forward)
        expect_shape(y, self.y_shape)
        sources = (x_np, *args)
        if der is None:
            der = np.zeros(self.y_shape, dtype=self.y_dtype)
        return (io.back(y, None, sources) if value else None), io.back(der, self.y_dtype, sources)


class AutogradPullback(PullbackPlan):
    """One reverse trace, then one backward pass per cotangent."""

    def __init__(self, fn: Fn, x: Any, ty: Any, y: Any, *, same_point: bool) -> None:
        self.io = CallerIO(x)
        self.x_shape = tuple(host(x).shape)
        self.y_shape, y_dtype = _spec(y)
        self.y_complex = y_dtype.kind == "c"
        self.same: SameGraph | None = None
        if same_point:
            x_np, args = self.io.put(fn, x)
            self.same = SameGraph(fn, x_np, args, vjp_trace)

    def run(self, fn: Fn, x: Any, ty: Any, *, value: bool) -> tuple[Any, Any]:
        io = self.io
        x_np, args = io.put(fn, x)
        graph = None if self.same is None else self.same.get(x_np, args)
        y, node = graph if graph is not None else vjp_trace(bound(fn, args), x_np)
        expect_shape(y, self.y_shape)
        tx = []
        for w in io.put_seeds(ty):
            g = pull(node, anp.conj(w) if self.y_complex else w, x_np)
            tx.append(anp.conj(g) if io.complex else g)
        sources = (x_np, *args)
        y_out = io.back(y, None, sources) if value else None
        return y_out, io.back_stacked(tx, self.x_shape, io.x_dtype)


class AutogradGradient(GradientPlan):
    """One reverse trace and one backward pass from the seed 1: ``autograd.grad``'s work."""

    def __init__(self, fn: Fn, x: Any, y: Any) -> None:
        self.io = CallerIO(x)
        self.seed = read_only(np.ones((), dtype=_spec(y)[1]))

    def run(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, Any]:
        io = self.io
        if type(x) is np.ndarray:  # the hot path: a numpy caller
            x_np, args = x, fn.args
        else:
            x_np, args = io.put(fn, x)
        f = fn.f
        y, node = vjp_trace(lambda b: f(b, *args), x_np)
        if getattr(y, "shape", ()):
            msg = f"`gradient` needs f to return a 0-d array; it returned shape {y.shape}."
            raise FunctionOutputError(msg)
        grad = pull(node, self.seed, x_np)
        if io.complex:
            grad = anp.conj(grad)
        sources = (x_np, *args) if args else (x_np,)
        y_out = io.back(y, None, sources) if value else None
        return y_out, io.back(grad, io.x_dtype, sources)


class AutogradJacobian(JacobianPlan):
    """Rows by backward passes after one trace, or columns by forward passes if fewer.

    Reverse rows are ``J[i, :] = vjp(e_i)`` for real ``f`` or holomorphic complex ``f``;
    mixed real/complex functions and wide-input Jacobians (``n < m``) use columns
    ``J[:, j] = L e_j``.
    """

    def __init__(self, fn: Fn, x: Any, y: Any) -> None:
        self.io = CallerIO(x)
        self.x_shape = tuple(host(x).shape)
        self.y_shape, y_dtype = _spec(y)
        self.n, self.m = math.prod(self.x_shape), math.prod(self.y_shape)
        self.dtype = np.result_type(self.io.x_dtype, y_dtype)
        x_np, args = self.io.put(fn, x)
        mixed = self.io.complex != (y_dtype.kind == "c")
        self.columns = self.n > 0 and (mixed or self.n < self.m)
        self.forward = False
        if self.columns:
            basis = np.eye(self.n, dtype=self.io.x_dtype).reshape(self.n, *self.x_shape)
            self.basis = read_only(basis)
            self.forward = probe_forward(bound(fn, args), x_np, self.basis[0])
        else:
            basis = np.eye(self.m, dtype=y_dtype).reshape(self.m, *self.y_shape)
            self.basis = read_only(basis)

    def run(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, Any]:
        io = self.io
        x_np, args = io.put(fn, x)
        fun = bound(fn, args)
        jac: Any
        if self.n == 0 or self.m == 0:
            y = fun(x_np)
            expect_shape(y, self.y_shape)
            jac = np.zeros((self.m, self.n), dtype=self.dtype)
        elif self.columns:
            y, cols = jvps(fun, x_np, list(self.basis), forward=self.forward)
            expect_shape(y, self.y_shape)
            jac = anp.transpose(
                anp.reshape(stack(cols, self.y_shape, self.dtype), (self.n, self.m))
            )
            if not isbox(jac):
                jac = np.ascontiguousarray(jac)
        else:
            y, node = vjp_trace(fun, x_np)
            expect_shape(y, self.y_shape)
            rows = [pull(node, e, x_np) for e in self.basis]
            jac = anp.reshape(stack(rows, self.x_shape, self.dtype), (self.m, self.n))
        sources = (x_np, *args)
        y_out = io.back(y, None, sources) if value else None
        return y_out, io.back_owned(jac)

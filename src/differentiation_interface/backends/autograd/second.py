"""Second-order plans of the HIPS autograd engine.

Hessian-vector products and Hessians are reverse over reverse, like autograd's ``make_hvp``
and ``hessian``: the gradient computation (a reverse trace and its backward pass) is itself
traced once, then each tangent costs one backward pass through that trace. autograd's rules are
written with its own primitives, so every function autograd can differentiate once it can
differentiate twice this way; forward rules are missing for some primitives (``linalg``,
``fft``), so forward over reverse would fail more often.

Complex ``x``: autograd's gradient is ``C g`` (``C`` the conjugation, ``g`` the library's
gradient), whose derivative is ``C H`` with ``H`` the real Hessian; its pullback of ``t`` is
``C H t``, so the library's ``H t`` is the conjugate of what autograd returns.

Second derivatives (0-d ``x``) are forward over forward (two nested ``make_jvp``), or the
transposed pullback at both levels where forward rules are missing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import autograd.numpy as anp
import numpy as np

from ...errors import UnsupportedOperationError
from .._base import Fn, HessianPlan, HVPPlan, SecondDerivativePlan
from .first import SameGraph, bound
from .io import CallerIO, host, read_only, stack
from .trace import MissingForwardRuleError, getval, jvp_trace, jvps, pull, vjp_trace

__all__ = ["AutogradHVP", "AutogradHessian", "AutogradSecondDerivative"]


def _gradient_function(
    fun: Callable[[Any], Any], seed: Any, values: list[Any] | None = None
) -> Callable[[Any], Any]:
    """``x -> autograd's gradient of fun at x``, traceable; records ``fun(x)`` in ``values``."""

    def gradient(x: Any) -> Any:
        y, node = vjp_trace(fun, x)
        if values is not None:
            values.append(getval(y))
        return pull(node, seed, x)

    return gradient


class AutogradHVP(HVPPlan):
    """Reverse over reverse: one traced gradient, one backward pass per tangent."""

    def __init__(self, fn: Fn, x: Any, tx: Any, y: Any, *, same_point: bool) -> None:
        self.io = CallerIO(x)
        self.x_shape = tuple(host(x).shape)
        self.seed = read_only(np.ones((), dtype=host(y).dtype))
        self.same: SameGraph | None = None
        if same_point:
            x_np, args = self.io.put(fn, x)
            self.same = SameGraph(fn, x_np, args, self._trace)

    def _trace(self, fun: Callable[[Any], Any], x: Any) -> tuple[Any, Any]:
        return vjp_trace(_gradient_function(fun, self.seed), x)

    def run(self, fn: Fn, x: Any, tx: Any, *, value: bool) -> tuple[Any, Any]:
        io = self.io
        x_np, args = io.put(fn, x)
        graph = None if self.same is None else self.same.get(x_np, args)
        grad, node = graph if graph is not None else self._trace(bound(fn, args), x_np)
        tg = [pull(node, t, x_np) for t in io.put_seeds(tx)]
        if io.complex:
            grad, tg = anp.conj(grad), [anp.conj(t) for t in tg]
        sources = (x_np, *args)
        grad_out = io.back(grad, io.x_dtype, sources) if value else None
        return grad_out, io.back_stacked(tg, self.x_shape, io.x_dtype)


class AutogradHessian(HessianPlan):
    """Reverse over reverse over the basis of ``x`` (``autograd.hessian``'s method)."""

    def __init__(self, fn: Fn, x: Any, y: Any) -> None:
        self.io = CallerIO(x)
        if self.io.complex:
            msg = (
                "`hessian` of a function of a complex x is not defined as a complex matrix; "
                "use `hvp` (real-linear in the tangent), or differentiate with respect to "
                "the real and imaginary parts stacked in a real array."
            )
            raise UnsupportedOperationError(msg)
        x_np = host(x)
        self.x_shape, self.n = tuple(x_np.shape), x_np.size
        self.seed = read_only(np.ones((), dtype=host(y).dtype))
        basis = np.eye(self.n, dtype=x_np.dtype).reshape(self.n, *self.x_shape)
        self.basis = read_only(basis)

    def run(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, Any, Any]:
        io = self.io
        x_np, args = io.put(fn, x)
        values: list[Any] = []
        grad, node = vjp_trace(_gradient_function(bound(fn, args), self.seed, values), x_np)
        rows = stack([pull(node, e, x_np) for e in self.basis], self.x_shape, io.x_dtype)
        hess = io.back_owned(anp.reshape(rows, (self.n, self.n)))
        if not value:
            return None, None, hess
        sources = (x_np, *args)
        y = io.back(values[0], None, sources)
        return y, io.back(grad, io.x_dtype, sources), hess


class AutogradSecondDerivative(SecondDerivativePlan):
    """Forward over forward (nested ``make_jvp``), or transposed pullbacks at both levels."""

    def __init__(self, fn: Fn, x: Any, y: Any) -> None:
        self.io = CallerIO(x)
        y_np = host(y)
        self.y_shape, self.y_dtype = tuple(y_np.shape), y_np.dtype
        self.one = read_only(np.ones((), dtype=self.io.x_dtype))
        x_np, args = self.io.put(fn, x)
        self.forward = True
        try:
            jvp_trace(self._derivative(bound(fn, args), []), x_np, self.one)
        except MissingForwardRuleError:
            self.forward = False

    def _derivative(self, fun: Callable[[Any], Any], values: list[Any]) -> Callable[[Any], Any]:
        """``t -> f'(t)``, traceable; records ``f(t)`` in ``values``."""

        def derivative(t: Any) -> Any:
            y, (der,) = jvps(fun, t, [self.one], forward=self.forward)
            values.append(getval(y))
            return np.zeros(self.y_shape, dtype=self.y_dtype) if der is None else der

        return derivative

    def run(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, Any, Any]:
        io = self.io
        x_np, args = io.put(fn, x)
        values: list[Any] = []
        der_fn = self._derivative(bound(fn, args), values)
        der, (der2,) = jvps(der_fn, x_np, [self.one], forward=self.forward)
        if der2 is None:
            der2 = np.zeros(self.y_shape, dtype=self.y_dtype)
        sources = (x_np, *args)
        der2_out = io.back(der2, self.y_dtype, sources)
        if not value:
            return None, None, der2_out
        y = io.back(values[0], None, sources)
        return y, io.back(der, self.y_dtype, sources), der2_out

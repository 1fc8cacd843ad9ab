"""First-order JAX plans: ``jvp``, ``vjp``, ``grad`` and Jacobians, jitted and batched.

Complex numbers (see :mod:`differentiation_interface.operators._first_order`)
------------------------------------------------------------------------------
``jax.jvp`` is the directional derivative, which is the library's pushforward as it is
(``J t`` for holomorphic ``f``). ``jax.vjp`` transposes without conjugating: for a cotangent
``w`` it gives ``J^T w`` for holomorphic ``f`` and the conjugate of the library's gradient for
real-valued ``f``. The library's pullback (the adjoint for ``<a, b> = Re(sum(conj(a) b))``,
``J^H w`` for holomorphic ``f``) is therefore ``conj(vjp(conj(w)))``, and gradients are
conjugated. Jacobians of complex inputs assume ``f`` is holomorphic; for a real ``x`` and a
complex ``f(x)``, reverse-mode rows are ``vjp(e_i) - 1j * vjp(1j * e_i)`` (a real-input
``vjp`` keeps only the real part).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from ..._array import in_x64, x64_switch
from .._base import (
    DerivativePlan,
    GradientPlan,
    JacobianPlan,
    PullbackPlan,
    PushforwardPlan,
)
from .io import io_for
from .plan import JAXPlan, Never, Setup
from .trace import call_traced, jit, nested, pull_basis, push_basis

__all__ = [
    "JAXDerivative",
    "JAXGradientForward",
    "JAXGradientReverse",
    "JAXJacobianForward",
    "JAXJacobianReverse",
    "JAXPullback",
    "JAXPullbackSamePoint",
    "JAXPushforward",
    "JAXPushforwardSamePoint",
    "SamePointPlan",
    "cast",
]


#: JAX's thread-local 64-bit state (``X64.value`` reads it), resolved once for the process.
X64: Any = x64_switch()


def cast(a: Any, dtype: Any) -> Any:
    """``a`` in ``dtype`` (inside a trace; no operation when it already is)."""
    return a if a.dtype == dtype else a.astype(dtype)


def _result(value: bool, y: Any, d: Any, y_dtype: Any, s: Setup) -> Any:
    """What a first-order program returns: ``d`` alone, or ``(y, d)`` (``y`` laid out as
    ``f(x)`` is over its devices)."""
    return (s.like(cast(y, y_dtype), "y"), d) if value else d


class JAXPushforward(JAXPlan, PushforwardPlan):
    """``vmap`` of ``jax.jvp`` over the stacked tangents (the primal is computed once)."""

    lead = 2
    run = JAXPlan.run_seeds  # type: ignore[assignment]  # same signature, tangents named seeds

    def build(self, s: Setup, *, value: bool) -> Callable[..., Any]:
        g, y_dtype = s.g, s.y_dtype

        def pushforward(x: Any, tx: Any, *dyn: Any) -> Any:
            def h(x: Any) -> Any:
                return g(x, *dyn)

            y, ty = jax.vmap(lambda t: jax.jvp(h, (x,), (t,)), out_axes=(None, 0))(tx)
            return _result(value, y, s.like(cast(ty, y_dtype), "y"), y_dtype, s)

        return pushforward


def _pullback_of(s: Setup, pb: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The library's pullback ``conj(vjp(conj(w)))`` from JAX's ``vjp`` function ``pb``."""
    x_complex, y_complex, x_dtype = s.x_complex, s.y_complex, s.x_dtype

    def pullback(w: Any) -> Any:
        tx = pb(jnp.conj(w) if y_complex else w)[0]
        return cast(jnp.conj(tx) if x_complex else tx, x_dtype)

    return pullback


class JAXPullback(JAXPlan, PullbackPlan):
    """One ``jax.vjp`` and a ``vmap`` of its pullback over the stacked cotangents."""

    lead = 2
    run = JAXPlan.run_seeds  # type: ignore[assignment]  # same signature, tangents named seeds

    def build(self, s: Setup, *, value: bool) -> Callable[..., Any]:
        g, y_dtype = s.g, s.y_dtype

        def pullback(x: Any, ty: Any, *dyn: Any) -> Any:
            y, pb = jax.vjp(lambda x: g(x, *dyn), x)
            tx = s.like(jax.vmap(_pullback_of(s, pb))(cast(ty, y.dtype)), "x")
            return _result(value, y, tx, y_dtype, s)

        return pullback


class SamePointPlan(JAXPlan):
    """Base of same-point plans: the point's linearization is computed at preparation.

    The jitted program takes only the tangents; ``x`` and the contexts are those of the
    preparation (which strict preps check at every call), and the value (or gradient) at
    the point is kept from preparation.
    """

    lead = 2
    run = JAXPlan.run_seeds

    def __init__(self, s: Setup) -> None:
        self.op, self.io, self.x_type, self.x64 = s.op, s.io, s.x_type, s.x64
        self.layout, self.nones, self.back1 = s.layout, (None,), None
        self.direct_type, self.check_x64 = Never, s.x64  # the program takes tangents only
        jdyn = s.jdyn

        def h(x: Any) -> Any:
            return s.g(x, *jdyn)

        # ``h`` is jitted without options: JAX refuses them on a jit that linearize nests.
        self.point_value, linear = self.linearize(s, jax.jit(h))
        linear_program = self.build_linear(s, linear)
        self.plain = self.with_value = jit(linear_program, 1, None, s.sharding, s.options)
        self.plain(s.jseeds)

    def linearize(self, s: Setup, h: Callable[[Any], Any]) -> tuple[Any, Any]:
        """``(value at the point, linear map)``, computed once."""
        raise NotImplementedError

    def build_linear(self, s: Setup, linear: Any) -> Callable[[Any], Any]:
        """``fun(seeds) -> results`` from the linear map."""
        raise NotImplementedError

    def execute(
        self, value: bool, x: Any, lead: tuple[Any, ...], args: tuple[Any, ...], one: bool = False
    ) -> Any:
        # ``one`` never holds: same-point plans keep their stacked program (``single`` is off)
        if self.x64 and not X64.value:
            return in_x64(self.execute, value, x, lead, args)
        io = self.io if type(x) is self.x_type else io_for(x)
        seeds = lead[1] if io.identity else io.put(lead[1])
        try:
            results = self.plain(seeds)
        except ValueError as err:  # called inside a trace: the option-free twin
            results = nested(self.plain, err)(seeds)
        return io.back((self.point_value if value else None, results), x)


class JAXPushforwardSamePoint(SamePointPlan, PushforwardPlan):
    """``jax.linearize`` at preparation; calls ``vmap`` the linear map over the tangents."""

    def linearize(self, s: Setup, h: Callable[[Any], Any]) -> tuple[Any, Any]:
        y, lin = call_traced(s.op, jax.linearize, h, s.jx)
        return cast(y, s.y_dtype), lin

    def build_linear(self, s: Setup, linear: Any) -> Callable[[Any], Any]:
        y_dtype = s.y_dtype
        return lambda tx: s.like(cast(jax.vmap(linear)(tx), y_dtype), "y")


class JAXPullbackSamePoint(SamePointPlan, PullbackPlan):
    """``jax.vjp`` at preparation (the forward pass is kept); calls ``vmap`` the pullback."""

    def linearize(self, s: Setup, h: Callable[[Any], Any]) -> tuple[Any, Any]:
        y, pb = call_traced(s.op, jax.vjp, h, s.jx)
        return cast(y, s.y_dtype), pb

    def build_linear(self, s: Setup, linear: Any) -> Callable[[Any], Any]:
        pullback = jax.vmap(_pullback_of(s, linear))
        return lambda ty: s.like(pullback(ty), "x")


class JAXDerivative(JAXPlan, DerivativePlan):
    """``jax.jvp`` along the tangent 1 (one forward pass, whatever the mode)."""

    run = JAXPlan.run_x

    def build(self, s: Setup, *, value: bool) -> Callable[..., Any]:
        g, y_dtype = s.g, s.y_dtype

        def derivative(x: Any, *dyn: Any) -> Any:
            y, der = jax.jvp(lambda x: g(x, *dyn), (x,), (jnp.ones_like(x),))
            return _result(value, y, s.like(cast(der, y_dtype), "y"), y_dtype, s)

        return derivative


class JAXGradientReverse(JAXPlan, GradientPlan):
    """``jax.grad`` (or ``jax.value_and_grad``), conjugated for complex ``x``."""

    run = JAXPlan.run_x

    def build(self, s: Setup, *, value: bool) -> Callable[..., Any]:
        g, x_dtype, y_dtype, x_complex = s.g, s.x_dtype, s.y_dtype, s.x_complex

        def gradient(x: Any, *dyn: Any) -> Any:
            def h(x: Any) -> Any:
                return g(x, *dyn)

            if value:
                y, grad = jax.value_and_grad(h)(x)
            else:
                y, grad = None, jax.grad(h)(x)
            grad = s.like(cast(jnp.conj(grad) if x_complex else grad, x_dtype), "x")
            return _result(value, y, grad, y_dtype, s)

        return gradient


class JAXGradientForward(JAXPlan, GradientPlan):
    """Pushforwards of the basis of ``x`` (and ``1j`` times it for complex ``x``), batched."""

    run = JAXPlan.run_x

    def build(self, s: Setup, *, value: bool) -> Callable[..., Any]:
        g, n, batch = s.g, s.n, s.batch
        x_shape, x_dtype, y_dtype, x_complex = s.x_shape, s.x_dtype, s.y_dtype, s.x_complex

        def gradient(x: Any, *dyn: Any) -> Any:
            def h(x: Any) -> Any:
                return g(x, *dyn)

            y, d = push_basis(h, x, x_shape, x_dtype, batch, 0, imaginary=x_complex)
            if x_complex:  # df/dRe x + 1j df/dIm x
                d = d[:n].astype(x_dtype) + d[n:].astype(x_dtype) * 1j
            d = s.like(cast(jnp.reshape(d, x_shape), x_dtype), "x")
            return _result(value, y, d, y_dtype, s)

        return gradient


class JAXJacobianForward(JAXPlan, JacobianPlan):
    """Columns by pushforwards of the basis of ``x`` (``jax.jacfwd``'s layout), batched."""

    run = JAXPlan.run_x

    def build(self, s: Setup, *, value: bool) -> Callable[..., Any]:
        g, n, m, batch = s.g, s.n, s.m, s.batch
        x_shape, x_dtype, y_dtype, jac_dtype = s.x_shape, s.x_dtype, s.y_dtype, s.jac_dtype

        def jacobian(x: Any, *dyn: Any) -> Any:
            y, columns = push_basis(lambda x: g(x, *dyn), x, x_shape, x_dtype, batch, -1)
            return _result(value, y, cast(jnp.reshape(columns, (m, n)), jac_dtype), y_dtype, s)

        return jacobian


class JAXJacobianReverse(JAXPlan, JacobianPlan):
    """Rows by pullbacks of the basis of ``f(x)`` (``jax.jacrev``'s layout), batched."""

    run = JAXPlan.run_x
    # XLA's classic emitters (trace.CPU_DEFAULTS) ran this program slower than XLA's
    # default ones, the more so the larger n (benchmarks/bench_jax_compiler_options.py;
    # figures in docs/backends/jax.md): the one-hot cotangents are fused into the
    # transposed program. The forward Jacobian ran faster with them. So the reverse
    # Jacobian keeps JAX's defaults.
    cpu_defaults = False

    def build(self, s: Setup, *, value: bool) -> Callable[..., Any]:
        g, n, m, batch = s.g, s.n, s.m, s.batch
        y_shape, y_dtype, jac_dtype = s.y_shape, s.y_dtype, s.jac_dtype
        # Real x, complex y: a real-input vjp keeps the real part, so use e_i and 1j * e_i.
        two_seeds = s.y_complex and not s.x_complex

        def jacobian(x: Any, *dyn: Any) -> Any:
            y, pb = jax.vjp(lambda x: g(x, *dyn), x)
            rows = pull_basis(lambda w: pb(w)[0], y_shape, y.dtype, batch, imaginary=two_seeds)
            rows = jnp.reshape(rows, (rows.shape[0], n))
            if two_seeds:
                rows = rows[:m].astype(jac_dtype) - rows[m:].astype(jac_dtype) * 1j
            return _result(value, y, cast(rows, jac_dtype), y_dtype, s)

        return jacobian

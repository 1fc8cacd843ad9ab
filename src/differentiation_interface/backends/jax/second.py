"""Second-order JAX plans: forward over reverse (``jvp`` of the gradient), jitted, batched.

Every ``AutoJAX`` backend computes second order the way
``SecondOrder(AutoJAX(mode="forward"), AutoJAX())`` describes it, in one jitted function:

* ``hvp``: ``vmap`` over the tangents of ``jax.jvp`` of the gradient; same-point
  preparations ``jax.linearize`` the gradient once;
* ``hessian``: ``jax.hessian``'s ``jacfwd(jacrev)``: ``jvp`` of the gradient over the basis
  of ``x``, with ``jacfwd``'s layout, chunked with ``lax.map`` beyond the memory bound.

The gradient differentiated here is ``jax.jacrev``'s (see ``_gradient`` for why not
``jax.grad``).
* ``second_derivative``: ``jvp`` of ``jvp`` along the tangent 1.

For complex ``x`` the Hessian-vector product is the directional derivative of the library's
gradient (``df/dRe x + 1j df/dIm x``), that is the conjugate of JAX's; a complex ``hessian``
is refused, as by the generic implementation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from ...errors import UnsupportedOperationError
from .._base import HessianPlan, HVPPlan, SecondDerivativePlan
from .first import SamePointPlan, cast
from .plan import JAXPlan, Setup
from .trace import call_traced, push_basis

__all__ = ["JAXHVP", "JAXHVPSamePoint", "JAXHessian", "JAXSecondDerivative"]


class JAXSecondDerivative(JAXPlan, SecondDerivativePlan):
    """``jax.jvp`` of ``jax.jvp`` along 1: value, derivative and second derivative at once."""

    slots = 3
    run = JAXPlan.run_x

    def build(self, s: Setup, *, value: bool) -> Callable[..., Any]:
        g, y_dtype = s.g, s.y_dtype

        def second_derivative(x: Any, *dyn: Any) -> Any:
            one = jnp.ones_like(x)

            def derivative(x: Any) -> Any:
                y, der = jax.jvp(lambda x: g(x, *dyn), (x,), (one,))
                return der, y

            der, der2, y = jax.jvp(derivative, (x,), (one,), has_aux=True)
            der2 = s.like(cast(der2, y_dtype), "y")
            if not value:
                return der2
            return s.like(cast(y, y_dtype), "y"), s.like(cast(der, y_dtype), "y"), der2

        return second_derivative


def _conj_if(flag: bool, a: Any) -> Any:
    return jnp.conj(a) if flag else a


def _gradient(h: Callable[[Any], Any], complex_x: bool) -> Callable[[Any], Any]:
    """JAX's gradient of a real scalar ``h``, to be differentiated once more.

    ``jax.jacrev`` rather than ``jax.grad`` (its size-1 ``vmap`` lets XLA keep batched
    products as products when the result is pushed forward along many directions:
    ``jacfwd(grad)`` was several times slower than ``jax.hessian``, i.e. ``jacfwd(jacrev)``, on
    ``f = sum(tanh(outer(x, x)))``); ``jacrev`` refuses complex inputs, so those keep ``grad``.
    """
    return jax.grad(h) if complex_x else jax.jacrev(h)


class JAXHVP(JAXPlan, HVPPlan):
    """``vmap`` over the tangents of ``jax.jvp`` of the gradient (computed once)."""

    lead = 2
    run = JAXPlan.run_seeds  # type: ignore[assignment]  # same signature, tangents named seeds

    def build(self, s: Setup, *, value: bool) -> Callable[..., Any]:
        g, x_dtype, conj = s.g, s.x_dtype, s.x_complex

        def hvp(x: Any, tx: Any, *dyn: Any) -> Any:
            grad = _gradient(lambda x: g(x, *dyn), conj)
            gx, tg = jax.vmap(lambda t: jax.jvp(grad, (x,), (t,)), out_axes=(None, 0))(tx)
            tg = s.like(cast(_conj_if(conj, tg), x_dtype), "x")
            return (s.like(cast(_conj_if(conj, gx), x_dtype), "x"), tg) if value else tg

        return hvp


class JAXHVPSamePoint(SamePointPlan, HVPPlan):
    """``jax.linearize`` of the gradient at preparation; calls ``vmap`` the linear map."""

    def linearize(self, s: Setup, h: Callable[[Any], Any]) -> tuple[Any, Any]:
        gradient = jax.jit(_gradient(h, s.x_complex))
        grad, lin = call_traced(s.op, jax.linearize, gradient, s.jx)
        return cast(_conj_if(s.x_complex, grad), s.x_dtype), lin

    def build_linear(self, s: Setup, linear: Any) -> Callable[[Any], Any]:
        x_dtype, conj = s.x_dtype, s.x_complex
        return lambda tx: s.like(cast(_conj_if(conj, jax.vmap(linear)(tx)), x_dtype), "x")


class JAXHessian(JAXPlan, HessianPlan):
    """``jvp`` of ``grad`` over the basis of ``x``: ``jax.hessian``, in one jitted call."""

    slots = 3
    run = JAXPlan.run_x

    def __init__(self, s: Setup) -> None:
        if s.x_complex:
            msg = (
                "`hessian` of a function of a complex x is not defined as a complex matrix; "
                "use `hvp` (real-linear in the tangent), or differentiate with respect to "
                "the real and imaginary parts stacked in a real array."
            )
            raise UnsupportedOperationError(msg)
        super().__init__(s)

    def build(self, s: Setup, *, value: bool) -> Callable[..., Any]:
        g, n, batch = s.g, s.n, s.batch
        x_shape, x_dtype, y_dtype = s.x_shape, s.x_dtype, s.y_dtype

        def hessian(x: Any, *dyn: Any) -> Any:
            def h(x: Any) -> Any:
                return g(x, *dyn)

            gradient = _gradient(h, complex_x=False)  # jax.hessian's jacfwd(jacrev)
            gx, columns = push_basis(gradient, x, x_shape, x_dtype, batch, -1)
            hess = cast(jnp.reshape(columns, (n, n)), x_dtype)
            if not value:
                return hess
            return s.like(cast(h(x), y_dtype), "y"), s.like(cast(gx, x_dtype), "x"), hess

        return hessian

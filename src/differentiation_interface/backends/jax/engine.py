"""The JAX engine behind ``AutoJAX(mode="reverse" | "forward")``.

Every operator has a native plan, jitted at preparation (:mod:`.plan`):

========================  =====================================================================
operator                  JAX computation
========================  =====================================================================
pushforward               ``vmap`` of ``jvp`` over the tangents (same point: ``linearize``)
pullback                  ``vjp`` + ``vmap`` of its pullback (same point: ``vjp`` kept)
derivative                ``jvp`` along 1
gradient                  reverse: ``grad``; forward: ``vmap`` of ``jvp`` over the basis
jacobian                  reverse: ``jacrev`` layout; forward: ``jacfwd`` layout
second_derivative         ``jvp`` of ``jvp``
hvp                       ``vmap`` of ``jvp`` of ``grad`` (same point: ``linearize`` of ``grad``)
hessian                   ``jvp`` of ``grad`` over the basis (``jax.hessian``)
========================  =====================================================================

This package (:mod:`differentiation_interface.backends.jax`) is the only one importing JAX;
it is loaded on the first use of an ``AutoJAX`` selector. The engine never touches JAX's global
``jax_enable_x64`` flag: 64-bit inputs are computed inside ``jax.enable_x64(True)``, which is
thread-local, and ``jax.jit`` keys its caches on that setting. Programs are compiled with the
selector's ``compiler_options``, by default XLA's classic CPU emitters
(``trace.CPU_DEFAULTS``: they compile faster than XLA's default emitters).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from ...adtypes import AutoJAX
from .._base import (
    DerivativePlan,
    Engine,
    Fn,
    GradientPlan,
    HessianPlan,
    HVPPlan,
    JacobianPlan,
    LeavesGradientPlan,
    PullbackPlan,
    PushforwardPlan,
    SecondDerivativePlan,
)
from .first import (
    JAXDerivative,
    JAXGradientForward,
    JAXGradientReverse,
    JAXJacobianForward,
    JAXJacobianReverse,
    JAXPullback,
    JAXPullbackSamePoint,
    JAXPushforward,
    JAXPushforwardSamePoint,
)
from .plan import prepare
from .second import JAXHVP, JAXHessian, JAXHVPSamePoint, JAXSecondDerivative
from .tree import leaves_gradient

__all__ = ["JAXEngine"]


class JAXEngine(Engine):
    """JAX, with every operator native and jitted.

    ``forward`` and ``reverse`` follow the selector's mode: they decide how the gradient and
    the Jacobian are computed here, and which composition the generic second-order code picks
    when this engine is one half of a ``SecondOrder`` selector.
    """

    backend: AutoJAX
    traces = True  # jit bakes in what f reads besides its arguments
    shards = True  # programs compile for the shardings of x and f(x) (plan.Setup.like)

    def __init__(self, backend: AutoJAX) -> None:
        super().__init__(backend)
        self.forward = backend.mode == "forward"  # type: ignore[misc]
        self.reverse = not self.forward  # type: ignore[misc]

    def compile(
        self, program: Callable[[Any], Any], example: Any = None
    ) -> Callable[[Any], Any] | None:
        """``jax.jit(program)`` (with JAX's own compiler options), compiled on ``example``."""
        jitted = jax.jit(program)
        if example is not None:
            try:
                jax.block_until_ready(jitted(example))  # type: ignore[no-untyped-call]
            except Exception:  # noqa: BLE001 - any tracing failure means "not compilable"
                return None
        return jitted

    def prepare_pushforward(
        self, fn: Fn, x: Any, tx: Any, *, y: Any, same_point: bool
    ) -> PushforwardPlan:
        plan = JAXPushforwardSamePoint if same_point else JAXPushforward
        return prepare(plan, self, "pushforward", fn, x, tx, y)  # type: ignore[no-any-return]

    def prepare_pullback(
        self, fn: Fn, x: Any, ty: Any, *, y: Any, same_point: bool
    ) -> PullbackPlan:
        plan = JAXPullbackSamePoint if same_point else JAXPullback
        return prepare(plan, self, "pullback", fn, x, ty, y)  # type: ignore[no-any-return]

    def prepare_derivative(self, fn: Fn, x: Any, *, y: Any) -> DerivativePlan:
        return prepare(JAXDerivative, self, "derivative", fn, x, None, y)  # type: ignore[no-any-return]

    def prepare_gradient(self, fn: Fn, x: Any, *, y: Any) -> GradientPlan:
        plan = JAXGradientForward if self.forward else JAXGradientReverse
        return prepare(plan, self, "gradient", fn, x, None, y)  # type: ignore[no-any-return]

    def prepare_leaves_gradient(
        self,
        f: Callable[..., Any],
        leaves: list[Any],
        rebuild: Callable[[list[Any]], Any],
        args: tuple[Any, ...],
        y: Any,
    ) -> LeavesGradientPlan | None:
        return leaves_gradient(f, leaves, rebuild, args, y)

    def prepare_jacobian(self, fn: Fn, x: Any, *, y: Any) -> JacobianPlan:
        plan = JAXJacobianForward if self.forward else JAXJacobianReverse
        return prepare(plan, self, "jacobian", fn, x, None, y)  # type: ignore[no-any-return]

    def prepare_second_derivative(self, fn: Fn, x: Any, *, y: Any) -> SecondDerivativePlan:
        return prepare(JAXSecondDerivative, self, "second_derivative", fn, x, None, y)  # type: ignore[no-any-return]

    def prepare_hvp(self, fn: Fn, x: Any, tx: Any, *, y: Any, same_point: bool) -> HVPPlan:
        plan = JAXHVPSamePoint if same_point else JAXHVP
        return prepare(plan, self, "hvp", fn, x, tx, y)  # type: ignore[no-any-return]

    def prepare_hessian(self, fn: Fn, x: Any, *, y: Any) -> HessianPlan:
        return prepare(JAXHessian, self, "hessian", fn, x, None, y)  # type: ignore[no-any-return]

"""HIPS autograd: the engine behind ``AutoAutograd``.

autograd is a reverse-mode engine over numpy (with forward-mode rules for most primitives).
Every operator has a native plan here; none goes through the generic fallbacks:

==================  ===========================================================================
operator            how
==================  ===========================================================================
pullback            one reverse trace, one backward pass per cotangent (``make_vjp``)
gradient            one reverse trace, one backward pass (``grad``), without ``grad``'s wrapping
jacobian            rows by backward passes after one trace; columns by ``make_jvp`` if fewer
pushforward         ``make_jvp`` per tangent; the transposed pullback where forward rules miss
derivative          pushforward of the tangent 1
hvp, hessian        reverse over reverse: the traced gradient, one backward pass per tangent
second_derivative   forward over forward (nested ``make_jvp``), transposed pullbacks otherwise
==================  ===========================================================================

Arrays of other namespaces are converted to numpy and back (:mod:`.io`); ``f``
sees an Array-API namespace with working ``linalg`` and ``fft`` (:mod:`.namespace`,
scoped to the engine's own calls by :mod:`.trace`). Two-argument functions are not
supported (autograd cannot differentiate through mutation).

Thread safety: plans hold read-only data only (seeds, bases, same-point graphs), and every
trace gets a level of its own, so preparations can be shared by threads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...adtypes import AutoAutograd
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
    AutogradDerivative,
    AutogradGradient,
    AutogradJacobian,
    AutogradPullback,
    AutogradPushforward,
)
from .io import check_dtype
from .second import AutogradHessian, AutogradHVP, AutogradSecondDerivative
from .tree import leaves_gradient

__all__ = ["AutogradEngine"]


def _check(op: str, x: Any, y: Any) -> None:
    """Reject the dtypes autograd cannot handle before converting anything."""
    check_dtype(op, "x", x.dtype)
    check_dtype(op, "the output f(x)", y.dtype)


class AutogradEngine(Engine):
    """HIPS autograd; reverse mode, with native plans for every operator.

    ``forward`` is ``False`` because autograd's forward mode lacks rules for ``linalg`` and
    ``fft`` primitives: second-order compositions (``SecondOrder``) then pick reverse over
    reverse, which autograd supports for everything it differentiates at all. The native
    pushforward still uses ``make_jvp`` where the rules exist.
    """

    forward = False
    reverse = True

    backend: AutoAutograd

    def prepare_pushforward(
        self, fn: Fn, x: Any, tx: Any, *, y: Any, same_point: bool
    ) -> PushforwardPlan:
        _check("pushforward", x, y)
        return AutogradPushforward(fn, x, tx, y)

    def prepare_pullback(
        self, fn: Fn, x: Any, ty: Any, *, y: Any, same_point: bool
    ) -> PullbackPlan:
        _check("pullback", x, y)
        return AutogradPullback(fn, x, ty, y, same_point=same_point)

    def prepare_derivative(self, fn: Fn, x: Any, *, y: Any) -> DerivativePlan:
        _check("derivative", x, y)
        return AutogradDerivative(fn, x, y)

    def prepare_gradient(self, fn: Fn, x: Any, *, y: Any) -> GradientPlan:
        _check("gradient", x, y)
        return AutogradGradient(fn, x, y)

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
        _check("jacobian", x, y)
        return AutogradJacobian(fn, x, y)

    def prepare_second_derivative(self, fn: Fn, x: Any, *, y: Any) -> SecondDerivativePlan:
        _check("second_derivative", x, y)
        return AutogradSecondDerivative(fn, x, y)

    def prepare_hvp(self, fn: Fn, x: Any, tx: Any, *, y: Any, same_point: bool) -> HVPPlan:
        _check("hvp", x, y)
        return AutogradHVP(fn, x, tx, y, same_point=same_point)

    def prepare_hessian(self, fn: Fn, x: Any, *, y: Any) -> HessianPlan:
        _check("hessian", x, y)
        return AutogradHessian(fn, x, y)

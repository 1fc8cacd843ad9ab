"""The finite-difference engine: which plan serves each operator."""

from __future__ import annotations

from typing import Any, ClassVar

from ..._array import is_dtensor
from ...adtypes import AutoFiniteDiff
from ...errors import UnsupportedOperationError
from .._base import (
    Engine,
    Fn,
    GradientPlan,
    HessianPlan,
    HVPPlan,
    JacobianPlan,
    PullbackPlan,
    PushforwardPlan,
    SecondDerivativePlan,
)
from .first import FiniteDiffGradient, FiniteDiffJacobian, FiniteDiffPushforward

__all__ = ["FiniteDiffEngine"]


class FiniteDiffEngine(Engine):
    """Finite differences; forward mode (one pair of evaluations per direction)."""

    forward = True
    reverse = False
    native_only_for: ClassVar[dict[str, str]] = {"pullback": "a torch DTensor x"}

    backend: AutoFiniteDiff

    def max_batch(self, size: int, like: Any = None) -> int:
        # Central differences evaluate two points per direction; keep the stack bounded.
        return max(1, super().max_batch(size, like) // 2)

    def prepare_pushforward(
        self, fn: Fn, x: Any, tx: Any, *, y: Any, same_point: bool
    ) -> PushforwardPlan:
        return FiniteDiffPushforward(self.backend, fn, x, y)

    def prepare_gradient(self, fn: Fn, x: Any, *, y: Any) -> GradientPlan:
        return FiniteDiffGradient(self.backend, fn, x, y)

    def prepare_jacobian(self, fn: Fn, x: Any, *, y: Any) -> JacobianPlan:
        return FiniteDiffJacobian(self.backend, fn, x, y)

    def prepare_second_derivative(self, fn: Fn, x: Any, *, y: Any) -> SecondDerivativePlan:
        from .second import FiniteDiffSecondDerivative

        return FiniteDiffSecondDerivative(self.backend, fn, x, y)

    def prepare_hvp(self, fn: Fn, x: Any, tx: Any, *, y: Any, same_point: bool) -> HVPPlan:
        from .second import FiniteDiffHVP

        return FiniteDiffHVP(self.backend, fn, x, y)

    def prepare_pullback(
        self, fn: Fn, x: Any, ty: Any, *, y: Any, same_point: bool
    ) -> PullbackPlan | None:
        if not is_dtensor(x):
            return None  # the generic fallback, from pushforwards
        from .first import FiniteDiffPullbackDTensor

        return FiniteDiffPullbackDTensor(self.backend, fn, x, y)

    def prepare_hessian(self, fn: Fn, x: Any, *, y: Any) -> HessianPlan:
        if is_dtensor(x):
            msg = (
                "`hessian` with AutoFiniteDiff() is not available for a torch DTensor x: its "
                "stencil indexes pairs of coordinates with index arrays the mesh does not cut "
                "(and costs 2 n**2 evaluations of f). Use di.hvp along the directions you "
                "need."
            )
            raise UnsupportedOperationError(msg)
        from .second import FiniteDiffHessian

        return FiniteDiffHessian(self.backend, fn, x, y)

"""The engine of :class:`~differentiation_interface.MixedMode`: two engines, one per side.

Its purpose is ``AutoSparse``'s bidirectional Jacobians (``sparse/_engine.py`` builds
their plan from the two engines); used directly, each operator goes to the side that does
it natively: pushforwards and derivatives to ``forward``, pullbacks, gradients and second
order to ``reverse``, Jacobians to the cheaper side (``forward`` when ``x`` has no more
elements than ``f(x)``).
"""

from __future__ import annotations

import math
from typing import Any

from ..backends import Engine, Fn, engine_for
from . import _dispatch

__all__ = ["MixedModeEngine"]


class MixedModeEngine(Engine):
    """Engine of ``MixedMode(forward, reverse)``."""

    forward = True
    reverse = True

    def __init__(self, backend: Any) -> None:
        super().__init__(backend)
        self.pushing = engine_for(backend.forward)
        self.pulling = engine_for(backend.reverse)
        self.traces = self.pushing.traces or self.pulling.traces
        self.point_local = self.pushing.point_local or self.pulling.point_local

    def max_batch(self, size: int, like: Any = None) -> int:
        return min(self.pushing.max_batch(size, like), self.pulling.max_batch(size, like))

    def prepare_pushforward(self, fn: Fn, x: Any, tx: Any, *, y: Any, same_point: bool) -> Any:
        return _dispatch.build_plan(
            "pushforward", self.pushing, fn, x, tx, y, same_point=same_point
        )

    def prepare_pullback(self, fn: Fn, x: Any, ty: Any, *, y: Any, same_point: bool) -> Any:
        return _dispatch.build_plan("pullback", self.pulling, fn, x, ty, y, same_point=same_point)

    def prepare_derivative(self, fn: Fn, x: Any, *, y: Any) -> Any:
        return _dispatch.build_plan("derivative", self.pushing, fn, x, None, y)

    def prepare_gradient(self, fn: Fn, x: Any, *, y: Any) -> Any:
        return _dispatch.build_plan("gradient", self.pulling, fn, x, None, y)

    def prepare_jacobian(self, fn: Fn, x: Any, *, y: Any) -> Any:
        side = self.pushing if math.prod(x.shape) <= math.prod(y.shape) else self.pulling
        return _dispatch.build_plan("jacobian", side, fn, x, None, y)

    def prepare_second_derivative(self, fn: Fn, x: Any, *, y: Any) -> Any:
        return _dispatch.build_plan("second_derivative", self.pulling, fn, x, None, y)

    def prepare_hvp(self, fn: Fn, x: Any, tx: Any, *, y: Any, same_point: bool) -> Any:
        return _dispatch.build_plan("hvp", self.pulling, fn, x, tx, y, same_point=same_point)

    def prepare_hessian(self, fn: Fn, x: Any, *, y: Any) -> Any:
        return _dispatch.build_plan("hessian", self.pulling, fn, x, None, y)

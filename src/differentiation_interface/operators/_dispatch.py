"""Pick a plan for an operator: the engine's native one if it has it, else a generic fallback."""

from __future__ import annotations

from typing import Any

from ..backends import Engine, Fn
from ..errors import UnsupportedOperationError

__all__ = ["build_plan"]


def build_plan(
    op: str,
    engine: Engine,
    fn: Fn,
    x: Any,
    seeds: Any,
    y: Any,
    *,
    same_point: bool = False,
) -> Any:
    """The plan computing ``op`` with ``engine`` for arguments like these.

    ``seeds`` are the stacked tangents (pushforward, hvp) or cotangents (pullback), else
    ``None``; ``y`` is ``f(x)`` evaluated once at preparation.
    """
    from . import _first_order as first
    from . import _second_order as second

    plan: Any
    if op == "pushforward":
        plan = engine.prepare_pushforward(fn, x, seeds, y=y, same_point=same_point)
        if plan is None:
            _require(engine, "reverse", op)
            plan = first.PushforwardViaPullback(engine, fn, x, seeds, y)
    elif op == "pullback":
        plan = engine.prepare_pullback(fn, x, seeds, y=y, same_point=same_point)
        if plan is None:
            _require(engine, "forward", op)
            plan = first.PullbackViaPushforward(engine, fn, x, seeds, y)
    elif op == "derivative":
        plan = engine.prepare_derivative(fn, x, y=y) or first.DerivativeViaPushforward(
            engine, fn, x, y
        )
    elif op == "gradient":
        plan = engine.prepare_gradient(fn, x, y=y) or first.GradientViaPullback(engine, fn, x, y)
    elif op == "jacobian":
        plan = engine.prepare_jacobian(fn, x, y=y) or first.jacobian_fallback(engine, fn, x, y)
    elif op == "second_derivative":
        plan = engine.prepare_second_derivative(fn, x, y=y) or second.SecondDerivativeNested(
            engine.outer, engine.inner, fn, x, y
        )
    elif op == "hvp":
        plan = engine.prepare_hvp(fn, x, seeds, y=y, same_point=same_point) or second.hvp_fallback(
            engine.outer, engine.inner, fn, x, seeds, y
        )
    elif op == "hessian":
        plan = engine.prepare_hessian(fn, x, y=y) or second.HessianViaHVP(
            engine.outer, engine.inner, fn, x, y
        )
    else:  # pragma: no cover - the operator table is closed
        msg = f"unknown operator {op!r}"
        raise ValueError(msg)
    return plan


def _require(engine: Engine, mode: str, op: str) -> None:
    """A fallback needs the other primitive; an engine must implement at least one."""
    if not getattr(engine, mode):
        msg = (
            f"{engine!r} implements neither a native {op} nor the {mode}-mode primitive "
            f"it can be derived from."
        )
        raise UnsupportedOperationError(msg)

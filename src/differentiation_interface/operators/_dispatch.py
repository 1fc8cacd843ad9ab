"""Pick a plan for an operator: the engine's native one if it has it, else the generic fallback
named in the operator table."""

from __future__ import annotations

from typing import Any

from ..backends import Engine, Fn
from ..errors import UnsupportedOperationError
from . import _table  # a module reference: the table's fallbacks build their inner plans here

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
    spec = _table.OPERATORS[op]
    hook = getattr(engine, spec.hook)
    plan = hook(fn, x, seeds, y=y, same_point=same_point) if spec.tangents else hook(fn, x, y=y)
    if plan is not None:
        return plan
    if spec.needs is not None and not getattr(engine, spec.needs):
        msg = (
            f"{engine!r} implements neither a native {op} nor the {spec.needs}-mode primitive "
            f"it can be derived from."
        )
        raise UnsupportedOperationError(msg)
    return spec.fallback(engine, fn, x, seeds, y)

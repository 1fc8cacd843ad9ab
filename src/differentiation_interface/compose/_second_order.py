"""Cross-engine ``SecondOrder(outer, inner)``: ``outer`` differentiates ``f`` twice, and
every derivative of ``f`` it asks for is computed by ``inner`` through a bridge.

``operators/_second_order.py`` loads this module by name (the operators layer sits below
``compose``), like the registry loads engines.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from .._array import differentiated_by
from ..adtypes import AbstractBackend
from ..contexts import Context
from ._api import bridge
from ._rules import Rules

__all__ = ["bridged"]


def bridged(
    f: Callable[..., Any],
    inner: AbstractBackend,
    xp: ModuleType,
    device: Any,
    context_kinds: tuple[type[Context], ...],
) -> Callable[..., Any]:
    """``f(x, *ctx)`` as seen by an outer engine, with ``inner`` computing its derivatives.

    ``f`` is written against the Array API, so arrays the outer engine is not
    differentiating go to ``f`` as they are; the others cross into the caller's namespace
    ``xp`` on ``device``, where ``inner`` differentiates ``f``.
    """
    rules = Rules(f, inner, xp, context_kinds, device=device)

    def through_inner(x: Any, *ctx: Any) -> Any:
        owner = differentiated_by(x)
        if owner is None:
            return f(x, *ctx)
        return bridge(owner, rules, x, ctx)

    return through_inner

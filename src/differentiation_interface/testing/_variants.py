"""Every way to call an operator, as data: the function, its arguments and its references.

A *variant* is one public function (plain or value-and), with or without ``out=``, given a
preparation made at the scenario's point, at another point, or none. This module builds the
calls and the expected results so that :mod:`._checks` only has to compare.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import operators as ops
from .._array import is_array, namespace_of, precision_scope
from ..contexts import Cache, Constant, Context
from .scenarios import Scenario

__all__ = ["OPERATORS", "OperatorFunctions", "expected", "perturbed", "zeros_like_result"]


@dataclass(frozen=True)
class OperatorFunctions:
    """The public functions of one operator."""

    prepare: Callable[..., Any]
    plain: Callable[..., Any]
    value: Callable[..., Any]
    same_point: Callable[..., Any] | None = None
    tangents: bool = False
    inplace: bool = False


OPERATORS = {
    "pushforward": OperatorFunctions(
        ops.prepare_pushforward,
        ops.pushforward,
        ops.value_and_pushforward,
        ops.prepare_pushforward_same_point,
        tangents=True,
        inplace=True,
    ),
    "pullback": OperatorFunctions(
        ops.prepare_pullback,
        ops.pullback,
        ops.value_and_pullback,
        ops.prepare_pullback_same_point,
        tangents=True,
        inplace=True,
    ),
    "derivative": OperatorFunctions(
        ops.prepare_derivative, ops.derivative, ops.value_and_derivative, inplace=True
    ),
    "gradient": OperatorFunctions(ops.prepare_gradient, ops.gradient, ops.value_and_gradient),
    "jacobian": OperatorFunctions(
        ops.prepare_jacobian, ops.jacobian, ops.value_and_jacobian, inplace=True
    ),
    "second_derivative": OperatorFunctions(
        ops.prepare_second_derivative,
        ops.second_derivative,
        ops.value_derivative_and_second_derivative,
    ),
    "hvp": OperatorFunctions(
        ops.prepare_hvp,
        ops.hvp,
        ops.gradient_and_hvp,
        ops.prepare_hvp_same_point,
        tangents=True,
    ),
    "hessian": OperatorFunctions(ops.prepare_hessian, ops.hessian, ops.value_gradient_and_hessian),
}

_SECOND_ORDER = ("second_derivative", "hvp", "hessian")


def primal(s: Scenario) -> Any:
    """``f(x)`` computed directly by the scenario's function (the value reference)."""
    args = tuple(c.value for c in s.contexts)
    with precision_scope(namespace_of(s.x), s.x):
        if s.y is None:
            return s.f(s.x, *args)
        buffer = namespace_of(s.y).asarray(s.y, copy=True)
        s.f(buffer, s.x, *args)
        return buffer


def expected(s: Scenario, *, value: bool) -> tuple[Any, ...]:
    """The reference results of a variant, in the order the variant returns them.

    ``None`` marks a result without a reference (it is then only checked for its kind).
    """
    if s.operator in _SECOND_ORDER:
        if not value:
            return (s.res2,)
        if s.operator == "hvp":
            return (s.res1, s.res2)
        return (primal(s), s.res1, s.res2)
    if not value:
        return (s.res1,)
    return (primal(s), s.res1)


def _scaled(a: Any, factor: float, shift: float) -> Any:
    if is_array(a):
        return a * factor + shift
    return a


def perturbed(s: Scenario) -> tuple[Any, tuple[Any, ...] | None, tuple[Context, ...]]:
    """Another point, other tangents and other context values, with the same kinds.

    Preparing with them and calling at the scenario's point is what "reusing a prep"
    means; a backend that baked the preparation's values in fails the comparison.
    """
    with precision_scope(namespace_of(s.x), s.x):  # JAX float64 stays float64
        x = _scaled(s.x, 0.5, 0.25)
        tangents = None if s.tangents is None else tuple(_scaled(t, 2.0, 0.5) for t in s.tangents)
        contexts: list[Context] = []
        for c in s.contexts:
            if isinstance(c, Constant):
                contexts.append(Constant(_scaled(c.value, 1.5, 0.0)))
            elif isinstance(c, Cache) and is_array(c.value):
                contexts.append(Cache(namespace_of(c.value).asarray(c.value, copy=True)))
            else:
                contexts.append(c)
    return x, tangents, tuple(contexts)


def zeros_like_result(result: Any) -> Any:
    """Writable zero buffers shaped like a result (tuples mirrored), for ``out=``."""
    if isinstance(result, tuple):
        return tuple(zeros_like_result(r) for r in result)
    xp = namespace_of(result)
    with precision_scope(xp, result):
        return xp.zeros_like(result)

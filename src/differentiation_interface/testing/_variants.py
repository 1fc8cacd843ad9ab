"""Every way to call an operator, as data: the function, its arguments and its references.

A *variant* is one public function (plain or value-and), with or without ``out=``, given a
preparation made at the scenario's point, at another point, or none. This module builds the
calls and the expected results so that :mod:`._checks` only has to compare.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import operators as ops
from .._array import namespace_of, precision_scope
from ..contexts import Cache, Constant, Context
from ..operators._table import OPERATORS, OperatorSpec
from ._leaves import array_leaves, map_leaves
from .scenarios import Scenario

__all__ = [
    "FUNCTIONS",
    "OperatorFunctions",
    "copy_tree",
    "expected",
    "perturbed",
    "precision",
    "primal",
    "zeros_like_result",
]


@dataclass(frozen=True)
class OperatorFunctions:
    """The public functions of one operator, with the facts the checks need."""

    spec: OperatorSpec
    prepare: Callable[..., Any]
    plain: Callable[..., Any]
    value: Callable[..., Any]
    same_point: Callable[..., Any] | None

    @property
    def tangents(self) -> bool:
        """Whether the functions take tangents (or cotangents) after ``x``."""
        return self.spec.tangents

    @property
    def inplace(self) -> bool:
        """Whether the functions accept two-argument functions through ``y=``."""
        return self.spec.inplace


def _functions(spec: OperatorSpec) -> OperatorFunctions:
    same_point = spec.prepare_same_point
    return OperatorFunctions(
        spec,
        getattr(ops, spec.prepare),
        getattr(ops, spec.name),
        getattr(ops, spec.value_and),
        None if same_point is None else getattr(ops, same_point),
    )


#: The public functions of every operator of the operator table, by operator name.
FUNCTIONS = {name: _functions(spec) for name, spec in OPERATORS.items()}


def precision(s: Scenario) -> Any:
    """The precision scope of work on the scenario's arrays: JAX's 64-bit mode when ``x`` has
    a 64-bit leaf (so that JAX float64 stays float64), else nothing."""
    found = array_leaves(s.x, "x")
    if found is None or not found[0]:
        return contextlib.nullcontext()
    leaves = found[0]
    return precision_scope(namespace_of(leaves[0]), *leaves)


def copy_tree(tree: Any) -> Any:
    """A copy of every leaf of a tree (an array is a one-leaf tree), same structure."""

    def copy(a: Any) -> Any:
        with precision_scope(namespace_of(a), a):
            return namespace_of(a).asarray(a, copy=True)

    return map_leaves(copy, tree)


def primal(s: Scenario) -> Any:
    """``f(x)`` computed directly by the scenario's function (the value reference)."""
    args = tuple(c.value for c in s.contexts)
    with precision(s):
        if s.y is None:
            return s.f(s.x, *args)
        buffer = copy_tree(s.y)
        s.f(buffer, s.x, *args)
        return buffer


def expected(s: Scenario, *, value: bool) -> tuple[Any, ...]:
    """The reference results of a variant, in the order the variant returns them.

    ``None`` marks a result without a reference (it is then only checked for its kind).
    """
    spec = OPERATORS[s.operator]
    derivatives = (s.res1, s.res2) if spec.order == 2 else (s.res1,)
    if not value:
        return derivatives[-1:]
    return (primal(s), *derivatives) if spec.primal else derivatives


def _scaled(tree: Any, factor: float, shift: float) -> Any:
    """Every leaf of a tree of arrays scaled and shifted (anything else as it is)."""
    return map_leaves(lambda a: a * factor + shift, tree)


def perturbed(s: Scenario) -> tuple[Any, tuple[Any, ...] | None, tuple[Context, ...]]:
    """Another point, other tangents and other context values, with the same kinds.

    Preparing with them and calling at the scenario's point is what "reusing a prep"
    means; a backend that baked the preparation's values in fails the comparison. Pytrees
    are perturbed leaf by leaf (each leaf keeps its dtype).
    """
    with precision(s):  # JAX float64 stays float64
        x = _scaled(s.x, 0.5, 0.25)
        tangents = None if s.tangents is None else tuple(_scaled(t, 2.0, 0.5) for t in s.tangents)
        contexts: list[Context] = []
        for c in s.contexts:
            if isinstance(c, Constant):
                contexts.append(Constant(_scaled(c.value, 1.5, 0.0)))
            elif isinstance(c, Cache):
                contexts.append(Cache(copy_tree(c.value)))
            else:
                contexts.append(c)
    return x, tangents, tuple(contexts)


def zeros_like_result(result: Any) -> Any:
    """Writable zero buffers shaped like a result, for ``out=``: a tree of them for a pytree
    result (tuples of per-tangent results included), each leaf with its dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from differentiation_interface.testing._variants import zeros_like_result
    >>> out = zeros_like_result(({"w": np.ones(2), "b": np.ones(1, np.float32)},))
    >>> out[0]["b"], out[0]["w"]
    (array([0.], dtype=float32), array([0., 0.]))
    """

    def zeros(a: Any) -> Any:
        xp = namespace_of(a)
        with precision_scope(xp, a):
            return xp.zeros_like(a)

    return map_leaves(zeros, result)

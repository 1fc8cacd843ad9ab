"""Placeholder references that carry only a *kind*: structure, shape and dtype, no values.

``test_differentiation(..., correctness=False)`` still checks that every result has the
right kind. Without reference results it takes the kind from the operator table's result
rules (the rules ``out=`` is checked against): a result like ``x`` has ``x``'s structure,
shapes and dtypes, one like ``f(x)`` the output's, and Jacobians and Hessians are 2-D
matrices over the raveled trees, of the promoted dtype. The placeholders are zeros; their
values are never compared.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from .._array import namespace_of, precision_scope
from ..contexts import Constant
from ..operators._table import OPERATORS, Result
from ._leaves import array_leaves, map_leaves
from ._variants import copy_tree, precision, primal
from .scenarios import Scenario

__all__ = ["kind_references"]


def _leaves(tree: Any) -> list[Any]:
    found = array_leaves(tree, "tree")
    return [tree] if found is None else found[0]


def _as_array(a: Any) -> Any:
    return np.asarray(a) if isinstance(a, np.generic) else a


def _zeros_like(tree: Any) -> Any:
    def zeros(a: Any) -> Any:
        a = _as_array(a)
        xp = namespace_of(a)
        with precision_scope(xp, a):
            return xp.zeros_like(a)

    return map_leaves(zeros, tree)


def _matrix(shape: tuple[int, int], x: Any, y: Any) -> Any:
    """Zeros of a Jacobian or Hessian shape, in ``x``'s namespace, of the dtype promoted over
    every leaf of ``x`` and ``f(x)`` (what :func:`~differentiation_interface.ravel` joins)."""
    leaves = [_as_array(a) for a in [*_leaves(x), *_leaves(y)]]
    xp = namespace_of(leaves[0])
    dtype = xp.result_type(*(a.dtype for a in leaves))
    with precision_scope(xp, *leaves):
        return xp.zeros(shape, dtype=dtype, device=getattr(leaves[0], "device", None))


def _size(tree: Any) -> int:
    return sum(math.prod(_as_array(a).shape) for a in _leaves(tree))


def _placeholder(result: Result, s: Scenario, y: Any) -> Any:
    if result.shape == "jacobian":
        one = _matrix((_size(y), _size(s.x)), s.x, y)
    elif result.shape == "hessian":
        one = _matrix((_size(s.x), _size(s.x)), s.x, s.x)
    else:
        one = _zeros_like(s.x if result.shape == "x" else y)
    if result.per_tangent:
        return tuple(one for _ in s.tangents or ())
    return one


def kind_references(s: Scenario) -> tuple[Any, Any]:
    """``(res1, res2)`` placeholders of the right kind for the scenario's operator (``res2``
    is ``None`` for first-order operators).

    Examples
    --------
    >>> import numpy as np
    >>> from differentiation_interface.testing import Scenario
    >>> from differentiation_interface.testing._kinds import kind_references
    >>> s = Scenario(lambda x: x[:2] * x[1:], np.ones(3), operator="jacobian")
    >>> kind_references(s)[0].shape
    (2, 3)
    """
    spec = OPERATORS[s.operator]
    with precision(s):
        # f(x) on copies: an f that mutates its inputs must still be caught by the checks
        contexts = tuple(
            Constant(copy_tree(c.value)) if isinstance(c, Constant) else c for c in s.contexts
        )
        y = primal(dataclasses.replace(s, x=copy_tree(s.x), contexts=contexts))
        made = [_placeholder(result, s, y) for result in spec.results]
    return made[0], (made[1] if len(made) > 1 else None)

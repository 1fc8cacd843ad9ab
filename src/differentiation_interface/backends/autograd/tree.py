"""The gradient with respect to a pytree's leaves, on the leaves themselves.

HIPS autograd differentiates containers natively: a tuple boxed as one input is a
``SequenceBox`` whose items are ``ArrayBox``es, and the backward pass returns a tuple of
gradients, one per leaf, each of its leaf's shape and dtype. So a gradient of ``f(tree)``
needs no raveling (what the pytree layer's raveled problem would copy at every call). Used
for numpy leaves of real dtypes with numpy (or non-array) context values; anything else takes
the raveled route, which converts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..._array import is_array
from ...errors import FunctionOutputError
from .._base import LeavesGradientPlan
from .io import check_dtype
from .trace import getval, pull, vjp_trace

__all__ = ["AutogradLeavesGradient", "leaves_gradient"]


def leaves_gradient(
    f: Callable[..., Any],
    leaves: list[Any],
    rebuild: Callable[[list[Any]], Any],
    args: tuple[Any, ...],
    y: Any,
) -> AutogradLeavesGradient | None:
    """The plan, or ``None`` for leaves or contexts this route does not take."""
    if not all(type(a) is np.ndarray and a.dtype.kind == "f" for a in leaves):
        return None
    if any(is_array(a) and type(a) is not np.ndarray for a in args):
        return None  # contexts of other namespaces: the raveled route converts them
    if not isinstance(y, (np.ndarray, np.generic)) or y.dtype.kind != "f":
        return None  # numpy arithmetic gives 0-d results as numpy scalars
    for a in leaves:
        check_dtype("gradient", "x", a.dtype)
    return AutogradLeavesGradient(f, rebuild, len(leaves), y.dtype)


class AutogradLeavesGradient(LeavesGradientPlan):
    """One reverse trace over the tuple of leaves and one backward pass from the seed 1."""

    def __init__(
        self, f: Callable[..., Any], rebuild: Callable[[list[Any]], Any], count: int, dtype: Any
    ) -> None:
        self.f = f
        self.rebuild = rebuild
        self.items = range(count)
        self.seed = np.ones((), dtype=dtype)

    def run(self, leaves: list[Any], args: tuple[Any, ...], *, value: bool) -> tuple[Any, Any]:
        f, rebuild, items = self.f, self.rebuild, self.items
        point = tuple(leaves)
        y, node = vjp_trace(lambda box: f(rebuild([box[i] for i in items]), *args), point)
        if getattr(y, "shape", ()):
            msg = f"`gradient` needs f to return a 0-d array; it returned shape {y.shape}."
            raise FunctionOutputError(msg)
        if node is None:  # f does not depend on x
            grads = [np.zeros_like(a) for a in leaves]
        else:
            grads = [
                _fresh(g, a) for g, a in zip(pull(node, self.seed, point), leaves, strict=True)
            ]
        y_out = np.asarray(getval(y)).copy() if value else None
        return y_out, grads


def _fresh(g: Any, leaf: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """A gradient leaf as a new array of its leaf's shape and dtype (autograd may hand back
    a scalar, a view or another float width)."""
    out = np.asarray(g, dtype=leaf.dtype)
    if out.shape != leaf.shape:
        out = np.broadcast_to(out, leaf.shape)
    if out.base is not None or not out.flags.writeable or out is leaf:
        out = np.array(out)
    return out

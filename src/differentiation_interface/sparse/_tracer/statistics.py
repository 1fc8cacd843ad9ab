"""Statistical, searching and sorting functions of the tracing namespace (see
:mod:`.reduce` for how each kind of reduction propagates patterns)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import reduce as R
from .core import TracedArray, constant, lift
from .shape import flip

__all__ = [
    "all",
    "any",
    "argmax",
    "argmin",
    "argsort",
    "count_nonzero",
    "cumulative_prod",
    "cumulative_sum",
    "max",
    "mean",
    "min",
    "prod",
    "searchsorted",
    "sort",
    "std",
    "sum",
    "var",
]

# The functions below shadow builtins (sum, max, ...) on purpose: they are the standard's names.


def _dtype(dtype: Any) -> dict[str, Any]:
    return {} if dtype is None else {"dtype": dtype}


def sum(x: Any, /, *, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> TracedArray:
    """``sum``: linear."""
    return R.reduction("linear", np.sum, x, axis, keepdims, **_dtype(dtype), primal=True)


def mean(x: Any, /, *, axis: Any = None, keepdims: bool = False) -> TracedArray:
    """``mean``: linear."""
    return R.reduction("linear", np.mean, x, axis, keepdims, primal=True)


def prod(x: Any, /, *, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> TracedArray:
    """``prod``: couples every pair of a group."""
    return R.reduction("nonlinear", np.prod, x, axis, keepdims, **_dtype(dtype), primal=True)


def max(x: Any, /, *, axis: Any = None, keepdims: bool = False) -> TracedArray:
    """``max``: piecewise linear (any element of the group)."""
    return R.reduction("piecewise", np.max, x, axis, keepdims, primal=True)


def min(x: Any, /, *, axis: Any = None, keepdims: bool = False) -> TracedArray:
    """``min``: piecewise linear."""
    return R.reduction("piecewise", np.min, x, axis, keepdims, primal=True)


def _with_correction(function: Callable[..., Any], correction: float) -> Callable[..., Any]:
    return lambda v, **k: function(v, ddof=correction, **k)


def std(
    x: Any, /, *, axis: Any = None, correction: float = 0.0, keepdims: bool = False
) -> TracedArray:
    """``std``: couples every pair of a group."""
    return R.reduction(
        "nonlinear", _with_correction(np.std, correction), x, axis, keepdims, primal=True
    )


def var(
    x: Any, /, *, axis: Any = None, correction: float = 0.0, keepdims: bool = False
) -> TracedArray:
    """``var``: couples every pair of a group."""
    return R.reduction(
        "nonlinear", _with_correction(np.var, correction), x, axis, keepdims, primal=True
    )


def any(x: Any, /, *, axis: Any = None, keepdims: bool = False) -> TracedArray:
    """``any``: a boolean, zero derivative."""
    return R.reduction("zero", np.any, x, axis, keepdims, primal=True)


def all(x: Any, /, *, axis: Any = None, keepdims: bool = False) -> TracedArray:
    """``all``: a boolean, zero derivative."""
    return R.reduction("zero", np.all, x, axis, keepdims, primal=True)


def count_nonzero(x: Any, /, *, axis: Any = None, keepdims: bool = False) -> TracedArray:
    """``count_nonzero``: an integer, zero derivative."""
    return R.reduction("zero", np.count_nonzero, x, axis, keepdims, primal=True)


def _arg(function: Any) -> Any:
    def arg(v: Any, *, axis: Any = None, keepdims: bool = False) -> Any:
        flat_axis = None if axis is None or len(axis) != 1 else axis[0]
        return function(v, axis=flat_axis, keepdims=keepdims)

    return arg


def argmax(x: Any, /, *, axis: int | None = None, keepdims: bool = False) -> TracedArray:
    """``argmax``: an integer, zero derivative."""
    return R.reduction("zero", _arg(np.argmax), x, axis, keepdims, primal=True)


def argmin(x: Any, /, *, axis: int | None = None, keepdims: bool = False) -> TracedArray:
    """``argmin``: an integer, zero derivative."""
    return R.reduction("zero", _arg(np.argmin), x, axis, keepdims, primal=True)


def cumulative_sum(
    x: Any, /, *, axis: int | None = None, dtype: Any = None, include_initial: bool = False
) -> TracedArray:
    """``cumulative_sum``: element ``i`` depends on elements ``<= i`` (linear)."""
    return R.cumulative(x, axis=axis, include_initial=include_initial, product=False, dtype=dtype)


def cumulative_prod(
    x: Any, /, *, axis: int | None = None, dtype: Any = None, include_initial: bool = False
) -> TracedArray:
    """``cumulative_prod``: element ``i`` depends on elements ``<= i`` (all pairs)."""
    return R.cumulative(x, axis=axis, include_initial=include_initial, product=True, dtype=dtype)


def sort(
    x: Any, /, *, axis: int = -1, descending: bool = False, stable: bool = True
) -> TracedArray:
    """``sort``: every element along the axis may land anywhere along it."""
    result = R.sort_like(x, axis, indices=False)
    return flip(result, axis=axis) if descending else result


def argsort(
    x: Any, /, *, axis: int = -1, descending: bool = False, stable: bool = True
) -> TracedArray:
    """``argsort``: integers, zero derivative."""
    return R.sort_like(x, axis, indices=True)


def searchsorted(x1: Any, x2: Any, /, *, side: str = "left", sorter: Any = None) -> TracedArray:
    """``searchsorted``: integers, zero derivative (known when both operands are)."""
    a, v = lift(x1), lift(x2)
    order = None if sorter is None else lift(sorter)
    if a.value is not None and v.value is not None and (order is None or order.value is not None):
        where: Any = side
        permutation = None if order is None else order.value
        return constant(np.searchsorted(a.value, v.value, side=where, sorter=permutation))
    return TracedArray(v.shape, np.int64)

"""numpy's reductions, cumulative functions and sorting on traced arrays, numpy's meaning.

numpy itself computes the result when every traced argument has known values. Otherwise
numpy runs on samples (zeros for unknown values) with the caller's arguments, which checks
them and gives the result's shape and dtype, and the pattern follows :mod:`.reduce` with
numpy's defaults: ``np.cumsum`` and ``np.sort(..., axis=None)`` flatten, ``where=`` keeps
the selected elements only, ``mean=`` (of ``np.std``) adds the dependencies of the given
mean. A floating result keeps the pattern; an integer or boolean one (``dtype=int``) has
zero derivative. Arguments that change only values, not dependencies (``ddof``,
``correction``, ``initial``, ``kind``), pass to numpy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import elementwise as E
from . import reduce as R
from .core import TracedArray, constant, lift
from .numpy_dispatch import NumpyCall, implements
from .numpy_moves import ravel

__all__ = ["accumulate_piecewise"]


def _operand(call: NumpyCall) -> TracedArray:
    return lift(next(iter(call.arguments.values())))


def _result(sample: Any, reduced: TracedArray) -> TracedArray:
    """``reduced``'s pattern under numpy's shape and dtype (``sample``)."""
    if sample.dtype.kind not in "fc" or reduced.pattern is None:
        return TracedArray(sample.shape, sample.dtype)
    assert reduced.size == sample.size, "the pattern disagrees with numpy's result"
    return TracedArray(sample.shape, sample.dtype, pattern=reduced.pattern, tape=reduced.tape)


def _reduction(kind: str) -> Callable[[NumpyCall], Any]:
    def reduction(call: NumpyCall) -> Any:
        if call.known():
            return call.constant()
        call.value("initial")  # a number: must be known
        sample = np.asarray(call.run(sample=True))
        a = _operand(call)
        where = call.get("where", True)
        if where is not True:
            condition = lift(where)
            if condition.dtype != np.bool_:
                condition = E.binary("not_equal", condition, 0)
            a = E.where(condition, a, constant(np.zeros((), dtype=a.dtype)))
        if call.get("mean") is not None:  # np.std(x, mean=m): deviations from the given m
            a = E.binary("subtract", a, call.get("mean"))
        keepdims = bool(call.get("keepdims", False))
        return _result(sample, R.reduction(kind, np.sum, a, call.get("axis"), keepdims))

    return reduction


_SUM = ("a", "axis", "dtype", "keepdims", "initial", "where")
_MEAN = ("a", "axis", "dtype", "keepdims", "where")
_STD = ("a", "axis", "dtype", "ddof", "keepdims", "where", "mean", "correction")
_MAX = ("a", "axis", "keepdims", "initial", "where")

#: (names, arguments implemented, kind of reduction as in :mod:`.reduce`)
_REDUCTIONS = [
    (("sum", "nansum"), _SUM, "linear"),
    (("mean", "nanmean"), _MEAN, "linear"),
    (("prod", "nanprod"), _SUM, "nonlinear"),
    (("std", "var", "nanstd", "nanvar"), _STD, "nonlinear"),
    (("max", "amax", "min", "amin", "nanmax", "nanmin"), _MAX, "piecewise"),
    (("ptp", "median", "nanmedian"), ("a", "axis", "keepdims"), "piecewise"),
]

for _names, _arguments, _kind in _REDUCTIONS:
    implements(*_names, arguments=_arguments)(_reduction(_kind))


def _cumulative(product: bool) -> Callable[[NumpyCall], Any]:
    def cumulative(call: NumpyCall) -> Any:
        if call.known():
            return call.constant()
        sample = np.asarray(call.run(sample=True))
        a, axis = _operand(call), call.get("axis")
        if axis is None:  # np.cumsum flattens; np.cumulative_sum has checked a is 1-D
            a, axis = ravel(a), 0
        include_initial = bool(call.get("include_initial", False))
        return _result(
            sample, R.cumulative(a, axis=axis, include_initial=include_initial, product=product)
        )

    return cumulative


for _names, _arguments, _product in [
    (("cumsum", "nancumsum"), ("a", "axis", "dtype"), False),
    (("cumprod", "nancumprod"), ("a", "axis", "dtype"), True),
    (("cumulative_sum",), ("x", "axis", "dtype", "include_initial"), False),
    (("cumulative_prod",), ("x", "axis", "dtype", "include_initial"), True),
]:
    implements(*_names, arguments=_arguments)(_cumulative(_product))


def _sorting(call: NumpyCall) -> Any:
    """``np.sort`` and ``np.partition``: any element along the axis may land anywhere on it."""
    if call.known():
        return call.constant()
    call.run(sample=True)  # numpy checks kind, kth, axis
    a, axis = _operand(call), call.get("axis", -1)
    if axis is None:
        a, axis = ravel(a), 0
    return R.sort_like(a, axis, indices=False)


implements("sort", arguments=("a", "axis", "kind", "stable"))(_sorting)
implements("partition", arguments=("a", "kth", "axis", "kind"))(_sorting)


def accumulate_piecewise(ufunc: Any, array: Any, axis: int = 0, dtype: Any = None) -> TracedArray:
    """``np.maximum.accumulate`` and ``np.minimum.accumulate``: element ``i`` is one of the
    elements ``<= i`` (piecewise linear)."""
    a = lift(array)
    with np.errstate(all="ignore"):
        if a.value is not None:
            return constant(ufunc.accumulate(a.value, axis=axis, dtype=dtype))
        sample = np.asarray(ufunc.accumulate(np.zeros(a.shape, a.dtype), axis=axis, dtype=dtype))
    return _result(sample, R.cumulative(a, axis=axis, include_initial=False, product=False))

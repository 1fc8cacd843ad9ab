"""Reductions, cumulative functions, sorting and searching of the tracing namespace.

A reduction over some axes groups the input elements by output element; the output pattern
is the union of the rows of each group (``R G`` with ``R`` the 0/1 reduction matrix, computed
as one relabelling of the pattern's rows). ``sum`` and ``mean`` are linear; ``max``, ``min``
and ``sort`` are piecewise linear (no second order); ``prod``, ``std``, ``var`` and p-norms
couple every pair of inputs of a group (the pair ``(R G, R G)``). Functions whose results
have zero derivative (``argmax``, ``any``, ``count_nonzero``, ...) give opaque arrays.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from .. import _pattern as P
from .core import TracedArray, lift, unsupported
from .shape import moveaxis, reshape

__all__ = ["cumulative", "reduction", "union_along"]


def _axes(ndim: int, axis: Any) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        return (axis % ndim,) if ndim else ()
    return tuple(sorted(a % ndim for a in axis))


def _grouping(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[tuple[int, ...], Any]:
    """Shape with the reduced axes kept as 1, and each element's group number."""
    kept = tuple(1 if i in axes else d for i, d in enumerate(shape))
    groups = np.broadcast_to(np.arange(math.prod(kept)).reshape(kept), shape)
    return kept, groups.reshape(-1)


def reduction(
    kind: str,
    function: Callable[..., Any],
    x: Any,
    axis: Any = None,
    keepdims: bool = False,
    *,
    primal: bool = False,
    **options: Any,
) -> TracedArray:
    """Reduce ``x`` over ``axis`` with numpy ``function``; ``kind`` as in the module docs.

    ``primal``: ``function`` is the reduction itself (not a stand-in that only shapes the
    result, such as ``np.max`` for "any element along the axis"), so in local detection the
    result's primal is ``function`` of ``x``'s.
    """
    a = lift(x)
    axes = _axes(a.ndim, axis)
    kept, groups = _grouping(a.shape, axes)
    shape = kept if keepdims else tuple(d for i, d in enumerate(a.shape) if i not in axes)
    with np.errstate(all="ignore"):
        sample = function(np.zeros((1,) * max(a.ndim, 1), dtype=a.dtype), **options)
        dtype = np.asarray(sample).dtype
        if a.value is not None:
            value = np.asarray(function(a.value, axis=axes, keepdims=keepdims, **options))
            return TracedArray(shape, value.dtype, value=value.reshape(shape))
    values = None
    if primal and a.primal is not None:  # local detection
        with np.errstate(all="ignore"):
            reduced = function(a.primal, axis=axes, keepdims=keepdims, **options)
        values = np.asarray(reduced).reshape(shape)
    if kind == "zero" or a.pattern is None:
        return TracedArray(shape, dtype, primal=values)
    rows = a.pattern
    if a.primal is not None and values is not None and function in (np.max, np.min):
        # local detection: the result follows the elements reaching the extreme (all at a
        # tie; all if it is NaN)
        with np.errstate(invalid="ignore"):
            primals = a.primal
            extreme = function(primals, axis=axes, keepdims=True)
            taken = (primals == extreme) | np.isnan(extreme)
        rows = P.mask_rows(rows, np.broadcast_to(taken, a.shape).reshape(-1))
    pattern = P.group_rows(rows, groups, math.prod(kept))
    if kind == "nonlinear" and a.tape is not None:
        a.tape.record(pattern, pattern)
    return TracedArray(shape, dtype, pattern=pattern, tape=a.tape, primal=values)


def union_along(x: Any, axis: int) -> TracedArray:
    """``x`` reduced along ``axis`` to length 1 (keepdims), each element the union of the
    axis: what an unknown choice along that axis may depend on."""
    return reduction("piecewise", np.max, x, axis=axis, keepdims=True)


def sort_like(x: Any, axis: int, *, indices: bool) -> TracedArray:
    """``sort`` (piecewise linear: any element along the axis may land anywhere along it)
    or ``argsort`` (integer, zero derivative)."""
    a = lift(x)
    axis = axis % a.ndim
    if a.value is not None:
        value = (
            np.argsort(a.value, axis=axis, stable=True) if indices else np.sort(a.value, axis=axis)
        )
        return TracedArray(a.shape, value.dtype, value=value)
    if indices:
        return TracedArray(a.shape, np.int64)
    if a.pattern is None:
        return TracedArray(a.shape, a.dtype)
    pooled = union_along(a, axis)
    source = np.broadcast_to(np.arange(pooled.size).reshape(pooled.shape), a.shape)
    pattern = P.select_rows(pooled.rows(), source.reshape(-1))
    return TracedArray(a.shape, a.dtype, pattern=pattern, tape=a.tape)


def cumulative(
    x: Any, *, axis: int | None, include_initial: bool, product: bool, dtype: Any = None
) -> TracedArray:
    """``cumulative_sum`` / ``cumulative_prod``: element ``i`` depends on elements ``<= i``."""
    name = "cumulative_prod" if product else "cumulative_sum"
    a = lift(x)
    if axis is None:
        if a.ndim != 1:
            raise unsupported(name, "axis is required for arrays of more than one dimension.")
        axis = 0
    axis = axis % a.ndim
    if a.value is not None:
        function = np.cumprod if product else np.cumsum
        value = function(a.value, axis=axis, dtype=dtype)
        if include_initial:
            shape = list(value.shape)
            shape[axis] = 1
            first = np.ones(shape, value.dtype) if product else np.zeros(shape, value.dtype)
            value = np.concatenate([first, value], axis=axis)
        return TracedArray(value.shape, value.dtype, value=value)
    length = a.shape[axis]
    out_length = length + 1 if include_initial else length
    moved = moveaxis(a, axis, -1)
    lead = moved.shape[:-1]
    out_dtype = np.dtype(dtype) if dtype is not None else a.dtype
    out_shape_moved = (*lead, out_length)
    if a.pattern is None or out_dtype.kind not in "fc":  # integers: zero derivative
        result = TracedArray(out_shape_moved, out_dtype)
    else:
        rows, cols = np.tril_indices(length)
        rows = rows + (1 if include_initial else 0)
        count = math.prod(lead)
        block = np.arange(count)[:, None]
        prefix = sp.csr_array(
            (
                np.ones(count * rows.shape[0], dtype=bool),
                (
                    (block * out_length + rows).reshape(-1),
                    (block * length + cols).reshape(-1),
                ),
            ),
            shape=(count * out_length, count * length),
        )
        pattern = P.as_pattern(prefix @ moved.rows())
        if product and a.tape is not None:
            a.tape.record(pattern, pattern)
        result = TracedArray(out_shape_moved, out_dtype, pattern=pattern, tape=a.tape)
    return moveaxis(reshape(result, out_shape_moved, copy=True), -1, axis)

"""Indexing of the tracing namespace, and the element-moving machinery shape functions share.

Every function that moves elements around (reshape, transpose, flip, roll, slicing, integer
indexing, concatenation, broadcasting, tiling, ...) is computed the same way: numpy applies
the very same operation to an array of *element numbers* ``arange(size)``, and the result
says, for each output element, which input element it is. The output pattern is then a row
selection of the input pattern. So numpy's own semantics (negative steps, ``None``,
``Ellipsis``, broadcasting of index arrays) are followed exactly, with no case analysis here.

Writing by index (``x[key] = value``) replaces the rows of the written elements; index
arrays whose values are unknown at tracing time (a ``Constant`` context) select any element
along their axis when reading, and are refused when writing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import _pattern as P
from .core import (
    TracedArray,
    TracingError,
    lift,
    local_values,
    tape_of,
    unsupported,
    view_of,
    zero_mask,
)

__all__ = [
    "getitem",
    "remap",
    "remap_each",
    "remap_many",
    "setitem",
    "take",
    "take_along_axis",
]


def _numbers(a: TracedArray, offset: int = 0) -> Any:
    return (np.arange(a.size, dtype=np.int64) + offset).reshape(a.shape)


def remap(a: Any, operation: Callable[[Any], Any], *, view: bool = False) -> TracedArray:
    """Apply an element-moving numpy ``operation`` to ``a`` (values and pattern alike)."""
    a = lift(a)
    value = None if a.value is None else operation(a.value)
    result = _moved(a, np.asarray(operation(_numbers(a))), value, view)
    if a.primal is not None:  # local detection: the values move with the elements
        result.primal = np.asarray(operation(a.primal))
    return result


def remap_each(
    a: Any, operation: Callable[[Any], Any], *, view: bool = False
) -> list[TracedArray] | tuple[TracedArray, ...]:
    """:func:`remap` for an ``operation`` returning a list or tuple of arrays
    (``numpy.split``): a list or tuple of traced arrays."""
    a = lift(a)
    moved = operation(_numbers(a))
    values = operation(a.value) if a.value is not None else [None] * len(moved)
    results = [_moved(a, np.asarray(s), v, view) for s, v in zip(moved, values, strict=True)]
    if a.primal is not None:
        for result, primal in zip(results, operation(a.primal), strict=True):
            result.primal = np.asarray(primal)
    return results if isinstance(moved, list) else tuple(results)


def _moved(a: TracedArray, source: Any, value: Any, view: bool) -> TracedArray:
    """The array whose element ``k`` is element ``source[k]`` of ``a`` (``value`` if known)."""
    if a.value is not None:
        result = TracedArray(source.shape, a.dtype, value=np.asarray(value))
    elif a.pattern is None:
        result = TracedArray(source.shape, a.dtype)
    else:
        pattern = P.select_rows(a.pattern, source.reshape(-1))
        zeros = None if a.zeros is None else a.zeros.reshape(-1)[source]
        result = TracedArray(source.shape, a.dtype, pattern=pattern, tape=a.tape, zeros=zeros)
    return view_of(a, result) if view else result


def remap_many(
    arrays: Sequence[Any], operation: Callable[[list[Any]], Any], dtype: Any = None
) -> TracedArray:
    """Apply an element-moving numpy ``operation`` that takes a list of arrays."""
    lifted = [lift(a) for a in arrays]
    if dtype is None:
        dtype = np.result_type(*(a.dtype for a in lifted))
    if all(a.value is not None for a in lifted):
        return _known(operation([a.value for a in lifted]), dtype)
    offsets = np.cumsum([0] + [a.size for a in lifted])
    moved = operation([_numbers(a, int(o)) for a, o in zip(lifted, offsets, strict=False)])
    result = _gathered(lifted, np.asarray(moved), dtype)
    known = [local_values(a) for a in lifted]
    if all(v is not None for v in known):  # local detection
        result.primal = np.asarray(operation(known)).astype(dtype, copy=False)
    return result


def _known(value: Any, dtype: Any) -> TracedArray:
    value = np.asarray(value).astype(dtype, copy=False)
    return TracedArray(value.shape, dtype, value=value)


def _gathered(lifted: list[TracedArray], source: Any, dtype: Any) -> TracedArray:
    """The array whose element ``k`` is element ``source[k]`` of the operands laid end to end."""
    if all(a.pattern is None for a in lifted):
        return TracedArray(source.shape, dtype)
    tape = tape_of(*lifted)
    assert tape is not None
    stacked = P.vstack(
        [a.rows() if a.pattern is not None else P.empty(a.size, tape.n) for a in lifted]
    )
    pattern = P.select_rows(stacked, source.reshape(-1))
    masks = [zero_mask(a) for a in lifted]
    zeros = None
    if any(m is not None for m in masks):
        every = np.concatenate(
            [
                np.zeros(a.size, dtype=bool) if m is None else m.reshape(-1)
                for a, m in zip(lifted, masks, strict=True)
            ]
        )
        zeros = every[source]
    return TracedArray(source.shape, dtype, pattern=pattern, tape=tape, zeros=zeros)


def _key_part(part: Any) -> Any:
    """One entry of an index key, with traced arrays replaced by their values."""
    if isinstance(part, TracedArray):
        part.check_fresh()
        if part.value is not None:
            return part.value
        if part.pattern is not None:
            msg = (
                "Sparsity detection: f indexes an array with values computed from x; the "
                "selected elements then depend on x's values, which has no global pattern."
            )
            raise TracingError(msg)
        return part  # opaque: handled by the caller
    if hasattr(part, "__array_namespace__") and not isinstance(part, np.ndarray):
        return lift(part).value
    return part


def _normalize(key: Any, ndim: int) -> list[Any]:
    """The key as a list with ``Ellipsis`` expanded to full slices."""
    parts = [_key_part(p) for p in (key if isinstance(key, tuple) else (key,))]
    consumed = sum(
        (p.ndim if isinstance(p, np.ndarray) and p.dtype == np.bool_ else 1)
        for p in parts
        if p is not None and p is not Ellipsis
    )
    if any(p is Ellipsis for p in parts):
        at = next(i for i, p in enumerate(parts) if p is Ellipsis)
        parts[at : at + 1] = [slice(None)] * max(0, ndim - consumed)
    return parts


def _resolve_opaque(a: TracedArray, parts: list[Any]) -> tuple[TracedArray, list[Any]]:
    """Opaque integer index arrays (values unknown, e.g. a ``Constant``) select any element
    along their axis: reduce that axis to one element holding the union, and index it at 0."""
    from .reduce import union_along

    axis = 0
    for i, part in enumerate(parts):
        if part is None:
            continue
        if isinstance(part, TracedArray):
            if part.dtype == np.bool_:
                msg = (
                    "Sparsity detection: a boolean mask whose values are unknown at tracing "
                    "time selects a data-dependent number of elements; use xp.where instead."
                )
                raise TracingError(msg)
            a = union_along(a, axis)
            parts[i] = np.zeros(part.shape, dtype=np.int64)
        axis += part.ndim if isinstance(part, np.ndarray) and part.dtype == np.bool_ else 1
    return a, parts


def _is_basic(parts: list[Any]) -> bool:
    return all(p is None or isinstance(p, int | slice | np.integer) for p in parts)


def getitem(x: TracedArray, key: Any) -> TracedArray:
    """``x[key]``: any numpy key (slices, integers, index arrays, known masks, ``None``)."""
    a = lift(x)
    parts = _normalize(key, a.ndim)
    a, parts = _resolve_opaque(a, parts)
    index = tuple(parts)
    return remap(a, lambda e: e[index], view=_is_basic(parts))


def setitem(x: TracedArray, key: Any, value: Any) -> None:
    """``x[key] = value``, in place: the written rows take the value's pattern."""
    x.check_fresh()
    x.detach()
    parts = _normalize(key, x.ndim)
    if any(isinstance(p, TracedArray) for p in parts):
        msg_0 = "__setitem__"
        raise unsupported(msg_0, "The index has values unknown at tracing time.")
    index = tuple(parts)
    targets = np.asarray(_numbers(x)[index])
    v = lift(value)
    source = np.broadcast_to(np.arange(v.size).reshape(v.shape), targets.shape).reshape(-1)
    targets = targets.reshape(-1)
    if x.value is not None and v.value is not None:
        updated = np.array(x.value, copy=True)
        updated[index] = v.value
        x.value, x.pattern = updated, None
    else:
        before, written_values = local_values(x), local_values(v)
        x.primal = None  # local detection: the values after the write, where both are known
        if before is not None and written_values is not None:
            x.primal = np.array(before, dtype=x.dtype, copy=True)
            x.primal[index] = written_values
        tape = tape_of(x, v)
        keep = np.ones(x.size, dtype=bool)
        keep[targets] = False
        old = None if x.pattern is None else P.mask_rows(x.pattern, keep)
        new = None
        if v.pattern is not None:
            new = P.group_rows(P.select_rows(v.pattern, source), targets, x.size)
        zeros = zero_mask(x)
        zeros = np.zeros(x.size, dtype=bool) if zeros is None else np.array(zeros.reshape(-1))
        written = zero_mask(v)
        zeros[targets] = False if written is None else written.reshape(-1)[source]
        x.pattern = P.union(old, new)
        x.value = None
        x.tape = tape if x.pattern is not None else None
        x.zeros = zeros.reshape(x.shape) if zeros.any() else None
    x._version += 1


def take(x: Any, indices: Any, /, *, axis: int | None = None) -> TracedArray:
    """``take``: integer indexing along one axis."""
    a = lift(x)
    if axis is None:
        if a.ndim != 1:
            msg = "take"
            raise unsupported(msg, "axis is required for arrays of more than one dimension.")
        axis = 0
    axis = axis % a.ndim
    return getitem(a, (slice(None),) * axis + (indices,))


def take_along_axis(x: Any, indices: Any, /, *, axis: int = -1) -> TracedArray:
    """``take_along_axis``: opaque indices make every element along the axis a candidate."""
    a, idx = lift(x), lift(indices)
    axis = axis % a.ndim
    if idx.value is None:
        if idx.pattern is not None:
            msg = "take_along_axis"
            raise unsupported(msg, "The indices depend on x.")
        from .reduce import union_along

        a = union_along(a, axis)
        zeros = np.zeros(idx.shape, dtype=np.int64)
        return remap(a, lambda e: np.take_along_axis(e, zeros, axis=axis))
    values = idx.value
    return remap(a, lambda e: np.take_along_axis(e, values, axis=axis))

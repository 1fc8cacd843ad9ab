"""Creation functions of the tracing namespace: arrays of known values (or unknown, for
``empty``), which depend on no input. ``asarray`` of traced arrays passes them through."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .core import TracedArray, constant, lift, opaque
from .shape import broadcast_to, stack

__all__ = [
    "arange",
    "asarray",
    "broadcast_shapes",
    "empty",
    "empty_like",
    "eye",
    "from_dlpack",
    "full",
    "full_like",
    "linspace",
    "ones",
    "ones_like",
    "zeros",
    "zeros_like",
]


def asarray(
    obj: Any, /, *, dtype: Any = None, device: Any = None, copy: bool | None = None
) -> TracedArray:
    """``asarray``: traced arrays pass through; nested sequences of them are stacked."""
    if isinstance(obj, TracedArray):
        obj.check_fresh()
        if dtype is not None and np.dtype(dtype) != obj.dtype:
            from .dtypes import astype

            return astype(obj, dtype)
        if copy:
            return TracedArray(
                obj.shape,
                obj.dtype,
                pattern=obj.pattern,
                value=obj.value,
                tape=obj.tape,
                zeros=obj.zeros,
                primal=obj.primal,
            )
        return obj
    if isinstance(obj, list | tuple) and _contains_traced(obj):
        result = stack([asarray(o) for o in obj])
        if dtype is not None:
            from .dtypes import astype

            return astype(result, dtype)
        return result
    if isinstance(obj, bool | int | float | complex | list | tuple) or obj is None:
        return constant(np.asarray(obj, dtype=dtype))
    value = lift(obj).value
    return constant(value if dtype is None else np.asarray(value, dtype=dtype))


def _contains_traced(obj: Any) -> bool:
    if isinstance(obj, TracedArray):
        return True
    if isinstance(obj, list | tuple):
        return any(_contains_traced(o) for o in obj)
    return False


def _shape(shape: int | Sequence[int]) -> tuple[int, ...]:
    return (shape,) if isinstance(shape, int) else tuple(int(s) for s in shape)


def zeros(shape: Any, *, dtype: Any = None, device: Any = None) -> TracedArray:
    """``zeros``."""
    return constant(np.zeros(_shape(shape), dtype=dtype or np.float64))


def ones(shape: Any, *, dtype: Any = None, device: Any = None) -> TracedArray:
    """``ones``."""
    return constant(np.ones(_shape(shape), dtype=dtype or np.float64))


def empty(shape: Any, *, dtype: Any = None, device: Any = None) -> TracedArray:
    """``empty``: values unknown (opaque)."""
    return opaque(_shape(shape), dtype or np.float64)


def full(shape: Any, fill_value: Any, *, dtype: Any = None, device: Any = None) -> TracedArray:
    """``full`` (a traced fill value is broadcast)."""
    if isinstance(fill_value, TracedArray):
        filled = broadcast_to(fill_value, _shape(shape))
        return TracedArray(
            filled.shape,
            dtype or filled.dtype,
            pattern=filled.pattern,
            value=filled.value,
            tape=filled.tape,
        )
    return constant(np.full(_shape(shape), fill_value, dtype=dtype))


def zeros_like(x: Any, /, *, dtype: Any = None, device: Any = None) -> TracedArray:
    """``zeros_like``: known zeros, whatever ``x`` depends on."""
    a = lift(x)
    return constant(np.zeros(a.shape, dtype=dtype or a.dtype))


def ones_like(x: Any, /, *, dtype: Any = None, device: Any = None) -> TracedArray:
    """``ones_like``."""
    a = lift(x)
    return constant(np.ones(a.shape, dtype=dtype or a.dtype))


def empty_like(x: Any, /, *, dtype: Any = None, device: Any = None) -> TracedArray:
    """``empty_like``: values unknown (opaque)."""
    a = lift(x)
    return opaque(a.shape, dtype or a.dtype)


def full_like(x: Any, /, fill_value: Any, *, dtype: Any = None, device: Any = None) -> TracedArray:
    """``full_like``."""
    a = lift(x)
    return full(a.shape, fill_value, dtype=dtype or a.dtype)


def arange(
    start: Any, /, stop: Any = None, step: Any = 1, *, dtype: Any = None, device: Any = None
) -> TracedArray:
    """``arange``."""
    return constant(np.arange(start, stop, step, dtype=dtype))


def linspace(
    start: Any,
    stop: Any,
    /,
    num: int,
    *,
    dtype: Any = None,
    device: Any = None,
    endpoint: bool = True,
) -> TracedArray:
    """``linspace``."""
    return constant(np.linspace(start, stop, num, endpoint=endpoint, dtype=dtype))


def eye(
    n_rows: int, n_cols: int | None = None, /, *, k: int = 0, dtype: Any = None, device: Any = None
) -> TracedArray:
    """``eye``."""
    return constant(np.eye(n_rows, n_cols, k=k, dtype=dtype or np.float64))


def from_dlpack(x: Any, /, *, device: Any = None, copy: bool | None = None) -> TracedArray:
    """``from_dlpack`` of a foreign array: a constant."""
    return lift(x)


def broadcast_shapes(*shapes: Sequence[int]) -> tuple[int, ...]:
    """``broadcast_shapes``."""
    return tuple(np.broadcast_shapes(*(tuple(s) for s in shapes)))

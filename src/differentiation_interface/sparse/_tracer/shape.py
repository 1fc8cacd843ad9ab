"""Manipulation functions of the tracing namespace: element moves (see :mod:`.indexing`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import _pattern as P
from .core import TracedArray, lift, unsupported
from .indexing import getitem, remap, remap_many

__all__ = [
    "broadcast_arrays",
    "broadcast_to",
    "concat",
    "diagonal",
    "diff",
    "expand_dims",
    "flip",
    "matrix_transpose",
    "meshgrid",
    "moveaxis",
    "permute_dims",
    "repeat",
    "reshape",
    "roll",
    "squeeze",
    "stack",
    "tile",
    "tril",
    "triu",
    "unstack",
]


def reshape(x: Any, /, shape: Sequence[int] | int, *, copy: bool | None = None) -> TracedArray:
    """``reshape`` (C order; an integer shape as numpy allows)."""
    target = (shape,) if isinstance(shape, int) else tuple(shape)
    return remap(x, lambda e: np.reshape(e, target), view=not copy)


def permute_dims(x: Any, /, axes: Sequence[int]) -> TracedArray:
    """``permute_dims``."""
    order = tuple(axes)
    return remap(x, lambda e: np.transpose(e, order), view=True)


def matrix_transpose(x: Any, /) -> TracedArray:
    """``matrix_transpose``: swap the last two axes."""
    return remap(x, lambda e: np.swapaxes(e, -1, -2), view=True)


def expand_dims(x: Any, /, *, axis: int | tuple[int, ...] = 0) -> TracedArray:
    """``expand_dims``."""
    return remap(x, lambda e: np.expand_dims(e, axis), view=True)


def squeeze(x: Any, /, axis: int | tuple[int, ...]) -> TracedArray:
    """``squeeze``."""
    return remap(x, lambda e: np.squeeze(e, axis=axis), view=True)


def flip(x: Any, /, *, axis: int | tuple[int, ...] | None = None) -> TracedArray:
    """``flip``."""
    return remap(x, lambda e: np.flip(e, axis=axis), view=True)


def roll(
    x: Any, /, shift: int | tuple[int, ...], *, axis: int | tuple[int, ...] | None = None
) -> TracedArray:
    """``roll``."""
    return remap(x, lambda e: np.roll(e, shift, axis=axis))


def moveaxis(x: Any, source: Any, destination: Any, /) -> TracedArray:
    """``moveaxis``."""
    return remap(x, lambda e: np.moveaxis(e, source, destination), view=True)


def broadcast_to(x: Any, /, shape: Sequence[int]) -> TracedArray:
    """``broadcast_to``."""
    target = tuple(shape)
    return remap(x, lambda e: np.broadcast_to(e, target), view=True)


def broadcast_arrays(*arrays: Any) -> list[TracedArray]:
    """``broadcast_arrays``."""
    lifted = [lift(a) for a in arrays]
    shape = tuple(np.broadcast_shapes(*(a.shape for a in lifted)))
    return [broadcast_to(a, shape) for a in lifted]


def tile(x: Any, repetitions: Sequence[int], /) -> TracedArray:
    """``tile``."""
    reps = tuple(repetitions)
    return remap(x, lambda e: np.tile(e, reps))


def repeat(x: Any, repeats: Any, /, *, axis: int | None = None) -> TracedArray:
    """``repeat`` (with known repeat counts)."""
    counts = lift(repeats).value if not isinstance(repeats, int) else repeats
    if counts is None:
        msg = "repeat"
        raise unsupported(msg, "The repeat counts must be known at tracing time.")
    return remap(x, lambda e: np.repeat(e, counts, axis=axis))


def concat(arrays: Sequence[Any], /, *, axis: int | None = 0) -> TracedArray:
    """``concat``."""
    if axis is None:
        return remap_many(arrays, lambda es: np.concatenate([e.reshape(-1) for e in es]))
    return remap_many(arrays, lambda es: np.concatenate(es, axis=axis))


def stack(arrays: Sequence[Any], /, *, axis: int = 0) -> TracedArray:
    """``stack``."""
    return remap_many(arrays, lambda es: np.stack(es, axis=axis))


def unstack(x: Any, /, *, axis: int = 0) -> tuple[TracedArray, ...]:
    """``unstack``."""
    a = lift(x)
    axis = axis % a.ndim
    return tuple(getitem(a, (slice(None),) * axis + (i,)) for i in range(a.shape[axis]))


def meshgrid(*arrays: Any, indexing: str = "xy") -> list[TracedArray]:
    """``meshgrid``."""
    lifted = [lift(a) for a in arrays]

    def grid(k: int) -> Callable[[list[Any]], Any]:
        return lambda es: np.meshgrid(*es, indexing=indexing)[k]  # type: ignore[call-overload]

    return [remap_many(lifted, grid(k)) for k in range(len(lifted))]


def _triangle(x: Any, k: int, lower: bool) -> TracedArray:
    a = lift(x)
    rows, cols = a.shape[-2], a.shape[-1]
    keep = (
        np.tril(np.ones((rows, cols), dtype=bool), k)
        if lower
        else np.triu(np.ones((rows, cols), dtype=bool), k)
    )
    keep = np.broadcast_to(keep, a.shape)
    if a.value is not None:
        return TracedArray(a.shape, a.dtype, value=np.where(keep, a.value, 0).astype(a.dtype))
    primal = None if a.primal is None else np.where(keep, a.primal, 0).astype(a.dtype)
    if a.pattern is None:
        return TracedArray(a.shape, a.dtype, primal=primal)
    return TracedArray(
        a.shape, a.dtype, pattern=P.mask_rows(a.pattern, keep), tape=a.tape, primal=primal
    )


def tril(x: Any, /, *, k: int = 0) -> TracedArray:
    """``tril``: the rows above the diagonal become constant zeros."""
    return _triangle(x, k, lower=True)


def triu(x: Any, /, *, k: int = 0) -> TracedArray:
    """``triu``."""
    return _triangle(x, k, lower=False)


def diagonal(x: Any, /, *, offset: int = 0) -> TracedArray:
    """``linalg.diagonal``."""
    return remap(x, lambda e: np.diagonal(e, offset=offset, axis1=-2, axis2=-1))


def diff(
    x: Any, /, *, axis: int = -1, n: int = 1, prepend: Any = None, append: Any = None
) -> TracedArray:
    """``diff``: differences of neighbours (linear)."""
    from .elementwise import binary

    a = lift(x)
    axis = axis % a.ndim
    parts = [p for p in (prepend, a, append) if p is not None]
    if len(parts) > 1:
        a = concat(parts, axis=axis)
    for _ in range(n):
        head = (slice(None),) * axis
        a = binary(
            "subtract", getitem(a, (*head, slice(1, None))), getitem(a, (*head, slice(None, -1)))
        )
    return a

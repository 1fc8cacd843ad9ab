"""Dask arrays: lazy graphs whose size does not grow with the number of coordinates.

A finite-difference derivative along every coordinate of ``x`` needs ``f`` at ``n`` (or
``4 n``) perturbed points. Built from dask operations, that is ``n`` copies of ``f``'s graph:
a gradient of ``n = 10_000`` became millions of tasks. Instead, :func:`map_coordinates` makes
one task per chunk of ``x``: the task receives ``x`` whole (one block, ``x.size`` values, what
``f`` needs anyway), the coordinates of its chunk, and evaluates ``f`` point after point on
numpy values, so the graph has as many tasks as ``x`` has chunks and its result is chunked
like ``x``.

Nothing here imports dask: an array of it is in hand whenever these functions run (dask's
modules are in ``sys.modules``), and :func:`is_dask` is array-api-compat's type test, which
never imports dask either.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any

import array_api_compat as aac
import numpy as np

__all__ = ["chunked_like", "flat_chunks", "is_dask", "map_coordinates"]


def is_dask(a: Any) -> bool:
    """Whether ``a`` is a dask array (a cached type test; dask is never imported)."""
    return type(a) is not np.ndarray and bool(aac.is_dask_array(a))


def chunked_like(a: Any, x: Any) -> Any:
    """``a`` (same shape as ``x``, or ``(K, *x.shape)``) rechunked so that its trailing axes
    are cut like ``x`` (the leading one, if any, in one chunk per ``x``'s first-axis chunk)."""
    if not is_dask(a) or not is_dask(x):
        return a
    lead = a.ndim - x.ndim
    if lead < 0 or tuple(a.shape[lead:]) != tuple(x.shape):
        return a
    chunks = (*(("auto",) * lead), *x.chunks)
    return a.rechunk(chunks) if tuple(a.chunks[lead:]) != tuple(x.chunks) else a


def flat_chunks(x: Any) -> tuple[int, ...]:
    """The chunks of ``x`` raveled: its blocks in row-major order, each ``prod`` of its sizes
    (for a 1-D ``x``, its own chunks)."""
    if x.ndim == 1:
        return tuple(x.chunks[0])
    if x.ndim == 0:
        return (1,)
    # the blocks of a C-order ravel are contiguous only along the last axis' full extent;
    # rows of blocks (all leading-axis chunks times the whole trailing extent) are.
    rows = x.chunks[0]
    inner = math.prod(x.shape[1:])
    return tuple(r * inner for r in rows)


def map_coordinates(
    task: Callable[..., Any],
    x: Any,
    arrays: tuple[Any, ...],
    y_shape: tuple[int, ...],
    dtype: Any,
    **kwargs: Any,
) -> Any:
    """A lazy ``(x.size, *y_shape)`` dask array, one task per chunk of raveled ``x``.

    Each task is called as ``task(indices, x, *arrays, **kwargs)`` on numpy values:
    ``indices`` are the raveled coordinates of its chunk, ``x`` is ``x`` whole and ``arrays``
    (dask arrays, numpy arrays or other values) are whole too. It returns the chunk's rows,
    ``(len(indices), *y_shape)``. The graph has ``len(chunks)`` tasks plus what builds
    ``x`` and ``arrays``, whatever ``x.size`` is.
    """
    da = sys.modules["dask.array"]
    n = math.prod(x.shape)
    chunks = flat_chunks(x) if n else (0,)
    index = da.arange(n, chunks=(chunks,), dtype=np.int64)
    letters = iter("abcdefghjklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    out_y = "".join(next(letters) for _ in y_shape)
    pairs: list[Any] = [index, "i"]
    for a in (x, *arrays):
        if is_dask(a):  # whole in every task: one block, contracted away
            pairs += [a.rechunk(-1), "".join(next(letters) for _ in range(a.ndim))]
        else:
            pairs += [a, None]
    return da.blockwise(
        task,
        "i" + out_y,
        *pairs,
        new_axes=dict(zip(out_y, y_shape, strict=True)),
        concatenate=True,
        dtype=dtype,
        meta=np.empty((0,) * (1 + len(y_shape)), dtype=dtype),
        **kwargs,
    )

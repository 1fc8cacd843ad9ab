"""``linalg`` of the HIPS autograd Array-API namespace (see :mod:`.namespace`).

``autograd.numpy.linalg`` differentiates ``inv``, ``det``, ``slogdet``, ``solve``,
``cholesky``, ``eigh``, ``svd``, ``pinv`` and ``norm``; the Array-API functions it lacks are
built here from those and from differentiable top-level primitives.
"""

from __future__ import annotations

import math
from typing import Any

import autograd.numpy as anp
import numpy as np
from autograd.tracer import getval

from .namespace import astype, axes_of, matrix_transpose, vecdot

__all__ = ["LINALG"]


def _vector_norm(
    x: Any,
    /,
    *,
    axis: int | tuple[int, ...] | None = None,
    keepdims: bool = False,
    ord: float = 2,
) -> Any:
    shape = np.shape(getval(x))
    axes = axes_of(axis, len(shape))
    a = anp.abs(x)
    if ord == 2:
        out = anp.sqrt(anp.sum(a * a, axis=axes, keepdims=keepdims))
    elif ord == math.inf:
        out = anp.max(a, axis=axes, keepdims=keepdims)
    elif ord == -math.inf:
        out = anp.min(a, axis=axes, keepdims=keepdims)
    elif ord == 0:
        count = np.sum(getval(a) != 0, axis=axes, keepdims=keepdims)
        out = np.asarray(count, dtype=np.result_type(getval(a)))
    else:
        out = anp.sum(a**ord, axis=axes, keepdims=keepdims) ** (1.0 / ord)
    return out


def _matrix_norm(x: Any, /, *, keepdims: bool = False, ord: Any = "fro") -> Any:
    if ord == "fro":
        a = anp.abs(x)
        return anp.sqrt(anp.sum(a * a, axis=(-2, -1), keepdims=keepdims))
    if ord == "nuc":
        out = anp.sum(anp.linalg.svd(x, compute_uv=False), axis=-1)
    elif ord in (2, -2):
        s = anp.linalg.svd(x, compute_uv=False)
        out = anp.max(s, axis=-1) if ord == 2 else anp.min(s, axis=-1)
    elif ord in (1, -1, math.inf, -math.inf):
        sum_axis = -2 if ord in (1, -1) else -1
        sums = anp.sum(anp.abs(x), axis=sum_axis)
        out = anp.max(sums, axis=-1) if ord > 0 else anp.min(sums, axis=-1)
    else:
        msg = f"matrix_norm: unsupported ord={ord!r}"
        raise ValueError(msg)
    return anp.reshape(out, (*np.shape(getval(out)), 1, 1)) if keepdims else out


def _cholesky(x: Any, /, *, upper: bool = False) -> Any:
    lower = anp.linalg.cholesky(x)
    return anp.conj(matrix_transpose(lower)) if upper else lower


def _diagonal(x: Any, /, *, offset: int = 0) -> Any:
    # by indexing: autograd's rule for ``diagonal`` only handles offset 0 of the first axes
    rows, cols = np.shape(getval(x))[-2:]
    start_row, start_col = max(0, -offset), max(0, offset)
    count = max(0, min(rows - start_row, cols - start_col))
    i = np.arange(count)
    return x[..., i + start_row, i + start_col]


def _trace(x: Any, /, *, offset: int = 0, dtype: Any = None) -> Any:
    out = anp.sum(_diagonal(x, offset=offset), axis=-1)
    return out if dtype is None else astype(out, dtype)


def _outer(x1: Any, x2: Any, /) -> Any:
    return anp.reshape(x1, (-1, 1)) * anp.reshape(x2, (1, -1))


def _cross(x1: Any, x2: Any, /, *, axis: int = -1) -> Any:
    return anp.cross(x1, x2, axis=axis)


def _eigvalsh(x: Any, /) -> Any:
    return anp.linalg.eigh(x)[0]


def _svdvals(x: Any, /) -> Any:
    return anp.linalg.svd(x, compute_uv=False)


def _matrix_power(x: Any, n: int, /) -> Any:
    """Binary powering with ``matmul`` (autograd has no ``matrix_power`` rule)."""
    if n < 0:
        return _matrix_power(anp.linalg.inv(x), -n)
    if n == 0:
        shape = np.shape(getval(x))
        eye = np.eye(shape[-1], dtype=np.result_type(getval(x)))
        return np.array(np.broadcast_to(eye, shape))
    result, base = None, x
    while n:
        if n & 1:
            result = base if result is None else anp.matmul(result, base)
        n >>= 1
        if n:
            base = anp.matmul(base, base)
    return result


def _matrix_rank(x: Any, /, *, rtol: Any = None) -> Any:
    return np.linalg.matrix_rank(getval(x), rtol=rtol)


LINALG: dict[str, Any] = {
    "cholesky": _cholesky,
    "cross": _cross,
    "diagonal": _diagonal,
    "eigvalsh": _eigvalsh,
    "matmul": anp.matmul,
    "matrix_norm": _matrix_norm,
    "matrix_power": _matrix_power,
    "matrix_rank": _matrix_rank,
    "matrix_transpose": matrix_transpose,
    "outer": _outer,
    "svdvals": _svdvals,
    "tensordot": anp.tensordot,
    "trace": _trace,
    "vecdot": vecdot,
    "vector_norm": _vector_norm,
}

"""Contractions, linear algebra and FFTs of the tracing namespace.

``matmul`` is the one contraction computed directly. For batch ``b``, output ``(i, k)``
depends on ``a[b, i, j]`` for every ``j`` with ``b[b, j, k]`` possibly nonzero, and on
``b[b, j, k]`` for every ``j`` with ``a[b, i, j]`` possibly nonzero. "Possibly nonzero" uses
known values, so a banded constant matrix stored densely gives a banded pattern. The
triples ``(b, i, j, k)`` are enumerated from whichever operand has fewer possible nonzeros.
When both operands are traced, the Hessian pairs of ``sum_j a_ij b_jk`` summed over all
outputs factor exactly as ``U_a^T U_b`` with ``U_a[b, j] = union_i a[b, i, j]`` and
``U_b[b, j] = union_k b[b, j, k]``. ``tensordot`` and ``vecdot`` reduce to ``matmul`` and to
products and sums.

Factorisations and solvers (``inv``, ``solve``, ``det``, ``eigh``, ...) are treated as dense
per matrix: every output of a matrix depends on every input of that matrix (conservative).
FFTs are dense along their axes, and linear.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _pattern as P
from .core import TracedArray, lift, local_values, nonzero_mask, tape_of, unsupported
from .dtypes import astype
from .elementwise import binary, unary
from .indexing import getitem, remap
from .reduce import reduction
from .shape import broadcast_to, permute_dims, reshape

__all__ = ["dense_op", "fft_op", "matmul", "solve", "tensordot", "vecdot"]


def _contract_rows(pattern: P.Pattern, sources: Any, targets: Any, count: int) -> P.Pattern:
    """Union of ``pattern``'s rows ``sources[t]`` into output rows ``targets[t]``."""
    return P.group_rows(P.select_rows(pattern, sources), targets, count)


def matmul(x1: Any, x2: Any, /) -> TracedArray:
    """``matmul`` with numpy's (and the Array API's) rules for 1-D operands and batches."""
    a, b = lift(x1), lift(x2)
    if a.ndim == 0 or b.ndim == 0:
        msg = "matmul"
        raise unsupported(msg, "Operands must have at least one dimension.")
    squeeze_rows, squeeze_cols = a.ndim == 1, b.ndim == 1
    if squeeze_rows:
        a = reshape(a, (1, a.shape[0]))
    if squeeze_cols:
        b = reshape(b, (b.shape[0], 1))
    batch = tuple(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
    (rows, inner), (inner_b, cols) = a.shape[-2:], b.shape[-2:]
    if inner != inner_b:
        msg = f"matmul: shapes {a.shape} and {b.shape} do not align."
        raise ValueError(msg)
    a = broadcast_to(a, (*batch, rows, inner))
    b = broadcast_to(b, (*batch, inner, cols))
    dtype = np.result_type(a.dtype, b.dtype)
    shape = (*batch, rows, cols)
    if a.value is not None and b.value is not None:
        result = TracedArray(shape, dtype, value=np.matmul(a.value, b.value))
    elif a.pattern is None and b.pattern is None:
        result = TracedArray(shape, dtype)
    else:
        result = _traced_matmul(a, b, shape, dtype)
    va, vb = local_values(a), local_values(b)
    if result.value is None and va is not None and vb is not None:  # local detection
        result.primal = np.matmul(va, vb)
    if squeeze_rows:
        result = getitem(result, (..., 0, slice(None)))
    if squeeze_cols:
        result = getitem(result, (..., 0))
    return result


def _traced_matmul(
    a: TracedArray, b: TracedArray, shape: tuple[int, ...], dtype: Any
) -> TracedArray:
    nb = math.prod(shape[:-2])
    rows, inner, cols = a.shape[-2], a.shape[-1], b.shape[-1]
    mask_a = nonzero_mask(a, a.shape).reshape(nb, rows, inner)
    mask_b = nonzero_mask(b, b.shape).reshape(nb, inner, cols)
    # The triples (batch, i, j, k) of possibly nonzero products a[i, j] * b[j, k].
    if int(mask_a.sum()) * cols <= int(mask_b.sum()) * rows:
        bb, i, j = np.nonzero(mask_a)
        k = np.tile(np.arange(cols), bb.shape[0])
        bb, i, j = (np.repeat(v, cols) for v in (bb, i, j))
        keep = mask_b[bb, j, k]
    else:
        bb, j, k = np.nonzero(mask_b)
        i = np.tile(np.arange(rows), bb.shape[0])
        bb, j, k = (np.repeat(v, rows) for v in (bb, j, k))
        keep = mask_a[bb, i, j]
    bb, i, j, k = bb[keep], i[keep], j[keep], k[keep]
    out = (bb * rows + i) * cols + k
    count = nb * rows * cols
    pattern = None
    if a.pattern is not None:
        pattern = _contract_rows(a.pattern, (bb * rows + i) * inner + j, out, count)
    if b.pattern is not None:
        pattern = P.union(
            pattern, _contract_rows(b.pattern, (bb * inner + j) * cols + k, out, count)
        )
    tape = tape_of(a, b)
    if tape is not None and a.pattern is not None and b.pattern is not None:
        pairs = nb * inner
        a_groups = np.arange(nb)[:, None, None] * inner + np.arange(inner)[None, None, :]
        b_groups = np.arange(nb)[:, None, None] * inner + np.arange(inner)[None, :, None]
        left = P.group_rows(a.pattern, np.broadcast_to(a_groups, (nb, rows, inner)), pairs)
        right = P.group_rows(b.pattern, np.broadcast_to(b_groups, (nb, inner, cols)), pairs)
        tape.record(left, right)
    return TracedArray(shape, dtype, pattern=pattern, tape=tape)


def tensordot(x1: Any, x2: Any, /, *, axes: Any = 2) -> TracedArray:
    """``tensordot``, as a ``matmul`` of the operands reshaped to matrices."""
    a, b = lift(x1), lift(x2)
    if isinstance(axes, int):
        axes_a = list(range(a.ndim - axes, a.ndim))
        axes_b = list(range(axes))
    else:
        axes_a = [int(v) % a.ndim for v in axes[0]]
        axes_b = [int(v) % b.ndim for v in axes[1]]
    free_a = [d for d in range(a.ndim) if d not in axes_a]
    free_b = [d for d in range(b.ndim) if d not in axes_b]
    inner = math.prod(a.shape[d] for d in axes_a)
    left = reshape(
        permute_dims(a, (*free_a, *axes_a)), (math.prod(a.shape[d] for d in free_a), inner)
    )
    right = reshape(
        permute_dims(b, (*axes_b, *free_b)), (inner, math.prod(b.shape[d] for d in free_b))
    )
    shape = tuple(a.shape[d] for d in free_a) + tuple(b.shape[d] for d in free_b)
    return reshape(matmul(left, right), shape, copy=True)


def vecdot(x1: Any, x2: Any, /, *, axis: int = -1) -> TracedArray:
    """``vecdot``: ``sum(conj(x1) * x2, axis)``."""
    a = lift(x1)
    if a.dtype.kind == "c":
        a = unary("conj", a)
    return reduction("linear", np.sum, binary("multiply", a, x2), axis=axis, primal=True)


def outer(x1: Any, x2: Any, /) -> TracedArray:
    """``linalg.outer``."""
    a, b = lift(x1), lift(x2)
    return binary("multiply", reshape(a, (a.size, 1)), reshape(b, (1, b.size)))


def cross(x1: Any, x2: Any, /, *, axis: int = -1) -> TracedArray:
    """``linalg.cross`` of 3-vectors, from its component formula (bilinear)."""
    a, b = lift(x1), lift(x2)

    def part(v: TracedArray, order: list[int]) -> TracedArray:
        index = np.asarray(order)
        return remap(v, lambda e: np.take(e, index, axis=axis))

    return binary(
        "subtract",
        binary("multiply", part(a, [1, 2, 0]), part(b, [2, 0, 1])),
        binary("multiply", part(a, [2, 0, 1]), part(b, [1, 2, 0])),
    )


def trace(x: Any, /, *, offset: int = 0, dtype: Any = None) -> TracedArray:
    """``linalg.trace``: sum of a diagonal (linear)."""
    a = lift(x)
    if a.value is not None:
        value = np.asarray(np.trace(a.value, offset=offset, axis1=-2, axis2=-1, dtype=dtype))
        return TracedArray(value.shape, value.dtype, value=value)
    diag = remap(a, lambda e: np.diagonal(e, offset=offset, axis1=-2, axis2=-1))
    summed = reduction("linear", np.sum, diag, axis=-1, primal=True)
    return summed if dtype is None else astype(summed, dtype)


def vector_norm(
    x: Any, /, *, axis: Any = None, keepdims: bool = False, ord: Any = 2
) -> TracedArray:
    """``linalg.vector_norm``: 1 and infinity norms are piecewise linear, 0 counts."""
    kind = "nonlinear"
    if ord in (1, math.inf, -math.inf):
        kind = "piecewise"
    elif ord == 0:
        kind = "zero"
    return reduction(
        kind,
        lambda v, **k: np.linalg.vector_norm(v, ord=ord, **k),
        x,
        axis,
        keepdims,
        primal=True,
    )


#: name -> (numpy function, number of matrix operands, linear in the last operand if the
#: others are constants)
DENSE: dict[str, tuple[Callable[..., Any], int, bool]] = {
    "inv": (np.linalg.inv, 1, False),
    "det": (np.linalg.det, 1, False),
    "slogdet": (np.linalg.slogdet, 1, False),
    "cholesky": (np.linalg.cholesky, 1, False),
    "eigh": (np.linalg.eigh, 1, False),
    "eigvalsh": (np.linalg.eigvalsh, 1, False),
    "qr": (np.linalg.qr, 1, False),
    "svd": (np.linalg.svd, 1, False),
    "svdvals": (np.linalg.svdvals, 1, False),
    "pinv": (np.linalg.pinv, 1, False),
    "matrix_norm": (np.linalg.matrix_norm, 1, False),
    "matrix_power": (np.linalg.matrix_power, 1, False),
    "solve": (np.linalg.solve, 2, True),
}


def dense_op(name: str, *args: Any, **options: Any) -> Any:
    """A linear-algebra function, dense per matrix (see the module docstring)."""
    function, count, linear_in_last = DENSE[name]
    operands = [lift(v) for v in args[:count]]
    rest = args[count:]
    if all(o.value is not None for o in operands):
        results = function(*(o.value for o in operands), *rest, **options)
        return _wrap(
            results, lambda r: TracedArray(np.shape(r), np.asarray(r).dtype, value=np.asarray(r))
        )
    with np.errstate(all="ignore"):
        samples = function(*(_sample(o) for o in operands), *rest, **options)
    if all(o.pattern is None for o in operands):
        return _wrap(samples, lambda r: TracedArray(np.shape(r), np.asarray(r).dtype))
    batch = tuple(np.broadcast_shapes(*(o.shape[:-2] for o in operands if o.ndim >= 2)))
    nb = math.prod(batch)
    pooled: P.Pattern | None = None
    for o in operands:
        if o.pattern is None:
            continue
        lead = o.shape[:-2] if o.ndim >= 2 else ()
        per_batch = np.broadcast_to(np.arange(nb).reshape(batch), (*batch,))
        source = np.broadcast_to(
            np.arange(o.size).reshape(o.shape), (*batch, *o.shape[len(lead) :])
        ).reshape(nb, -1)
        groups = np.broadcast_to(per_batch.reshape(nb, 1), source.shape)
        rows = P.group_rows(P.select_rows(o.pattern, source.reshape(-1)), groups.reshape(-1), nb)
        pooled = P.union(pooled, rows)
    tape = tape_of(*operands)
    nonlinear = not (linear_in_last and all(o.pattern is None for o in operands[:-1]))
    if nonlinear and name == "matrix_power":
        nonlinear = rest[0] not in (0, 1) if rest else options.get("n") not in (0, 1)
    if tape is not None and nonlinear:
        tape.record(pooled, pooled)

    def spread(r: Any) -> TracedArray:
        shape = np.shape(r)
        size = math.prod(shape)
        per = size // nb if nb else 0
        source = np.repeat(np.arange(nb), per)
        return TracedArray(
            shape, np.asarray(r).dtype, pattern=P.select_rows(pooled, source), tape=tape
        )

    return _wrap(samples, spread)


def solve(x1: Any, x2: Any, /) -> Any:
    """``linalg.solve``: dense per matrix, but when the matrix does not depend on the input,
    linear in ``x2`` and column by column (``x2`` is a vector only if it is 1-D)."""
    a, b = lift(x1), lift(x2)
    if a.pattern is not None or b.pattern is None:
        return dense_op("solve", a, b)
    with np.errstate(all="ignore"):
        sample = np.asarray(np.linalg.solve(_sample(a), np.zeros(b.shape, dtype=b.dtype)))
    pooled = reduction("linear", np.sum, b, axis=0 if b.ndim == 1 else -2, keepdims=True)
    source = np.broadcast_to(np.arange(pooled.size).reshape(pooled.shape), sample.shape)
    pattern = P.select_rows(pooled.rows(), source.reshape(-1))
    return TracedArray(sample.shape, sample.dtype, pattern=pattern, tape=b.tape)


def _sample(o: TracedArray) -> Any:
    """Harmless values of ``o``'s shape for numpy to tell result shapes and dtypes."""
    if o.value is not None:
        return o.value
    value = np.zeros(o.shape, dtype=o.dtype)
    if o.ndim >= 2 and o.shape[-1] == o.shape[-2]:
        value = value + np.eye(o.shape[-1], dtype=o.dtype)  # invertible, positive definite
    return value


def _wrap(results: Any, make: Callable[[Any], TracedArray]) -> Any:
    if isinstance(results, tuple):  # named tuples of numpy (eigh, qr, svd, slogdet)
        parts = [make(r) for r in results]
        kind: Any = type(results)
        return kind(*parts) if hasattr(results, "_fields") else tuple(parts)
    return make(results)


#: The FFTs of the standard (``fft`` of the namespace).
FFT: dict[str, Callable[..., Any]] = {
    name: getattr(np.fft, name)
    for name in (
        "fft",
        "ifft",
        "fftn",
        "ifftn",
        "rfft",
        "irfft",
        "rfftn",
        "irfftn",
        "hfft",
        "ihfft",
    )
}

#: numpy's two-dimensional FFTs, reachable through numpy only.
_FFT_2D: dict[str, Callable[..., Any]] = {
    name: getattr(np.fft, name) for name in ("fft2", "ifft2", "rfft2", "irfft2")
}

_ONE_DIMENSIONAL = frozenset(["fft", "ifft", "rfft", "irfft", "hfft", "ihfft"])
#: complex-to-real transforms: the last axis of the output of length n reads n // 2 + 1
#: input elements
_TO_REAL = frozenset(["irfft", "hfft", "irfftn", "irfft2"])


def _fft_axes(name: str, ndim: int, options: dict[str, Any]) -> list[tuple[int, int | None]]:
    """The transformed axes of an FFT, each with its requested length (``None``: kept)."""
    if name in _ONE_DIMENSIONAL:
        return [(options.get("axis", -1) % ndim, options.get("n"))]
    sizes, axes = options.get("s"), options.get("axes")
    if axes is None:
        if name in _FFT_2D:
            axes = (-2, -1)
        else:  # numpy: every axis, or the last len(s) if s is given
            axes = range(ndim) if sizes is None else range(ndim - len(sizes), ndim)
    axes = [a % ndim for a in axes]
    return list(zip(axes, [None] * len(axes) if sizes is None else sizes, strict=True))


def fft_op(name: str, x: Any, /, **options: Any) -> TracedArray:
    """An FFT with numpy's options (``n``/``axis`` or ``s``/``axes``, ``norm``): linear,
    and dense along its axes over the input elements it reads (``n`` may crop them)."""
    a = lift(x)
    function = FFT.get(name) or _FFT_2D[name]
    if a.value is not None:
        value = np.asarray(function(a.value, **options))
        return TracedArray(value.shape, value.dtype, value=value)
    sample = np.asarray(function(np.zeros(a.shape, dtype=a.dtype), **options))
    if a.pattern is None:
        return TracedArray(sample.shape, sample.dtype)
    transformed = _fft_axes(name, a.ndim, options)
    read = [slice(None)] * a.ndim
    for i, (axis, size) in enumerate(transformed):
        if size is not None:
            last = i == len(transformed) - 1
            read[axis] = slice(0, size // 2 + 1 if name in _TO_REAL and last else size)
    cropped = getitem(a, tuple(read))
    axes = tuple(sorted({axis for axis, _ in transformed}))
    pooled = reduction("linear", np.sum, cropped, axis=axes, keepdims=True)
    source = np.broadcast_to(np.arange(pooled.size).reshape(pooled.shape), sample.shape)
    pattern = P.select_rows(pooled.rows(), source.reshape(-1))
    return TracedArray(sample.shape, sample.dtype, pattern=pattern, tape=a.tape)

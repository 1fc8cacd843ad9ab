"""numpy's products, ``numpy.linalg`` and ``numpy.fft`` on traced arrays, numpy's meaning.

Products reduce to :func:`~.linalg.matmul` and :func:`~.linalg.tensordot` with numpy's
conventions: ``np.dot`` contracts the last axis of ``a`` with the second-to-last of ``b``,
``np.inner`` the last axes of both, ``np.vdot`` and ``np.outer`` flatten, ``np.trace``
takes axes 0 and 1 (``np.linalg.trace`` the last two), ``np.tensordot`` takes an integer
or a pair of axes. Factorisations and solvers are dense per matrix (see :mod:`.linalg`),
with numpy's own function and the caller's options run on samples for the result's shapes.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ...errors import ArgumentValueError
from . import elementwise as E
from . import linalg as L
from . import reduce as R
from .core import TracedArray, constant, lift, unsupported
from .dtypes import astype
from .indexing import remap
from .numpy_dispatch import NumpyCall, implements
from .numpy_moves import ravel
from .shape import moveaxis, reshape

__all__: list[str] = []


def _aligned(name: str, a: TracedArray, b: TracedArray, axis_a: int, axis_b: int) -> None:
    if a.shape[axis_a] != b.shape[axis_b]:
        msg = f"{name}: shapes {a.shape} and {b.shape} not aligned."
        raise ArgumentValueError(msg)


@implements("dot")
def _dot(a: Any, b: Any) -> TracedArray:
    x, y = lift(a), lift(b)
    if x.ndim == 0 or y.ndim == 0:
        return E.binary("multiply", x, y)
    if x.ndim <= 2 and y.ndim <= 2:
        return L.matmul(x, y)
    contracted = y.ndim - 2 if y.ndim >= 2 else 0
    _aligned("numpy.dot", x, y, -1, contracted)
    return L.tensordot(x, y, axes=([x.ndim - 1], [contracted]))


@implements("vdot")
def _vdot(a: Any, b: Any) -> TracedArray:
    x, y = ravel(a), ravel(b)
    _aligned("numpy.vdot", x, y, 0, 0)
    return L.vecdot(x, y)  # conjugates a, as numpy does


@implements("inner")
def _inner(a: Any, b: Any) -> TracedArray:
    x, y = lift(a), lift(b)
    if x.ndim == 0 or y.ndim == 0:
        return E.binary("multiply", x, y)
    _aligned("numpy.inner", x, y, -1, -1)
    return L.tensordot(x, y, axes=([x.ndim - 1], [y.ndim - 1]))


@implements("outer")
def _outer(a: Any, b: Any) -> TracedArray:
    return L.outer(a, b)  # flattens both, as numpy does


@implements("linalg.outer")
def _linalg_outer(x1: Any, x2: Any) -> TracedArray:
    a, b = lift(x1), lift(x2)
    if a.ndim != 1 or b.ndim != 1:
        msg = "numpy.linalg.outer: input arrays must be one-dimensional."
        raise ArgumentValueError(msg)
    return L.outer(a, b)


@implements("kron")
def _kron(a: Any, b: Any) -> TracedArray:
    x, y = lift(a), lift(b)
    ndim = max(x.ndim, y.ndim)
    xs, ys = (1,) * (ndim - x.ndim) + x.shape, (1,) * (ndim - y.ndim) + y.shape
    # Interleave the axes: x[i0, 1, i1, 1, ...] * y[1, j0, 1, j1, ...], then merge the pairs.
    spread_x = reshape(x, tuple(v for d in xs for v in (d, 1)))
    spread_y = reshape(y, tuple(v for d in ys for v in (1, d)))
    product = E.binary("multiply", spread_x, spread_y)
    return reshape(product, tuple(p * q for p, q in zip(xs, ys, strict=True)), copy=True)


def _tensordot_axes(axes: Any) -> Any:
    """numpy's ``axes`` (an integer, or a pair of integers or sequences) for L.tensordot."""
    if isinstance(axes, int | np.integer):
        return int(axes)
    axes_a, axes_b = axes
    return (_axis_list(axes_a), _axis_list(axes_b))


def _axis_list(axes: Any) -> list[int]:
    return [int(axes)] if isinstance(axes, int | np.integer) else [int(i) for i in axes]


@implements("tensordot")
def _tensordot(a: Any, b: Any, axes: Any = 2) -> TracedArray:
    x, y = lift(a), lift(b)
    normalized = _tensordot_axes(axes)
    if isinstance(normalized, int):
        if normalized < 0 or normalized > min(x.ndim, y.ndim):
            msg = f"numpy.tensordot: cannot contract {normalized} axes of {x.shape}, {y.shape}."
            raise ArgumentValueError(msg)
        normalized = (list(range(x.ndim - normalized, x.ndim)), list(range(normalized)))
    axes_a, axes_b = normalized
    if len(axes_a) != len(axes_b) or any(
        x.shape[i] != y.shape[j] for i, j in zip(axes_a, axes_b, strict=False)
    ):
        msg = f"numpy.tensordot: shape mismatch for sum over axes {axes} of {x.shape}, {y.shape}."
        raise ArgumentValueError(msg)
    return L.tensordot(x, y, axes=normalized)


@implements("linalg.tensordot")
def _linalg_tensordot(x1: Any, x2: Any, axes: Any = 2) -> TracedArray:
    return _tensordot(x1, x2, axes)


@implements("linalg.matmul")
def _linalg_matmul(x1: Any, x2: Any) -> TracedArray:
    return L.matmul(x1, x2)


@implements("linalg.vecdot")
def _linalg_vecdot(x1: Any, x2: Any, axis: int = -1) -> TracedArray:
    return L.vecdot(x1, x2, axis=axis)


@implements("linalg.multi_dot")
def _multi_dot(arrays: Any) -> TracedArray:
    operands = [lift(a) for a in arrays]
    if len(operands) < 2:
        msg = "numpy.linalg.multi_dot: expecting at least two arrays."
        raise ArgumentValueError(msg)
    ends_ok = operands[0].ndim in (1, 2) and operands[-1].ndim in (1, 2)
    if not ends_ok or any(o.ndim != 2 for o in operands[1:-1]):
        msg = (
            "numpy.linalg.multi_dot: the first and last arrays must be 1-D or 2-D, the others 2-D."
        )
        raise ArgumentValueError(msg)
    return functools.reduce(L.matmul, operands)


@implements("cross")
def _cross(
    a: Any, b: Any, axisa: int = -1, axisb: int = -1, axisc: int = -1, axis: int | None = None
) -> TracedArray:
    if axis is not None:
        axisa = axisb = axisc = axis
    x, y = moveaxis(lift(a), axisa, -1), moveaxis(lift(b), axisb, -1)
    if x.shape[-1] != 3 or y.shape[-1] != 3:
        msg = "numpy.cross"
        raise unsupported(
            msg,
            "Only 3-vectors are implemented (numpy deprecates 2-vectors): append a zero component.",
        )
    return moveaxis(L.cross(x, y, axis=-1), -1, axisc)


@implements("linalg.cross")
def _linalg_cross(x1: Any, x2: Any, axis: int = -1) -> TracedArray:
    a, b = lift(x1), lift(x2)
    if a.shape[axis] != 3 or b.shape[axis] != 3:
        msg = "numpy.linalg.cross: both inputs must be 3-vectors along the axis."
        raise ArgumentValueError(msg)
    return L.cross(a, b, axis=axis)


def _summed_diagonal(a: Any, offset: int, axis1: int, axis2: int, dtype: Any) -> TracedArray:
    diagonal = remap(a, lambda e: np.diagonal(e, offset=offset, axis1=axis1, axis2=axis2))
    summed = R.reduction("linear", np.sum, diagonal, axis=-1)
    return summed if dtype is None else astype(summed, dtype)


@implements("trace")
def _trace(
    a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: Any = None
) -> TracedArray:
    x = lift(a)
    if x.value is not None:
        return constant(np.trace(x.value, offset, axis1, axis2, dtype))
    return _summed_diagonal(x, offset, axis1, axis2, dtype)


@implements("linalg.trace")
def _linalg_trace(x: Any, offset: int = 0, dtype: Any = None) -> TracedArray:
    return L.trace(x, offset=offset, dtype=dtype)


def _dense(name: str, operands: tuple[str, ...]) -> Callable[[NumpyCall], Any]:
    def dense(call: NumpyCall) -> Any:
        matrices = [call.arguments[o] for o in operands]
        options = {k: call.value(k) for k in call.arguments if k not in operands}
        return L.dense_op(name, *matrices, **options)

    return dense


#: numpy.linalg functions dense per matrix: (name, matrix arguments, other arguments)
_DENSE = [
    ("inv", ("a",), ()),
    ("det", ("a",), ()),
    ("slogdet", ("a",), ()),
    ("cholesky", ("a",), ("upper",)),
    ("eigh", ("a",), ("UPLO",)),
    ("eigvalsh", ("a",), ("UPLO",)),
    ("qr", ("a",), ("mode",)),
    ("svd", ("a",), ("full_matrices", "compute_uv", "hermitian")),
    ("svdvals", ("x",), ()),
    ("pinv", ("a",), ("rcond", "hermitian", "rtol")),
    ("matrix_norm", ("x",), ("keepdims", "ord")),
    ("matrix_power", ("a",), ("n",)),
]

for _name, _operands, _options in _DENSE:
    implements(f"linalg.{_name}", arguments=_operands + _options)(_dense(_name, _operands))


@implements("linalg.solve")
def _solve(a: Any, b: Any) -> Any:
    return L.solve(a, b)


@implements("linalg.vector_norm")
def _vector_norm(x: Any, axis: Any = None, keepdims: bool = False, ord: Any = 2) -> TracedArray:
    return L.vector_norm(x, axis=axis, keepdims=keepdims, ord=ord)


def _norm_kind(ord: Any, matrix: bool) -> str:
    """How a norm propagates patterns (see :mod:`.reduce`)."""
    if matrix:
        return "piecewise" if ord in (1, -1, math.inf, -math.inf) else "nonlinear"
    if ord in (1, math.inf, -math.inf):
        return "piecewise"
    return "zero" if ord == 0 else "nonlinear"


@implements("linalg.norm")
def _norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> TracedArray:
    a = lift(x)
    if a.value is not None:
        return constant(np.linalg.norm(a.value, ord, axis, keepdims))
    # numpy checks ord and axis on a one-element sample, and tells the dtype.
    sample = np.asarray(np.linalg.norm(np.zeros((1,) * a.ndim, a.dtype), ord, axis, keepdims))
    if axis is None:
        axes = tuple(range(a.ndim))
    elif isinstance(axis, int | np.integer):
        axes = (int(axis),)
    else:
        axes = tuple(int(v) for v in axis)
    matrix = len(axes) == 2 and ord is not None
    reduced = R.reduction(_norm_kind(ord, matrix), np.sum, a, axes, keepdims)
    if reduced.pattern is None:
        return TracedArray(reduced.shape, sample.dtype)
    return TracedArray(reduced.shape, sample.dtype, pattern=reduced.pattern, tape=reduced.tape)


def _fft(name: str, arguments: tuple[str, ...]) -> Callable[[NumpyCall], Any]:
    def fft(call: NumpyCall) -> Any:
        options = {k: call.value(k) for k in arguments[1:] if k in call.arguments}
        return L.fft_op(name, call.arguments["a"], **options)

    return fft


_FFT_1D = ("a", "n", "axis", "norm")
_FFT_ND = ("a", "s", "axes", "norm")

for _name in ("fft", "ifft", "rfft", "irfft", "hfft", "ihfft"):
    implements(f"fft.{_name}", arguments=_FFT_1D)(_fft(_name, _FFT_1D))
for _name in ("fftn", "ifftn", "rfftn", "irfftn", "fft2", "ifft2", "rfft2", "irfft2"):
    implements(f"fft.{_name}", arguments=_FFT_ND)(_fft(_name, _FFT_ND))

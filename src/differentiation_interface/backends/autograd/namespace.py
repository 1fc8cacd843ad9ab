"""The Array-API namespace that functions see when HIPS autograd differentiates them.

Inside an autograd trace, ``array_namespace(box)`` normally returns
``autograd.numpy.numpy_wrapper``. That module wraps numpy's top level only: its ``linalg`` and
``fft`` attributes are the *raw* numpy submodules, which fail on boxes (``UFuncTypeError ...
dtype('O')``), and several Array-API functions new in numpy 2 (``vecdot``,
``cumulative_sum``, ``matrix_transpose``, ``take``, ...) are wrapped primitives without a
derivative rule. ``std``/``var`` accept ``correction=`` but autograd's rules ignore it, which
gives silently wrong derivatives.

:func:`build_namespace` returns a module-like namespace made of ``autograd.numpy`` (every
primitive keeps its derivative rules) with:

* ``linalg`` and ``fft`` sub-namespaces (:mod:`.linalg`, :mod:`.fft`)
  built on ``autograd.numpy.linalg`` / ``.fft``, plus the Array-API functions those lack
  (``vector_norm``, ``matrix_norm``, ``svdvals``, ``eigvalsh``, ``hfft``, ...), and real FFTs
  rebuilt from complex ones (autograd's own real-FFT rules are wrong for some lengths and
  ``norm`` spellings);
* the Array-API functions autograd has no rule for, re-expressed through primitives that have
  one (indexing, ``swapaxes``, ``cumsum``, ``sum`` ...), so both reverse and forward mode work;
* ``std``/``var`` mapping ``correction`` to ``ddof``, which autograd's rules honour;
* ``sort``/``argsort`` with the Array API's ``descending`` (numpy's lack it), sorting by
  indexing.

Functions with no derivative at all (``unique_values``, ``qr``, ...) are left as they are: using
them raises, and the engine turns the error into a clear
:class:`~differentiation_interface.UnsupportedOperationError`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import array_api_compat.numpy
import autograd.numpy as anp
import numpy as np
from autograd.tracer import getval, isbox

from ..._array import DTYPE_NAMES

__all__ = [
    "astype",
    "axes_of",
    "axis_of",
    "build_namespace",
    "flip",
    "index_along",
    "matrix_transpose",
    "vecdot",
]

_astype = anp.numpy_wrapper._astype  # the differentiable astype (not re-exported by anp)
# array-api-compat's numpy namespace re-exports its functions dynamically (typed as Any here)
compat_numpy: Any = array_api_compat.numpy

#: Array-API version the namespace reports (numpy 2's own level).
API_VERSION = "2023.12"

# Array-API names numpy < 2 lacks, as aliases of autograd's differentiable primitives.
_ALIASES = {
    "acos": "arccos",
    "acosh": "arccosh",
    "asin": "arcsin",
    "asinh": "arcsinh",
    "atan": "arctan",
    "atan2": "arctan2",
    "atanh": "arctanh",
    "pow": "power",
}


def axis_of(axis: int, ndim: int) -> int:
    """A possibly negative axis as a non-negative one."""
    return operator.index(axis) % max(ndim, 1)


def axes_of(axis: int | Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    """An Array-API ``axis`` argument (``None``, an int or a sequence) as a tuple of axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        return (axis_of(axis, ndim),)
    return tuple(axis_of(a, ndim) for a in axis)


def _has_box(obj: Any) -> bool:
    if isbox(obj):
        return True
    if isinstance(obj, list | tuple):
        return any(_has_box(o) for o in obj)
    return False


def _is_complex(x: Any) -> bool:
    return bool(np.iscomplexobj(getval(x)))


# --- creation and conversion ------------------------------------------------------------------


def asarray(obj: Any, /, *, dtype: Any = None, device: Any = None, copy: bool | None = None) -> Any:
    """``asarray`` that keeps boxes (and lists of boxes) differentiable."""
    if isbox(obj):
        return obj if dtype is None or obj.dtype == dtype else _astype(obj, dtype)
    if isinstance(obj, list | tuple) and _has_box(obj):
        out = anp.array(obj)
        return out if dtype is None else _astype(out, dtype)
    return compat_numpy.asarray(obj, dtype=dtype, device=device, copy=copy)


def astype(x: Any, dtype: Any, /, *, copy: bool = True, device: Any = None) -> Any:
    """``astype``; boxes are immutable, so ``copy`` never matters for them."""
    if isbox(x):
        return x if x.dtype == dtype else _astype(x, dtype)
    return compat_numpy.astype(x, dtype, copy=copy, device=device)


def _constant_like(make: Callable[..., Any]) -> Callable[..., Any]:
    """``make(x, ...)`` on the value inside a box: the result does not depend on ``x``."""

    def like(x: Any, /, *args: Any, dtype: Any = None, device: Any = None) -> Any:
        return make(getval(x), *args, dtype=dtype, device=device)

    like.__name__ = make.__name__
    return like


# --- manipulation -----------------------------------------------------------------------------


def concat(arrays: Sequence[Any], /, *, axis: int | None = 0) -> Any:
    """``concat`` through autograd's differentiable ``concatenate``."""
    if axis is None:
        return anp.concatenate([anp.reshape(a, (-1,)) for a in arrays], axis=0)
    return anp.concatenate(list(arrays), axis=axis)


def matrix_transpose(x: Any, /) -> Any:
    """Swap the last two axes."""
    return anp.swapaxes(x, -1, -2)


def permute_dims(x: Any, /, axes: tuple[int, ...]) -> Any:
    """Permute the axes (``transpose``)."""
    return anp.transpose(x, axes)


def broadcast_to(x: Any, /, shape: tuple[int, ...]) -> Any:
    """Broadcast; leading axes are added by ``reshape`` first (autograd's rule cannot)."""
    shape = tuple(shape)
    ndim = len(np.shape(getval(x)))
    if ndim < len(shape):
        x = anp.reshape(x, (1,) * (len(shape) - ndim) + tuple(np.shape(getval(x))))
    return anp.broadcast_to(x, shape)


def broadcast_arrays(*arrays: Any) -> list[Any]:
    """Broadcast against each other."""
    shape = np.broadcast_shapes(*(np.shape(getval(a)) for a in arrays))
    return [broadcast_to(a, shape) for a in arrays]


def index_along(axis: int, index: Any) -> tuple[Any, ...]:
    """The index selecting ``index`` along ``axis`` (``x[index_along(...)]``)."""
    return (slice(None),) * axis + (index,)


def take(x: Any, indices: Any, /, *, axis: int | None = None) -> Any:
    """``take`` as indexing (autograd differentiates ``__getitem__``)."""
    indices = np.asarray(getval(indices))
    if axis is None:
        return anp.reshape(x, (-1,))[indices]
    ndim = len(np.shape(getval(x)))
    return x[index_along(axis_of(axis, ndim), indices)]


def take_along_axis(x: Any, indices: Any, /, *, axis: int = -1) -> Any:
    """``take_along_axis`` as one fancy index."""
    indices = np.asarray(getval(indices))
    shape = np.shape(getval(x))
    ax = axis_of(axis, len(shape))
    index = []
    for d, n in enumerate(shape):
        if d == ax:
            index.append(indices)
        else:
            grid = [1] * len(shape)
            grid[d] = n
            index.append(np.arange(n).reshape(grid))
    return x[tuple(index)]


def argsort(x: Any, /, *, axis: int = -1, descending: bool = False, stable: bool = True) -> Any:
    """Array-API ``argsort`` (numpy's lacks ``descending``): stable either way, equal
    elements keep their order when sorting descending too."""
    values = np.asarray(getval(x))
    ax = axis_of(axis, values.ndim)
    if not descending:
        return np.argsort(values, axis=ax, kind="stable")
    flipped = np.argsort(np.flip(values, axis=ax), axis=ax, kind="stable")
    return values.shape[ax] - 1 - np.flip(flipped, axis=ax)


def sort(x: Any, /, *, axis: int = -1, descending: bool = False, stable: bool = True) -> Any:
    """Array-API ``sort``, as indexing by :func:`argsort` (autograd differentiates it)."""
    indices = argsort(x, axis=axis, descending=descending, stable=stable)
    return take_along_axis(x, indices, axis=axis)


def flip(x: Any, /, *, axis: int | Sequence[int] | None = None) -> Any:
    """Reverse along axes, by indexing."""
    ndim = len(np.shape(getval(x)))
    axes = axes_of(axis, ndim)
    return x[tuple(slice(None, None, -1) if d in axes else slice(None) for d in range(ndim))]


def unstack(x: Any, /, *, axis: int = 0) -> tuple[Any, ...]:
    """Split along an axis into a tuple of views."""
    ndim = len(np.shape(getval(x)))
    ax = axis_of(axis, ndim)
    return tuple(x[index_along(ax, k)] for k in range(np.shape(getval(x))[ax]))


def clip(x: Any, /, min: Any = None, max: Any = None) -> Any:
    """``clip`` with positional bounds (autograd's rule rejects ``min=``/``max=``)."""
    if min is None and max is None:
        return x
    return anp.clip(x, min, max)


def copysign(x1: Any, x2: Any, /) -> Any:
    """``|x1|`` with the sign of ``x2`` (whose derivative is zero almost everywhere)."""
    dtype = np.result_type(getval(x1), getval(x2))
    sign = np.copysign(np.ones((), dtype=dtype), getval(x2))
    return anp.abs(x1) * sign


def positive(x: Any, /) -> Any:
    """``+x``."""
    return x


# --- reductions and scans ---------------------------------------------------------------------


def vecdot(x1: Any, x2: Any, /, *, axis: int = -1) -> Any:
    """``sum(conj(x1) * x2, axis)``."""
    if _is_complex(x1):
        x1 = anp.conj(x1)
    return anp.sum(x1 * x2, axis=axis)


def _scanaxis_of(x: Any, axis: int | None) -> int:
    ndim = len(np.shape(getval(x)))
    if axis is None:
        if ndim != 1:
            msg = f"axis=None needs a 1-d array; got {ndim} dimensions"
            raise ValueError(msg)
        return 0
    return axis_of(axis, ndim)


def _with_initial(x: Any, out: Any, axis: int, value: float) -> Any:
    shape = list(np.shape(getval(out)))
    shape[axis] = 1
    first = np.full(shape, value, dtype=np.result_type(getval(out)))
    return anp.concatenate([first, out], axis=axis)


def cumulative_sum(
    x: Any, /, *, axis: int | None = None, dtype: Any = None, include_initial: bool = False
) -> Any:
    """``cumsum`` (which autograd differentiates) with the Array-API options."""
    ax = _scanaxis_of(x, axis)
    if dtype is not None:
        x = astype(x, dtype)
    out = anp.cumsum(x, axis=ax)
    return _with_initial(x, out, ax, 0.0) if include_initial else out


def cumulative_prod(
    x: Any, /, *, axis: int | None = None, dtype: Any = None, include_initial: bool = False
) -> Any:
    """Running products as a chain of multiplications (autograd has no ``cumprod`` rule).

    Exact at zeros, unlike a ``prod / x`` rule; costs one multiplication per slice.
    """
    ax = _scanaxis_of(x, axis)
    if dtype is not None:
        x = astype(x, dtype)
    running: list[Any] = []
    for part in unstack(x, axis=ax):
        running.append(part if not running else running[-1] * part)
    out = anp.stack(running, axis=ax) if running else x
    return _with_initial(x, out, ax, 1.0) if include_initial else out


def std(
    x: Any,
    /,
    *,
    axis: int | tuple[int, ...] | None = None,
    correction: float = 0.0,
    keepdims: bool = False,
) -> Any:
    """Standard deviation; ``correction`` goes to ``ddof``, which autograd's rules honour."""
    return anp.std(x, axis=axis, ddof=correction, keepdims=keepdims)


def var(
    x: Any,
    /,
    *,
    axis: int | tuple[int, ...] | None = None,
    correction: float = 0.0,
    keepdims: bool = False,
) -> Any:
    """Variance; ``correction`` goes to ``ddof``, which autograd's rules honour."""
    return anp.var(x, axis=axis, ddof=correction, keepdims=keepdims)


# --- assembly ---------------------------------------------------------------------------------

_TOP: dict[str, Any] = {
    "argsort": argsort,
    "asarray": asarray,
    "astype": astype,
    "broadcast_arrays": broadcast_arrays,
    "broadcast_to": broadcast_to,
    "clip": clip,
    "concat": concat,
    "copysign": copysign,
    "cumulative_prod": cumulative_prod,
    "cumulative_sum": cumulative_sum,
    "empty_like": _constant_like(compat_numpy.empty_like),
    "flip": flip,
    "full_like": _constant_like(compat_numpy.full_like),
    "matrix_transpose": matrix_transpose,
    "ones_like": _constant_like(compat_numpy.ones_like),
    "permute_dims": permute_dims,
    "positive": positive,
    "sort": sort,
    "std": std,
    "take": take,
    "take_along_axis": take_along_axis,
    "unstack": unstack,
    "var": var,
    "vecdot": vecdot,
    "zeros_like": _constant_like(compat_numpy.zeros_like),
}


def _namespace(name: str, base: ModuleType, overrides: dict[str, Any], doc: str) -> ModuleType:
    module = ModuleType(name, doc)
    module.__dict__.update({k: v for k, v in vars(base).items() if not k.startswith("__")})
    module.__dict__.update(overrides)
    return module


def build_namespace() -> ModuleType:
    """A fresh Array-API namespace over ``autograd.numpy`` (see the module docstring).

    Returns
    -------
    ModuleType
        The namespace, with ``linalg`` and ``fft`` sub-namespaces.
    """
    name = "differentiation_interface.autograd_array_api"
    top = dict(_TOP)
    # numpy_wrapper replaces integer dtypes by subclasses (so that ``anp.int64(box)`` works);
    # Array-API code only uses dtypes as dtypes, so it gets numpy's own objects.
    top.update({d: getattr(np, d) for d in DTYPE_NAMES})
    from .fft import FFT  # these import this module's helpers
    from .linalg import LINALG

    top["linalg"] = _namespace(
        f"{name}.linalg", anp.linalg, LINALG, "autograd.numpy.linalg with Array-API names."
    )
    top["fft"] = _namespace(f"{name}.fft", anp.fft, FFT, "autograd.numpy.fft with Array-API names.")
    top["__array_api_version__"] = API_VERSION
    for alias, target in _ALIASES.items():
        if not hasattr(anp, alias):
            top[alias] = getattr(anp, target)
    # anything else numpy < 2 lacks: array-api-compat's version (no derivative rule needed
    # for the creation, inspection and integer functions this leaves)
    for attr in dir(compat_numpy):
        if not attr.startswith("_") and attr not in top and not hasattr(anp, attr):
            top[attr] = getattr(compat_numpy, attr)
    return _namespace(name, anp, top, "autograd.numpy as an Array-API namespace.")

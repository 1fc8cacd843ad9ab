"""Getting a caller's arrays into HIPS autograd (numpy) and its results back out.

numpy callers pay nothing: their arrays are what autograd works on. Every other namespace
(array-api-strict on any device, torch CPU, JAX, dask) goes through host numpy with the array
layer's helpers, zero-copy where that is safe, and results are converted back to the caller's
namespace and device. Results are always fresh and writable: autograd may hand back its seed,
a read-only broadcast view or, for identity-like functions, the input itself, and it returns
numpy scalars for 0-d results; all of these are copied or wrapped into new arrays.

When a plan runs inside another autograd trace (second-order compositions), ``x`` is an
``ArrayBox``: nothing is converted and boxes are returned as they are, so the outer trace can
differentiate through the plan.

The adapter, :class:`CallerIO` (one per preparation), has the vocabulary every engine
computing outside the caller's namespace shares (``io.py`` of the JAX and torch engines):
``put`` takes caller arrays to the engine (here ``x`` and the contexts; ``put_seeds`` the
stacked tangents), ``back`` brings a result to a fresh array of the caller's namespace and
device (``back_owned`` for an array the plan made itself, ``back_stacked`` for a batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import autograd.numpy as anp
import numpy as np

from ..._array import (
    device_of,
    from_numpy,
    is_array,
    is_numpy_namespace,
    namespace_of,
    refuse_foreign,
    refuse_meta,
    to_numpy,
)
from ...errors import ArgumentTypeError
from .trace import getval, isbox

__all__ = ["CallerIO", "check_dtype", "host", "read_only", "stack"]

# The dtypes autograd differentiates (numpy's floating and complex types; no bfloat16).
_SUPPORTED = frozenset(
    ("float16", "float32", "float64", "float128", "complex64", "complex128", "complex256")
)


def _dtype_name(dtype: Any) -> str:
    # "float64", "torch.float64", "array_api_strict.float64", "bfloat16" -> the last part
    return str(getattr(dtype, "name", None) or dtype).rsplit(".", 1)[-1]


def check_dtype(op: str, what: str, dtype: Any) -> None:
    """Raise a clear ``TypeError`` for dtypes autograd cannot handle (bfloat16, ...)."""
    name = _dtype_name(dtype)
    if name not in _SUPPORTED:
        msg = (
            f"`{op}` with AutoAutograd() cannot differentiate {what} of dtype {name}: HIPS "
            "autograd computes with numpy, which supports float16/32/64 and complex64/128 "
            f"only. Convert first, e.g. xp.astype(x, xp.float32), or use a backend that "
            "supports it (di.AutoJAX(), di.AutoTorch())."
        )
        raise ArgumentTypeError(msg)


def host(a: Any) -> np.ndarray[Any, Any]:
    """A numpy view of ``a`` for its shape and dtype (the value inside a box)."""
    return np.asarray(getval(a)) if isbox(a) else _to_numpy(a)


def _to_numpy(a: Any) -> np.ndarray[Any, Any]:
    """``to_numpy``, refusing arrays another AD engine is differentiating (see
    :func:`~differentiation_interface._array.refuse_foreign`) and torch ``meta`` tensors,
    which have no values."""
    refuse_foreign(a, "autograd", "AutoAutograd()")
    refuse_meta(a, "AutoAutograd()")
    return to_numpy(a)


def read_only(a: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """``a`` made read-only: a seed shared by calls must never be written by anyone."""
    a.flags.writeable = False
    return a


class CallerIO:
    """Conversions for one preparation's signature: the caller's namespace and device.

    Parameters
    ----------
    x : array
        The preparation's point, in the caller's namespace.
    """

    __slots__ = ("complex", "device", "native", "x_dtype", "xp")

    def __init__(self, x: Any) -> None:
        self.xp: Any = None
        self.device: Any = "cpu"
        self.native = True
        if not isbox(x):  # (a box: the plan is prepared inside another autograd trace)
            self.xp, self.device = namespace_of(x), device_of(x)
            self.native = is_numpy_namespace(self.xp)
        self.x_dtype = host(x).dtype
        self.complex = self.x_dtype.kind == "c"

    def put(self, fn: Any, x: Any) -> tuple[Any, tuple[Any, ...]]:
        """``x`` and the context values as autograd sees them (numpy, or boxes when nested)."""
        if type(x) is np.ndarray or isbox(x):
            return x, fn.args
        args = tuple(_to_numpy(a) if is_array(a) else a for a in fn.args)
        return _to_numpy(x), args

    def put_seeds(self, stacked: Any) -> Sequence[Any]:
        """Stacked tangents ``(B, ...)`` as a sequence of numpy arrays (or boxes)."""
        if type(stacked) is np.ndarray or isbox(stacked):
            return [stacked[b] for b in range(len(stacked))]
        return list(_to_numpy(stacked))

    def back(self, a: Any, dtype: Any, sources: tuple[Any, ...]) -> Any:
        """A result of autograd as a fresh array of the caller (``dtype=None``: keep its own)."""
        if isbox(a):
            return a if dtype is None or a.dtype == dtype else a.astype(dtype)
        if type(a) is not np.ndarray or (dtype is not None and a.dtype != dtype):
            a = np.asarray(a, dtype=dtype)
            if a.base is not None or not a.flags.writeable:
                a = np.array(a)
        elif a.base is not None or not a.flags.writeable or any(a is s for s in sources):
            a = a.copy()
        return self.back_owned(a)

    def back_owned(self, a: Any) -> Any:
        """A numpy array the plan created itself (or a box), in the caller's namespace."""
        if self.native or isbox(a):
            return a
        return from_numpy(a, self.xp, self.device)

    def back_stacked(self, items: Sequence[Any], shape: tuple[int, ...], dtype: Any) -> Any:
        """Results ``(B, *shape)`` in the caller's namespace; ``None`` items are zeros."""
        return self.back_owned(stack(items, shape, dtype))


def stack(items: Sequence[Any], shape: tuple[int, ...], dtype: Any) -> Any:
    """Results ``(B, *shape)`` as a new numpy array (a box when nested); ``None`` is zero."""
    if any(isbox(i) for i in items):
        parts = [np.zeros(shape, dtype) if i is None else i for i in items]
        return anp.stack([p if p.dtype == dtype else p.astype(dtype) for p in parts])
    out = np.zeros((len(items), *shape), dtype=dtype)
    for b, item in enumerate(items):
        if item is not None:
            out[b] = item
    return out

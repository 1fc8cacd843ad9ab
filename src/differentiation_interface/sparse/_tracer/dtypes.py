"""Data types of the tracing namespace: numpy's dtypes, conversions and inspection."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..._array import DTYPE_NAMES
from .core import TracedArray, lift

__all__ = ["DTYPES", "Info", "astype", "can_cast", "finfo", "iinfo", "isdtype", "result_type"]

DTYPES = {name: np.dtype(name) for name in DTYPE_NAMES}


def astype(x: Any, dtype: Any, /, *, copy: bool = True, device: Any = None) -> TracedArray:
    """``astype``: floating to floating keeps the pattern; integers and booleans are opaque."""
    a = lift(x)
    target = np.dtype(dtype)
    if a.value is not None:
        with np.errstate(all="ignore"):
            value = a.value.real if (a.dtype.kind == "c" and target.kind != "c") else a.value
            return TracedArray(a.shape, target, value=np.asarray(value).astype(target))
    primal = None
    if a.primal is not None:
        with np.errstate(all="ignore"):
            real = a.dtype.kind == "c" and target.kind != "c"
            primal = (a.primal.real if real else a.primal).astype(target)
    if target.kind in "fc" and a.dtype.kind in "fc" and a.pattern is not None:
        return TracedArray(
            a.shape, target, pattern=a.pattern, tape=a.tape, zeros=a.zeros, primal=primal
        )
    return TracedArray(a.shape, target, primal=primal)


def _dtype_of(a: Any) -> Any:
    if isinstance(a, TracedArray):
        return np.empty(0, a.dtype)
    if isinstance(a, bool | int | float | complex):
        return a
    return np.dtype(a)


class Info:
    """``__array_namespace_info__()`` of the tracing namespace."""

    def capabilities(self) -> dict[str, Any]:
        return {"boolean indexing": False, "data-dependent shapes": False, "max dimensions": None}

    def default_device(self) -> Any:
        return None

    def devices(self) -> list[Any]:
        return [None]

    def default_dtypes(self, *, device: Any = None) -> dict[str, Any]:
        return {
            "real floating": DTYPES["float64"],
            "complex floating": DTYPES["complex128"],
            "integral": DTYPES["int64"],
            "indexing": DTYPES["int64"],
        }

    def dtypes(self, *, device: Any = None, kind: Any = None) -> dict[str, Any]:
        return dict(DTYPES)


def isdtype(dtype: Any, kind: Any) -> bool:
    """``isdtype``."""
    return bool(np.isdtype(np.dtype(dtype), kind))


def result_type(*arrays_and_dtypes: Any) -> Any:
    """``result_type`` (Python scalars are weak, as in the standard)."""
    return np.result_type(*(_dtype_of(a) for a in arrays_and_dtypes))


def can_cast(from_: Any, to: Any, /) -> bool:
    """``can_cast``."""
    source = from_.dtype if isinstance(from_, TracedArray) else np.dtype(from_)
    return bool(np.can_cast(source, np.dtype(to)))


def finfo(type: Any, /) -> Any:
    """``finfo``."""
    return np.finfo(type.dtype if isinstance(type, TracedArray) else np.dtype(type))


def iinfo(type: Any, /) -> Any:
    """``iinfo``."""
    return np.iinfo(type.dtype if isinstance(type, TracedArray) else np.dtype(type))

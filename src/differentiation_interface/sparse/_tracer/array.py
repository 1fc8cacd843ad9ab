"""Array methods of traced arrays: Python operators, attributes, and numpy interoperability.

They are attached to :class:`~.core.TracedArray` here, after the namespace exists,
so that the core module stays free of circular imports.

Python control flow on values of ``x`` (``if x[0] > 0:``) has no global pattern:
``bool()``, ``int()``, ``float()`` of traced arrays raise and name ``xp.where`` as the
remedy; of arrays with known values (shapes, constants) they work.

numpy functions called directly on traced arrays (``np.sin(x)``, ``np.sum(x)``, or numpy
arrays on the left of an operator) reach the tracer through numpy's ``__array_ufunc__`` /
``__array_function__`` protocols (:mod:`.numpy_ufuncs`, :mod:`.numpy_dispatch`) and get
numpy's meaning, so functions written for numpy (as HIPS autograd requires) can be traced
too. The array methods are numpy's too (``x.sum(axis=0)``, ``x.reshape(..., order="F")``,
``x.ravel()``); other ndarray attributes raise, naming the attribute.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from . import creation as C
from . import elementwise as E
from . import indexing as I
from . import numpy_arrays as A
from . import numpy_linalg, numpy_reductions  # noqa: F401  (they register numpy functions)
from . import numpy_moves as M
from . import shape as S
from .core import TracedArray, TracingError, lift
from .dtypes import astype
from .namespace import NAMESPACE
from .numpy_dispatch import call
from .numpy_ufuncs import call_ufunc

__all__ = ["install"]


def _scalar(a: TracedArray, kind: Callable[[Any], Any], name: str) -> Any:
    a.check_fresh()
    if a.value is not None:
        if a.size != 1:
            msg = f"{name}() of an array of shape {a.shape} is ambiguous."
            raise TypeError(msg)
        return kind(a.value.reshape(()))
    if a.pattern is None and a.primal is not None and a.size == 1:
        # local detection: control flow on a comparison of x follows the branch taken at x
        return kind(a.primal.reshape(()))
    msg = (
        f"Sparsity detection: f calls {name}() on an array whose value depends on x (for "
        "instance `if x[0] > 0:`). Control flow on values has no global sparsity pattern: "
        "use xp.where(condition, a, b) instead, or DenseSparsityDetector for a local pattern."
    )
    raise TracingError(msg)


def _inplace(name: str, function: Callable[[Any, Any], TracedArray]) -> Callable[..., Any]:
    def method(self: TracedArray, other: Any) -> TracedArray:
        result = function(self, other)
        I.setitem(self, ..., result)
        return self

    method.__name__ = name
    return method


def _operator(function: Callable[[Any, Any], TracedArray], *, reflected: bool) -> Any:
    if reflected:
        return lambda self, other: function(other, self)
    return function


_OPERATORS: dict[str, Callable[[Any, Any], TracedArray]] = {
    "add": lambda a, b: E.binary("add", a, b),
    "sub": lambda a, b: E.binary("subtract", a, b),
    "mul": lambda a, b: E.binary("multiply", a, b),
    "truediv": lambda a, b: E.binary("divide", a, b),
    "floordiv": lambda a, b: E.binary("floor_divide", a, b),
    "mod": lambda a, b: E.binary("remainder", a, b),
    "pow": E.pow_,
    "matmul": NAMESPACE.matmul,
    "and": lambda a, b: E.binary("bitwise_and" if _integral(a, b) else "logical_and", a, b),
    "or": lambda a, b: E.binary("bitwise_or" if _integral(a, b) else "logical_or", a, b),
    "xor": lambda a, b: E.binary("bitwise_xor" if _integral(a, b) else "logical_xor", a, b),
    "lshift": lambda a, b: E.binary("bitwise_left_shift", a, b),
    "rshift": lambda a, b: E.binary("bitwise_right_shift", a, b),
}

_COMPARISONS = {
    "lt": "less",
    "le": "less_equal",
    "gt": "greater",
    "ge": "greater_equal",
    "eq": "equal",
    "ne": "not_equal",
}


def _integral(a: Any, b: Any) -> bool:
    return bool(lift(a).dtype != np.bool_ or lift(b).dtype != np.bool_)


def _array_ufunc(self: TracedArray, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
    return call_ufunc(ufunc, method, inputs, kwargs)


def _array_function(self: TracedArray, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
    return call(func, args, kwargs)


def _array(self: TracedArray, dtype: Any = None, copy: Any = None) -> Any:
    if self.value is not None:
        return np.asarray(self.value, dtype=dtype)
    msg = (
        "Sparsity detection: f converts an array that depends on x to a numpy array (for "
        "instance with np.asarray or by calling a non-Array-API library). Write f against "
        "the Array API (xp = array_api_compat.array_namespace(x)) so it can be traced."
    )
    raise TracingError(msg)


def _iterate(self: TracedArray) -> Iterator[TracedArray]:
    if not self.shape:
        msg = "iteration over a 0-d array"
        raise TypeError(msg)
    return (I.getitem(self, i) for i in range(self.shape[0]))


def _method(function: Any) -> Callable[..., Any]:
    """The array method that is numpy ``function`` of the array (``x.sum(...)`` is
    ``np.sum(x, ...)``: ndarray's methods take the same arguments as the functions)."""

    def method(self: TracedArray, *args: Any, **kwargs: Any) -> Any:
        return call(function, (self, *args), kwargs)

    method.__name__ = function.__name__
    return method


_METHODS = [
    "all", "any", "argmax", "argmin", "argsort", "cumprod", "cumsum", "diagonal", "dot",
    "max", "mean", "min", "nonzero", "prod", "ravel", "repeat", "round", "searchsorted",
    "squeeze", "std", "sum", "swapaxes", "take", "trace", "var",
]  # fmt: skip


def _reshape(self: TracedArray, *shape: Any, **kwargs: Any) -> Any:
    if not shape:  # x.reshape(shape=...)
        return call(np.reshape, (self,), kwargs)
    single = len(shape) == 1 and not isinstance(shape[0], int | np.integer)
    return call(np.reshape, (self, shape[0] if single else shape), kwargs)


def _transpose(self: TracedArray, *axes: Any) -> Any:
    if len(axes) == 1 and not isinstance(axes[0], int | np.integer):
        axes = axes[0]
    return call(np.transpose, (self, axes or None), {})


def _astype(
    self: TracedArray,
    dtype: Any,
    order: str = "K",
    casting: str = "unsafe",
    subok: bool = True,
    copy: bool = True,
) -> TracedArray:
    if not np.can_cast(self.dtype, dtype, casting):  # type: ignore[arg-type]
        msg = f"Cannot cast array data from {self.dtype} to {np.dtype(dtype)} ({casting!r})."
        raise TypeError(msg)
    if not copy and np.dtype(dtype) == self.dtype:
        return self
    return astype(self, dtype)


def _clip(self: TracedArray, min: Any = None, max: Any = None, **kwargs: Any) -> Any:
    return call(np.clip, (self, min, max), kwargs)


def _sort(self: TracedArray, axis: Any = -1, **kwargs: Any) -> None:
    if axis is None:
        msg = "ndarray.sort sorts in place along one axis: axis=None is not allowed."
        raise TypeError(msg)
    I.setitem(self, ..., call(np.sort, (self,), {"axis": axis, **kwargs}))


def _fill(self: TracedArray, value: Any) -> None:
    I.setitem(self, ..., value)


def _item(self: TracedArray, *args: Any) -> Any:
    if self.value is None:
        _scalar(self, float, "item")
    return self.value.item(*args)  # type: ignore[union-attr]


def _tolist(self: TracedArray) -> Any:
    if self.value is None:
        msg = (
            "Sparsity detection: f calls tolist() on an array whose values depend on x "
            "or are unknown. Keep it an array."
        )
        raise TracingError(msg)
    return self.value.tolist()


class UnsupportedAttributeError(TracingError, AttributeError):
    """An ndarray attribute traced arrays lack (an ``AttributeError`` too, so that
    ``hasattr`` answers ``False``)."""


def _attribute(self: TracedArray, name: str) -> Any:
    """Attributes of numpy arrays that traced arrays lack raise, naming the attribute."""
    if not name.startswith("_") and hasattr(np.ndarray, name):
        msg = (
            f"Sparsity detection does not support `ndarray.{name}` on traced arrays. Rewrite "
            "f with supported Array-API operations or numpy functions, give the pattern with "
            "KnownJacobianSparsity / KnownHessianSparsity, or use DenseSparsityDetector."
        )
        raise UnsupportedAttributeError(msg)
    msg = f"{type(self).__name__!r} object has no attribute {name!r}"
    raise AttributeError(msg)


def install() -> None:
    """Attach the operators and attributes to :class:`TracedArray` (idempotent)."""
    cls: Any = TracedArray
    if getattr(cls, "_installed", False):
        return
    for name, function in _OPERATORS.items():
        setattr(cls, f"__{name}__", _operator(function, reflected=False))
        setattr(cls, f"__r{name}__", _operator(function, reflected=True))
        setattr(cls, f"__i{name}__", _inplace(f"__i{name}__", function))
    for name, function_name in _COMPARISONS.items():
        setattr(cls, f"__{name}__", _operator(_binary_named(function_name), reflected=False))
    cls.__hash__ = None
    cls.__neg__ = lambda self: E.unary("negative", self)
    cls.__pos__ = lambda self: E.unary("positive", self)
    cls.__abs__ = lambda self: E.unary("abs", self)
    cls.__invert__ = lambda self: E.unary(
        "logical_not" if self.dtype == np.bool_ else "bitwise_invert", self
    )
    cls.__getitem__ = I.getitem
    cls.__setitem__ = I.setitem
    cls.__bool__ = lambda self: _scalar(self, bool, "bool")
    cls.__int__ = lambda self: _scalar(self, int, "int")
    cls.__index__ = lambda self: _scalar(self, int, "index")
    cls.__float__ = lambda self: _scalar(self, float, "float")
    cls.__complex__ = lambda self: _scalar(self, complex, "complex")
    cls.__len__ = lambda self: self.shape[0] if self.shape else _no_len()
    cls.__iter__ = _iterate
    cls.__array__ = _array
    cls.__array_ufunc__ = _array_ufunc
    cls.__array_function__ = _array_function
    cls.__array_namespace__ = lambda self, *, api_version=None: NAMESPACE
    cls.device = property(lambda self: self.tape.device if self.tape is not None else None)
    cls.mT = property(S.matrix_transpose)
    cls.T = property(lambda self: S.permute_dims(self, tuple(range(self.ndim))[::-1]))
    cls.to_device = lambda self, device, /, *, stream=None: self
    cls.astype = _astype
    cls.reshape = _reshape
    cls.transpose = _transpose
    cls.flatten = lambda self, order="C": M.flatten(self, order)
    cls.copy = lambda self, order="C": C.asarray(self, copy=True)  # order: layout only
    cls.clip = _clip
    cls.sort = _sort
    cls.fill = _fill
    cls.item = _item
    cls.tolist = _tolist
    cls.conj = cls.conjugate = lambda self: E.unary("conj", self)
    cls.real = property(A.real)
    cls.imag = property(A.imag)
    for name in _METHODS:
        setattr(cls, name, _method(getattr(np, name)))
    cls.__getattr__ = _attribute
    cls._installed = True


def _binary_named(name: str) -> Callable[[Any, Any], TracedArray]:
    return lambda a, b: E.binary(name, a, b)


def _no_len() -> int:
    msg = "len() of a 0-d array"
    raise TypeError(msg)


def size_of(shape: tuple[int, ...]) -> int:
    """Number of elements of ``shape``."""
    return math.prod(shape)

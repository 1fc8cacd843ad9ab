"""Array methods of traced arrays: Python operators, attributes, and numpy interoperability.

They are attached to :class:`~.core.TracedArray` here, after the namespace exists,
so that the core module stays free of circular imports.

Python control flow on values of ``x`` (``if x[0] > 0:``) has no global pattern:
``bool()``, ``int()``, ``float()`` of traced arrays raise and name ``xp.where`` as the
remedy; of arrays with known values (shapes, constants) they work.

numpy functions called directly on traced arrays (``np.sin(x)``, ``np.sum(x)``, or numpy
arrays on the left of an operator) are routed to the tracing namespace through numpy's
``__array_ufunc__`` / ``__array_function__`` protocols, so functions written for numpy (as
HIPS autograd requires) can be traced too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from . import creation as C
from . import elementwise as E
from . import indexing as I
from . import shape as S
from .core import TracedArray, TracingError, lift, unsupported
from .namespace import NAMESPACE

__all__ = ["install"]


def _scalar(a: TracedArray, kind: Callable[[Any], Any], name: str) -> Any:
    a.check_fresh()
    if a.value is not None:
        if a.size != 1:
            msg = f"{name}() of an array of shape {a.shape} is ambiguous."
            raise TypeError(msg)
        return kind(a.value.reshape(()))
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


# numpy names that differ from the Array API's, for numpy functions called on traced arrays
_NUMPY_ALIASES = {
    "absolute": "abs",
    "arccos": "acos",
    "arccosh": "acosh",
    "arcsin": "asin",
    "arcsinh": "asinh",
    "arctan": "atan",
    "arctanh": "atanh",
    "arctan2": "atan2",
    "power": "pow",
    "true_divide": "divide",
    "concatenate": "concat",
    "conjugate": "conj",
    "invert": "bitwise_invert",
    "left_shift": "bitwise_left_shift",
    "right_shift": "bitwise_right_shift",
    "amax": "max",
    "amin": "min",
    "mod": "remainder",
    "cumsum": "cumulative_sum",
    "cumprod": "cumulative_prod",
}


def _numpy_function(name: str) -> Callable[..., Any]:
    target = _NUMPY_ALIASES.get(name, name)
    function: Callable[..., Any]
    if target == "transpose":
        return lambda x, axes=None: S.permute_dims(
            x, tuple(range(lift(x).ndim))[::-1] if axes is None else axes
        )
    if target == "dot":
        return _numpy_dot
    if target == "outer":
        function = NAMESPACE.linalg.outer
        return function
    if target in ("cumulative_sum", "cumulative_prod"):
        function = getattr(NAMESPACE, target)
        return lambda x, axis=None, dtype=None: function(
            x if axis is not None else S.reshape(x, (-1,)), axis=axis, dtype=dtype
        )
    if target in ("sum", "prod", "max", "min", "mean", "std", "var", "any", "all"):
        function = getattr(NAMESPACE, target)
        return lambda x, axis=None, *, keepdims=False, **k: function(
            x, axis=axis, keepdims=keepdims, **k
        )
    try:
        function = getattr(NAMESPACE, target)
    except AttributeError:
        pass
    else:
        return function
    msg = f"numpy.{name}"
    raise unsupported(msg)


def _numpy_dot(a: Any, b: Any) -> TracedArray:
    x, y = lift(a), lift(b)
    if x.ndim == 0 or y.ndim == 0:
        return E.binary("multiply", x, y)
    if x.ndim > 2 or y.ndim > 2:
        msg = "numpy.dot"
        raise unsupported(
            msg, "Use xp.matmul or xp.tensordot for arrays of more than 2 dimensions."
        )
    product: TracedArray = NAMESPACE.matmul(x, y)
    return product


def _array_ufunc(self: TracedArray, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
    if method != "__call__" or kwargs.get("out") is not None:
        raise unsupported(
            f"numpy.{ufunc.__name__}.{method}"
            if method != "__call__"
            else f"numpy.{ufunc.__name__}(out=...)"
        )
    kwargs.pop("out", None)
    if kwargs:
        msg = f"numpy.{ufunc.__name__}"
        raise unsupported(msg, f"Options {sorted(kwargs)} are not supported.")
    return _numpy_function(ufunc.__name__)(*inputs)


def _array_function(self: TracedArray, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
    return _numpy_function(func.__name__)(*args, **kwargs)


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


def _reduce_method(name: str) -> Callable[..., Any]:
    function = getattr(NAMESPACE, name)

    def method(self: TracedArray, axis: Any = None, *, keepdims: bool = False, **k: Any) -> Any:
        return function(self, axis=axis, keepdims=keepdims, **k)

    method.__name__ = name
    return method


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
    cls.astype = lambda self, dtype, copy=True: NAMESPACE.astype(self, dtype)
    cls.reshape = lambda self, *shape, **k: S.reshape(
        self, shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape
    )
    cls.ravel = cls.flatten = lambda self: S.reshape(self, (-1,), copy=True)
    cls.copy = lambda self: C.asarray(self, copy=True)
    cls.transpose = lambda self, *axes: S.permute_dims(
        self, axes[0] if len(axes) == 1 else (axes or tuple(range(self.ndim))[::-1])
    )
    for name in ("sum", "prod", "mean", "max", "min", "std", "var", "any", "all"):
        setattr(cls, name, _reduce_method(name))
    cls.dot = _numpy_dot
    cls._installed = True


def _binary_named(name: str) -> Callable[[Any, Any], TracedArray]:
    return lambda a, b: E.binary(name, a, b)


def _no_len() -> int:
    msg = "len() of a 0-d array"
    raise TypeError(msg)


def size_of(shape: tuple[int, ...]) -> int:
    """Number of elements of ``shape``."""
    return math.prod(shape)

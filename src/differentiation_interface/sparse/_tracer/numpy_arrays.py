"""numpy's creation, selection, metadata and zero-derivative functions on traced arrays.

They follow numpy's meaning, where it differs from the Array API's too: ``np.where`` with a
non-boolean condition tests it against zero, ``np.tril`` of a 1-D array is 2-D, ``np.diff``
takes ``n`` as its second argument and broadcasts scalar ``prepend`` / ``append``.

Functions whose result has zero derivative (indices, booleans, roundings: ``np.argsort``,
``np.isclose``, ``np.round``) run numpy itself: on the known values if every traced
argument has them, else on samples that tell the result's shape and dtype (an array of
unknown values). Functions whose result's *shape* depends on the values (``np.nonzero``,
``np.unique``, one-argument ``np.where``) work on known values only, and raise otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ...errors import ArgumentValueError
from . import creation as C
from . import elementwise as E
from .core import TracedArray, constant, lift, unsupported, view_of
from .dtypes import astype
from .indexing import getitem, remap
from .numpy_dispatch import NumpyCall, array_like, implements
from .shape import broadcast_to, concat

__all__ = ["imag", "real"]


@implements(
    "zeros_like", "ones_like", arguments=("a", "dtype", "order", "subok", "shape", "device")
)
def _filled_like(call: NumpyCall) -> Any:
    # The values of `a` do not matter: numpy on a sample gives the very result.
    result = np.asarray(call.run(sample=True))
    return TracedArray(result.shape, result.dtype, value=result)


@implements("empty_like", arguments=("prototype", "dtype", "order", "subok", "shape", "device"))
def _empty_like(call: NumpyCall) -> Any:
    return call.opaque()


@implements(
    "full_like", arguments=("a", "fill_value", "dtype", "order", "subok", "shape", "device")
)
def _full_like(call: NumpyCall) -> Any:
    fill = call.arguments["fill_value"]
    if not isinstance(fill, TracedArray) or fill.value is not None:
        return _filled_like(call)
    result = np.asarray(call.run(sample=True))
    return astype(broadcast_to(fill, result.shape), result.dtype)


@implements("copy", arguments=("a", "order", "subok"))
def _copy(call: NumpyCall) -> TracedArray:
    return C.asarray(call.arguments["a"], copy=True)  # order and subok: layout and type only


@implements("astype")
def _astype(x: Any, dtype: Any, copy: bool = True) -> TracedArray:
    a = lift(x)
    if not copy and np.dtype(dtype) == a.dtype:
        return a
    return astype(a, dtype)


@implements("real")
def real(val: Any) -> TracedArray:
    """``numpy.real`` (also ``x.real``): a view, the array itself for real arrays."""
    a = lift(val)
    if a.dtype.kind != "c":
        return remap(a, lambda e: e, view=True)
    return view_of(a, E.unary("real", a))


@implements("imag")
def imag(val: Any) -> TracedArray:
    """``numpy.imag`` (also ``x.imag``): constant zeros for real arrays."""
    a = lift(val)
    if a.dtype.kind != "c":
        return constant(np.zeros(a.shape, dtype=a.dtype))
    return view_of(a, E.unary("imag", a))


@implements("where")
def _where(condition: Any, x: Any = None, y: Any = None) -> Any:
    c = lift(array_like(condition))
    if x is None and y is None:
        if c.value is not None:
            return tuple(constant(i) for i in np.nonzero(c.value))
        msg = "numpy.where(condition)"
        raise unsupported(
            msg,
            "With one argument it returns the indices where the condition holds, whose "
            "number depends on the values of x. Select with np.where(condition, a, b).",
        )
    if x is None or y is None:
        msg = "numpy.where: either both or neither of x and y should be given."
        raise ArgumentValueError(msg)
    if c.dtype != np.bool_:
        c = E.binary("not_equal", c, 0)  # numpy tests a non-boolean condition against zero
    return E.where(c, array_like(x), array_like(y))


@implements("clip")
def _clip(
    a: Any, a_min: Any = None, a_max: Any = None, min: Any = None, max: Any = None
) -> TracedArray:
    if (a_min is not None and min is not None) or (a_max is not None and max is not None):
        msg = "numpy.clip: pass either a_min or min (a_max or max), not both."
        raise ArgumentValueError(msg)
    low = array_like(a_min if a_min is not None else min)
    high = array_like(a_max if a_max is not None else max)
    return E.clip(a, low, high)


@implements("nan_to_num")
def _nan_to_num(x: Any, nan: Any = 0.0, posinf: Any = None, neginf: Any = None) -> TracedArray:
    a = lift(x)
    options = {"nan": nan, "posinf": posinf, "neginf": neginf}
    if any(isinstance(v, TracedArray) for v in options.values()):
        msg = "numpy.nan_to_num"
        raise unsupported(msg, "nan, posinf and neginf must be numbers.")
    if a.value is not None:
        return constant(np.nan_to_num(a.value, **options))
    if a.pattern is None:
        return TracedArray(a.shape, a.dtype)
    # Finite elements pass unchanged, the others become constants: piecewise linear.
    return TracedArray(a.shape, a.dtype, pattern=a.pattern, tape=a.tape, zeros=a.zeros)


def _triangle(function: Callable[..., Any]) -> Callable[..., TracedArray]:
    def triangle(m: Any, k: int = 0) -> TracedArray:
        a = lift(m)
        keep = function(np.ones(a.shape, dtype=bool), k)  # numpy's shape rules (1-D -> 2-D)
        return E.where(constant(keep), a, constant(np.zeros((), dtype=a.dtype)))

    return triangle


implements("tril")(_triangle(np.tril))
implements("triu")(_triangle(np.triu))


@implements("diff")
def _diff(a: Any, n: int = 1, axis: int = -1, prepend: Any = None, append: Any = None) -> Any:
    x = lift(a)
    if n < 0:
        msg = f"numpy.diff: order must be non-negative but got {n!r}."
        raise ArgumentValueError(msg)
    if x.ndim == 0:
        msg = "numpy.diff requires input that is at least one dimensional."
        raise ArgumentValueError(msg)
    if n == 0:
        return x
    if not -x.ndim <= axis < x.ndim:
        msg = f"numpy.diff: axis {axis} is out of bounds for an array of dimension {x.ndim}."
        raise ArgumentValueError(msg)
    axis %= x.ndim
    parts = []
    for part in (prepend, x, append):
        if part is None:
            continue
        p = C.asarray(part)
        if p.ndim == 0:  # numpy broadcasts a scalar to one slice along the axis
            p = broadcast_to(p, (*x.shape[:axis], 1, *x.shape[axis + 1 :]))
        parts.append(p)
    x = concat(parts, axis=axis) if len(parts) > 1 else x
    operation = "not_equal" if x.dtype == np.bool_ else "subtract"
    head = (slice(None),) * axis
    for _ in range(n):
        x = E.binary(operation, getitem(x, (*head, slice(1, None))), getitem(x, (*head, slice(-1))))
    return x


@implements("ndim")
def _ndim(a: Any) -> int:
    return lift(a).ndim


@implements("shape")
def _shape(a: Any) -> tuple[int, ...]:
    return lift(a).shape


@implements("size")
def _size(a: Any, axis: Any = None) -> int:
    shape = lift(a).shape
    if axis is None:
        return math.prod(shape)
    return int(np.size(np.broadcast_to(0, shape), axis))


@implements("result_type")
def _result_type(*arrays_and_dtypes: Any) -> Any:
    return np.result_type(
        *(np.empty(0, a.dtype) if isinstance(a, TracedArray) else a for a in arrays_and_dtypes)
    )


@implements("iscomplexobj")
def _iscomplexobj(x: Any) -> bool:
    return bool(lift(x).dtype.kind == "c")


@implements("isrealobj")
def _isrealobj(x: Any) -> bool:
    return bool(lift(x).dtype.kind != "c")


@implements("can_cast")
def _can_cast(from_: Any, to: Any, casting: str = "safe") -> bool:
    source = from_.dtype if isinstance(from_, TracedArray) else from_
    return bool(np.can_cast(source, to, casting))  # type: ignore[arg-type]


def _zero_derivative(call: NumpyCall) -> Any:
    return call.constant() if call.known() else call.opaque()


#: Functions whose results have zero derivative: (names, the arguments implemented).
_ZERO_DERIVATIVE = [
    (("argmax", "argmin", "nanargmax", "nanargmin"), ("a", "axis", "keepdims")),
    (("argsort",), ("a", "axis", "kind", "order", "stable")),
    (("any", "all"), ("a", "axis", "keepdims", "where")),
    (("count_nonzero",), ("a", "axis", "keepdims")),
    (("searchsorted",), ("a", "v", "side", "sorter")),
    (("isclose", "allclose"), ("a", "b", "rtol", "atol", "equal_nan")),
    (("array_equal",), ("a1", "a2", "equal_nan")),
    (("isreal", "iscomplex"), ("x",)),
    (("isneginf", "isposinf", "fix"), ("x",)),
    (("round", "around"), ("a", "decimals")),
    (("digitize",), ("x", "bins", "right")),
]

for _names, _arguments in _ZERO_DERIVATIVE:
    implements(*_names, arguments=_arguments)(_zero_derivative)


def _known_only(call: NumpyCall) -> Any:
    if call.known():
        return call.constant()
    raise unsupported(
        call.name,
        "The shape of its result depends on the values of x. Select with np.where "
        "instead, or compute the indices from known arrays.",
    )


#: Functions whose results' shapes depend on the values: (names, the arguments implemented).
_KNOWN_ONLY = [
    (("nonzero", "argwhere", "flatnonzero"), ("a",)),
    (
        ("unique",),
        ("ar", "return_index", "return_inverse", "return_counts", "axis", "equal_nan", "sorted"),
    ),
    (("unique_values", "unique_counts", "unique_inverse", "unique_all"), ("x",)),
]

for _names, _arguments in _KNOWN_ONLY:
    implements(*_names, arguments=_arguments)(_known_only)

"""numpy's element-moving functions on traced arrays, with numpy's meaning.

Each runs numpy's own function, with the caller's own arguments, on the array of element
numbers (see :mod:`.indexing`), so numpy's semantics are followed exactly, the defaults
that differ from the Array API's included: ``np.diagonal`` takes axes 0 and 1,
``np.transpose`` reverses the axes, ``np.squeeze`` drops every length-1 axis,
``np.concatenate(..., axis=None)`` flattens, ``np.reshape(..., order="F")`` fills in
column-major order. Arguments other than the moved arrays must be known at tracing time.

An argument that depends on the memory layout of the real array, which tracing does not
follow (``order="A"`` or ``"K"``), raises. Results that numpy returns as views of their
input are marked as views (see :meth:`~.core.TracedArray.check_fresh`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from .. import _pattern as P
from . import creation as C
from .core import TracedArray, lift, unsupported
from .dtypes import astype
from .indexing import getitem, remap, remap_each, remap_many
from .indexing import take_along_axis as take_along
from .numpy_dispatch import NumpyCall, implements

__all__ = ["flatten", "ravel"]


def _one(operand: str, *, view: bool, many: bool) -> Callable[[NumpyCall], Any]:
    """An implementation moving the elements of argument ``operand`` with numpy's function
    (``many``: that returns a list or tuple of arrays)."""

    def move(call: NumpyCall) -> Any:
        def operation(e: Any) -> Any:
            return call.run(**{operand: e})

        if many:
            return remap_each(call.arguments[operand], operation, view=view)
        return remap(call.arguments[operand], operation, view=view)

    return move


#: numpy functions that move the elements of one array: (names, arguments, moved
#: argument, whether numpy returns views, whether it returns a list or tuple of arrays)
_ONE_ARRAY = [
    (("transpose", "permute_dims"), ("a", "axes"), "a", True, False),
    (("matrix_transpose", "linalg.matrix_transpose"), ("x",), "x", True, False),
    (("swapaxes",), ("a", "axis1", "axis2"), "a", True, False),
    (("moveaxis",), ("a", "source", "destination"), "a", True, False),
    (("rollaxis",), ("a", "axis", "start"), "a", True, False),
    (("squeeze",), ("a", "axis"), "a", True, False),
    (("expand_dims",), ("a", "axis"), "a", True, False),
    (("flip",), ("m", "axis"), "m", True, False),
    (("fliplr", "flipud"), ("m",), "m", True, False),
    (("rot90",), ("m", "k", "axes"), "m", True, False),
    (("roll",), ("a", "shift", "axis"), "a", False, False),
    (("tile",), ("A", "reps"), "A", False, False),
    (("repeat",), ("a", "repeats", "axis"), "a", False, False),
    (("broadcast_to",), ("array", "shape", "subok"), "array", True, False),
    (("diagonal",), ("a", "offset", "axis1", "axis2"), "a", True, False),
    (("linalg.diagonal",), ("x", "offset"), "x", True, False),
    (("delete",), ("arr", "obj", "axis"), "arr", False, False),
    (("resize",), ("a", "new_shape"), "a", False, False),
    (("compress",), ("condition", "a", "axis"), "a", False, False),
    (("extract",), ("condition", "arr"), "arr", False, False),
    (("split", "array_split"), ("ary", "indices_or_sections", "axis"), "ary", True, True),
    (("hsplit", "vsplit", "dsplit"), ("ary", "indices_or_sections"), "ary", True, True),
    (("unstack",), ("x", "axis"), "x", True, True),
    (("fft.fftshift", "fft.ifftshift"), ("x", "axes"), "x", False, False),
]

for _names, _arguments, _operand, _view, _many in _ONE_ARRAY:
    implements(*_names, arguments=_arguments)(_one(_operand, view=_view, many=_many))


def _layout_order(name: str, order: str) -> Literal["C", "F"]:
    if order == "C":
        return "C"
    if order == "F":
        return "F"
    msg = f"{name}(..., order={order!r})"
    raise unsupported(
        msg,
        "order='A' and 'K' follow the memory layout of the real array, which tracing does "
        "not know. Use order='C' or order='F'.",
    )


@implements("reshape")
def _reshape(a: Any, shape: Any = None, order: str = "C", copy: bool | None = None) -> Any:
    order = _layout_order("numpy.reshape", order)
    return remap(a, lambda e: np.reshape(e, shape, order=order), view=not copy)


@implements("ravel")
def ravel(a: Any, order: str = "C") -> TracedArray:
    """``numpy.ravel`` (also ``x.ravel()``): C or Fortran order."""
    order = _layout_order("numpy.ravel", order)
    return remap(a, lambda e: np.ravel(e, order=order), view=True)


def flatten(a: Any, order: str = "C") -> TracedArray:
    """``x.flatten()``: :func:`ravel` into a new array."""
    order = _layout_order("ndarray.flatten", order)
    return remap(a, lambda e: np.ravel(e, order=order))


def _atleast_of(function: Callable[..., Any]) -> Callable[..., Any]:
    def atleast(*arys: Any) -> Any:
        moved = [remap(a, function, view=True) for a in arys]
        return moved[0] if len(moved) == 1 else tuple(moved)

    return atleast


for _name in ("atleast_1d", "atleast_2d", "atleast_3d"):
    implements(_name)(_atleast_of(getattr(np, _name)))


@implements("broadcast_arrays")
def _broadcast_arrays(*args: Any) -> tuple[TracedArray, ...]:
    lifted = [lift(a) for a in args]
    shape = tuple(np.broadcast_shapes(*(a.shape for a in lifted)))
    return tuple(remap(a, lambda e: np.broadcast_to(e, shape), view=True) for a in lifted)


@implements("meshgrid")
def _meshgrid(*xi: Any, copy: bool = True, sparse: bool = False, indexing: str = "xy") -> Any:
    lifted = [lift(a) for a in xi]

    def grid(k: int) -> Callable[[Any], Any]:
        # Output k holds the elements of input k only: the others are stand-ins.
        def operation(e: Any) -> Any:
            inputs = [e if j == k else np.zeros(a.shape) for j, a in enumerate(lifted)]
            return np.meshgrid(*inputs, sparse=sparse, indexing=indexing)[k]  # type: ignore[call-overload]

        return operation

    grids = [remap(a, grid(k), view=not copy) for k, a in enumerate(lifted)]
    return tuple(grids)


def _operands(value: Any) -> list[TracedArray]:
    return [C.asarray(v) for v in value]


def _stacking(function: Callable[..., Any]) -> Callable[[NumpyCall], TracedArray]:
    """``concatenate``, ``stack`` and the like: arrays laid end to end with numpy's function
    (``dtype`` converts the result, as numpy converts the inputs)."""

    def stacking(call: NumpyCall) -> TracedArray:
        first = next(iter(call.arguments))
        arrays = _operands(call.arguments[first])
        replace: dict[str, Any] = {first: None, "dtype": None}

        def operation(es: list[Any]) -> Any:
            replace[first] = es
            return call.run(**replace)

        result = remap_many(arrays, operation)
        dtype = call.get("dtype")
        return result if dtype is None else astype(result, dtype)

    return stacking


for _names, _arguments in [
    (("concatenate",), ("arrays", "axis", "dtype")),
    (("stack",), ("arrays", "axis", "dtype")),
    (("hstack", "vstack"), ("tup", "dtype")),
    (("dstack", "column_stack"), ("tup",)),
]:
    for _name in _names:
        implements(_name, arguments=_arguments)(_stacking(getattr(np, _name)))


@implements("block", arguments=("arrays",))
def _block(call: NumpyCall) -> TracedArray:
    leaves: list[TracedArray] = []

    def collect(value: Any) -> Any:
        if isinstance(value, list):
            return [collect(v) for v in value]
        leaves.append(C.asarray(value))
        return len(leaves) - 1

    layout = collect(call.arguments["arrays"])

    def fill(value: Any, arrays: list[Any]) -> Any:
        return [fill(v, arrays) for v in value] if isinstance(value, list) else arrays[value]

    return remap_many(leaves, lambda es: np.block(fill(layout, es)))


@implements("append", arguments=("arr", "values", "axis"))
def _append(call: NumpyCall) -> TracedArray:
    arrays = [C.asarray(call.arguments["arr"]), C.asarray(call.arguments["values"])]
    return remap_many(arrays, lambda es: call.run(arr=es[0], values=es[1]))


@implements("insert", arguments=("arr", "obj", "values", "axis"))
def _insert(call: NumpyCall) -> TracedArray:
    arr, values = C.asarray(call.arguments["arr"]), C.asarray(call.arguments["values"])
    # numpy casts the inserted values to arr's dtype.
    return remap_many([arr, values], lambda es: call.run(arr=es[0], values=es[1]), arr.dtype)


@implements("take")
def _take(a: Any, indices: Any, axis: int | None = None, mode: str = "raise") -> TracedArray:
    x = lift(a)
    if axis is None:
        x, axis = ravel(x), 0
    if isinstance(indices, TracedArray) and indices.value is None:
        # Unknown (opaque) indices: getitem makes every element along the axis a candidate.
        return getitem(x, (slice(None),) * (axis % x.ndim) + (indices,))
    index = np.asarray(indices.value if isinstance(indices, TracedArray) else indices)
    return remap(x, lambda e: np.take(e, index, axis=axis, mode=mode))  # type: ignore[call-overload]


@implements("take_along_axis")
def _take_along_axis(arr: Any, indices: Any, axis: int | None = -1) -> TracedArray:
    x = lift(arr)
    if axis is None:
        x, axis = ravel(x), 0
    return take_along(x, indices, axis=axis)


_MOVING_PAD_MODES = ("edge", "reflect", "symmetric", "wrap")


@implements("pad", arguments=("array", "pad_width", "mode", "kwargs"))
def _pad(call: NumpyCall) -> TracedArray:
    a = lift(call.arguments["array"])
    mode = call.get("mode", "constant")
    if call.known():
        value = np.asarray(call.run())
        return TracedArray(value.shape, value.dtype, value=value)
    if mode in _MOVING_PAD_MODES:
        if call.value("kwargs", {}).get("reflect_type", "even") != "even":
            msg = "numpy.pad(..., reflect_type='odd')"
            raise unsupported(
                msg,
                "Odd reflection computes new values (2 * edge - reflected); pad with "
                "reflect_type='even' and compute them with array operations.",
            )
        return remap(a, lambda e: call.run(array=e))
    if mode not in ("constant", "empty"):  # 'empty': padding of unknown values
        msg = f"numpy.pad(..., mode={mode!r})"
        raise unsupported(
            msg,
            "Only the modes 'constant', 'empty', 'edge', 'reflect', 'symmetric' and 'wrap' "
            "are implemented; the others depend on the values of the array.",
        )
    width = call.value("pad_width")
    inserted_zero: Any = False
    if mode == "constant":
        filler = np.pad(np.ones(a.shape, a.dtype), width, **_pad_options(call))
        inserted_zero = filler == 0
    return _inserting(a, lambda e: np.pad(e, width), inserted_zero)


def _inserting(a: TracedArray, operation: Callable[[Any], Any], inserted_zero: Any) -> TracedArray:
    """Move the elements of ``a`` with a numpy ``operation`` that also inserts new elements
    (zeros in its result): those depend on nothing, and are known zeros where
    ``inserted_zero`` holds."""
    source = np.asarray(operation(np.arange(1, a.size + 1).reshape(a.shape))) - 1
    inserted = source < 0
    zeros = inserted & inserted_zero
    if a.zeros is not None:
        zeros |= ~inserted & a.zeros.reshape(-1)[np.where(inserted, 0, source)]
    if a.pattern is None:
        return TracedArray(source.shape, a.dtype)
    assert a.tape is not None
    stacked = P.vstack([a.pattern, P.empty(1, a.tape.n)])
    pattern = P.select_rows(stacked, np.where(inserted, a.size, source).reshape(-1))
    return TracedArray(source.shape, a.dtype, pattern=pattern, tape=a.tape, zeros=zeros)


@implements("diag", "diagflat", arguments=("v", "k"))
def _diag(call: NumpyCall) -> TracedArray:
    # np.diag of a matrix takes its diagonal, of a vector builds a matrix (zeros elsewhere).
    if call.known():
        value = np.asarray(call.run())
        return TracedArray(value.shape, value.dtype, value=value)
    return _inserting(lift(call.arguments["v"]), lambda e: call.run(v=e), inserted_zero=True)


def _pad_options(call: NumpyCall) -> dict[str, Any]:
    options = dict(call.value("kwargs", {}))
    unknown = sorted(set(options) - {"constant_values"})
    if unknown:
        msg = f"numpy.pad(..., {unknown[0]}=...)"
        raise unsupported(msg, "mode='constant' takes only constant_values.")
    return {"mode": "constant", **options}

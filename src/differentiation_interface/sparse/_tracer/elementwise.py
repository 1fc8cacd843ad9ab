"""Elementwise functions of the tracing namespace, classified by how they propagate patterns.

First order, every elementwise function maps an element's dependencies to the same element
(after broadcasting). What differs is second order and which operands count:

========================  ==============================  =====================================
kind                      first order                     second order (Hessian pairs)
========================  ==============================  =====================================
linear                    union of the operands           nothing
nonlinear                 union of the operands           union with itself (``G^T G``)
product (``*``)           each operand where the other    ``G_a^T G_b`` (bilinear)
                          may be nonzero
quotient (``/``)          union                           ``G_a^T G_b`` and ``G_b^T G_b``
piecewise linear          union (``abs``, ``maximum``,    nothing: the second derivative
                          ``clip``, ``sort``, ...)         vanishes almost everywhere
zero derivative           none (comparisons, ``floor``,   nothing
                          ``sign``, integer results)
========================  ==============================  =====================================

Power with a known exponent is linear where the exponent is 1, constant where it is 0 and
nonlinear elsewhere. Arrays of known values are computed with numpy (so ``x * 0`` has an
empty pattern and ``xp.arange(n) + 1`` can index).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _pattern as P
from .core import (
    TracedArray,
    broadcast_pattern,
    lift,
    nonzero_mask,
    proto,
    tape_of,
    unsupported,
    zero_mask,
)

__all__ = [
    "BINARY",
    "NUMPY_BINARY",
    "NUMPY_UNARY",
    "UNARY",
    "binary",
    "clip",
    "pow_",
    "unary",
    "where",
]

#: unary functions: name -> (kind, numpy implementation)
UNARY: dict[str, tuple[str, Callable[..., Any]]] = {
    **{
        name: ("linear", getattr(np, numpy_name))
        for name, numpy_name in [
            ("negative", "negative"),
            ("positive", "positive"),
            ("real", "real"),
            ("imag", "imag"),
            ("conj", "conj"),
        ]
    },
    **{
        name: ("nonlinear", getattr(np, numpy_name))
        for name, numpy_name in [
            ("acos", "arccos"),
            ("acosh", "arccosh"),
            ("asin", "arcsin"),
            ("asinh", "arcsinh"),
            ("atan", "arctan"),
            ("atanh", "arctanh"),
            ("cos", "cos"),
            ("cosh", "cosh"),
            ("exp", "exp"),
            ("expm1", "expm1"),
            ("log", "log"),
            ("log1p", "log1p"),
            ("log2", "log2"),
            ("log10", "log10"),
            ("reciprocal", "reciprocal"),
            ("sin", "sin"),
            ("sinh", "sinh"),
            ("sqrt", "sqrt"),
            ("square", "square"),
            ("tan", "tan"),
            ("tanh", "tanh"),
        ]
    },
    "abs": ("piecewise", np.abs),
    **{
        name: ("zero", getattr(np, numpy_name))
        for name, numpy_name in [
            ("ceil", "ceil"),
            ("floor", "floor"),
            ("round", "round"),
            ("trunc", "trunc"),
            ("sign", "sign"),
            ("signbit", "signbit"),
            ("isfinite", "isfinite"),
            ("isinf", "isinf"),
            ("isnan", "isnan"),
            ("logical_not", "logical_not"),
            ("bitwise_invert", "invert"),
        ]
    },
}

#: binary functions: name -> (kind, numpy implementation)
BINARY: dict[str, tuple[str, Callable[..., Any]]] = {
    "add": ("linear", np.add),
    "subtract": ("linear", np.subtract),
    "multiply": ("product", np.multiply),
    "divide": ("quotient", np.divide),
    "atan2": ("nonlinear", np.arctan2),
    "hypot": ("nonlinear", np.hypot),
    "logaddexp": ("nonlinear", np.logaddexp),
    "maximum": ("piecewise", np.maximum),
    "minimum": ("piecewise", np.minimum),
    # remainder(a, b) = a - b * floor(a / b): slope 1 in a and a piecewise-constant slope in b
    "remainder": ("piecewise", np.remainder),
    "copysign": ("first", np.copysign),  # |a| with b's sign: depends on b only through a sign
    "nextafter": ("first", np.nextafter),
    **{
        name: ("zero", getattr(np, numpy_name))
        for name, numpy_name in [
            ("equal", "equal"),
            ("not_equal", "not_equal"),
            ("greater", "greater"),
            ("greater_equal", "greater_equal"),
            ("less", "less"),
            ("less_equal", "less_equal"),
            ("floor_divide", "floor_divide"),
            ("logical_and", "logical_and"),
            ("logical_or", "logical_or"),
            ("logical_xor", "logical_xor"),
            ("bitwise_and", "bitwise_and"),
            ("bitwise_or", "bitwise_or"),
            ("bitwise_xor", "bitwise_xor"),
            ("bitwise_left_shift", "left_shift"),
            ("bitwise_right_shift", "right_shift"),
        ]
    },
}


#: numpy ufuncs outside the standard, reachable through numpy only (not the namespace)
NUMPY_UNARY: dict[str, tuple[str, Callable[..., Any]]] = {
    "fabs": ("piecewise", np.fabs),
    "rint": ("zero", np.rint),
    "spacing": ("zero", np.spacing),
    "exp2": ("nonlinear", np.exp2),
    "cbrt": ("nonlinear", np.cbrt),
    "deg2rad": ("linear", np.deg2rad),
    "radians": ("linear", np.radians),
    "rad2deg": ("linear", np.rad2deg),
    "degrees": ("linear", np.degrees),
}

#: numpy binary ufuncs outside the standard
NUMPY_BINARY: dict[str, tuple[str, Callable[..., Any]]] = {
    "fmod": ("piecewise", np.fmod),  # a - b * trunc(a / b), as remainder
    "fmax": ("piecewise", np.fmax),
    "fmin": ("piecewise", np.fmin),
    "logaddexp2": ("nonlinear", np.logaddexp2),
    "ldexp": ("first", np.ldexp),  # a * 2**b with integer b: linear in a
}


def _numpy(function: Callable[..., Any], *args: Any) -> Any:
    with np.errstate(all="ignore"):  # constants may divide by zero; that is f's business
        return function(*args)


def unary(name: str, x: Any) -> TracedArray:
    """Apply the unary elementwise function ``name``."""
    kind, function = UNARY[name] if name in UNARY else NUMPY_UNARY[name]
    a = lift(x)
    if name == "imag" and a.dtype.kind != "c":  # constant zeros
        return TracedArray(a.shape, a.dtype, value=np.zeros(a.shape, dtype=a.dtype))
    if a.dtype.kind == "c" and name in ("real", "imag"):
        dtype = np.empty(0, a.dtype).real.dtype
    else:
        dtype = _numpy(function, proto(a)).dtype
    if a.value is not None:
        return TracedArray(a.shape, dtype, value=np.asarray(_numpy(function, a.value), dtype))
    if kind == "zero" or a.pattern is None:
        return TracedArray(a.shape, dtype)
    if kind == "nonlinear" and a.tape is not None:
        a.tape.record(a.pattern, a.pattern)
    zeros = a.zeros if kind in ("linear", "piecewise") and name != "imag" else None
    return TracedArray(a.shape, dtype, pattern=a.pattern, tape=a.tape, zeros=zeros)


def binary(name: str, x1: Any, x2: Any) -> TracedArray:
    """Apply the binary elementwise function ``name`` (with broadcasting)."""
    kind, function = BINARY[name] if name in BINARY else NUMPY_BINARY[name]
    a, b = lift(x1), lift(x2)
    dtype = _numpy(function, _weak(x1, a), _weak(x2, b)).dtype
    shape = tuple(np.broadcast_shapes(a.shape, b.shape))
    if a.value is not None and b.value is not None:
        value = np.asarray(_numpy(function, _weak(x1, a, a.value), _weak(x2, b, b.value)), dtype)
        return TracedArray(shape, dtype, value=np.broadcast_to(value, shape))
    if kind == "zero" or (a.pattern is None and b.pattern is None):
        return TracedArray(shape, dtype)
    ga, gb = broadcast_pattern(a, shape), broadcast_pattern(b, shape)
    tape = tape_of(a, b)
    if kind == "product":
        # d(ab) = b da + a db: an operand's dependencies count where the other may be nonzero.
        if ga is not None:
            ga = P.mask_rows(ga, nonzero_mask(b, shape))
        if gb is not None:
            gb = P.mask_rows(gb, nonzero_mask(a, shape))
        if tape is not None:
            tape.record(ga, gb)
    elif kind == "quotient":
        if gb is not None:
            gb = P.mask_rows(gb, nonzero_mask(a, shape))
        if tape is not None:
            tape.record(ga, gb)
            tape.record(gb, gb)
    elif kind == "first":
        gb = None
    pattern = P.union(ga, gb)
    if kind == "nonlinear" and tape is not None:
        tape.record(pattern, pattern)
    if pattern is None:
        return TracedArray(shape, dtype)
    return TracedArray(shape, dtype, pattern=pattern, tape=tape, zeros=_zeros(kind, a, b, shape))


def _zeros(kind: str, a: TracedArray, b: TracedArray, shape: tuple[int, ...]) -> Any:
    """Elements of a result known to be zero, from those of the operands."""
    za, zb = zero_mask(a), zero_mask(b)
    if kind == "product":  # 0 * anything
        if za is None and zb is None:
            return None
        return _either(za, zb, shape)
    if kind in ("linear", "piecewise") and za is not None and zb is not None:
        return np.broadcast_to(za, shape) & np.broadcast_to(zb, shape)  # 0 + 0, max(0, 0)
    return None


def _either(za: Any, zb: Any, shape: tuple[int, ...]) -> Any:
    out = np.zeros(shape, dtype=bool)
    if za is not None:
        out |= np.broadcast_to(za, shape)
    if zb is not None:
        out |= np.broadcast_to(zb, shape)
    return out


def _weak(original: Any, lifted: TracedArray, value: Any = None) -> Any:
    """Python scalars stay Python scalars for numpy's promotion; arrays get ``value``."""
    if isinstance(original, bool | int | float | complex):
        return original
    return proto(lifted) if value is None else value


def pow_(x1: Any, x2: Any) -> TracedArray:
    """``x1 ** x2``: linear where a known exponent is 1, constant where it is 0."""
    a, b = lift(x1), lift(x2)
    dtype = _numpy(np.power, _weak(x1, a), _weak(x2, b)).dtype
    shape = tuple(np.broadcast_shapes(a.shape, b.shape))
    if a.value is not None and b.value is not None:
        value = np.asarray(_numpy(np.power, _weak(x1, a, a.value), _weak(x2, b, b.value)), dtype)
        return TracedArray(shape, dtype, value=np.broadcast_to(value, shape))
    if b.pattern is not None or b.value is None:
        # A traced (or unknown) exponent: a**b = exp(b log a), nonlinear in both.
        pattern = P.union(broadcast_pattern(a, shape), broadcast_pattern(b, shape))
        if pattern is None:
            return TracedArray(shape, dtype)
        tape = tape_of(a, b)
        if tape is not None:
            tape.record(pattern, pattern)
        return TracedArray(shape, dtype, pattern=pattern, tape=tape)
    if a.pattern is None:
        return TracedArray(shape, dtype)
    exponent = np.broadcast_to(b.value, shape)
    pattern = P.mask_rows(broadcast_pattern(a, shape), exponent != 0)
    if a.tape is not None:
        nonlinear = P.mask_rows(pattern, (exponent != 0) & (exponent != 1))
        a.tape.record(nonlinear, nonlinear)
    zeros = None
    if a.zeros is not None:  # 0 ** p = 0 for p > 0
        zeros = np.broadcast_to(a.zeros, shape) & (np.real(exponent) > 0)
    return TracedArray(shape, dtype, pattern=pattern, tape=a.tape, zeros=zeros)


def where(condition: Any, x1: Any, x2: Any) -> TracedArray:
    """``where``: exact selection for a known condition, else the union of both branches."""
    c, a, b = lift(condition), lift(x1), lift(x2)
    if c.dtype != np.bool_:
        msg = "where"
        raise unsupported(msg, "The condition must be a boolean array.")
    dtype = np.result_type(_weak(x1, a), _weak(x2, b))
    shape = tuple(np.broadcast_shapes(c.shape, a.shape, b.shape))
    if c.value is not None and a.value is not None and b.value is not None:
        value = np.where(c.value, a.value, b.value).astype(dtype)
        return TracedArray(shape, dtype, value=np.broadcast_to(value, shape))
    ga, gb = broadcast_pattern(a, shape), broadcast_pattern(b, shape)
    za, zb = zero_mask(a), zero_mask(b)
    zeros = None
    if c.value is not None:
        chosen = np.broadcast_to(c.value, shape)
        ga = None if ga is None else P.mask_rows(ga, chosen)
        gb = None if gb is None else P.mask_rows(gb, ~chosen)
        if za is not None or zb is not None:
            false = np.zeros(shape, dtype=bool)
            zeros = np.where(
                chosen,
                false if za is None else np.broadcast_to(za, shape),
                false if zb is None else np.broadcast_to(zb, shape),
            )
    elif za is not None and zb is not None:
        zeros = np.broadcast_to(za, shape) & np.broadcast_to(zb, shape)
    pattern = P.union(ga, gb)
    if pattern is None:
        return TracedArray(shape, dtype)
    return TracedArray(shape, dtype, pattern=pattern, tape=tape_of(a, b), zeros=zeros)


def clip(x: Any, /, min: Any = None, max: Any = None) -> TracedArray:
    """``clip``: piecewise linear in every traced operand."""
    result = lift(x)
    if min is not None:
        result = binary("maximum", result, min)
    if max is not None:
        result = binary("minimum", result, max)
    if min is None and max is None:
        return TracedArray(
            result.shape,
            result.dtype,
            pattern=result.pattern,
            value=result.value,
            tape=result.tape,
            zeros=result.zeros,
        )
    return result

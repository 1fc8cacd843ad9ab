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

Local detection (arrays carrying a ``primal``, see :mod:`.core`) computes the primal of every
result here, and first order keeps only what the derivative at that point can see:
``where`` the branch taken, ``maximum``/``minimum`` (``clip``, ``fmax``, ``fmin``) the
operand that wins (both at a tie), a product an operand's dependencies where the other
factor is nonzero, a quotient the divisor's where the dividend is. Second order (the
Hessian pairs) stays global: a product's cross term does not vanish where a factor does.
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
    local_values,
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
    primal = None if a.primal is None else np.asarray(_numpy(function, a.primal), dtype)
    if kind == "zero" or a.pattern is None:
        return TracedArray(a.shape, dtype, primal=primal)
    if kind == "nonlinear" and a.tape is not None:
        a.tape.record(a.pattern, a.pattern)
    zeros = a.zeros if kind in ("linear", "piecewise") and name != "imag" else None
    return TracedArray(a.shape, dtype, pattern=a.pattern, tape=a.tape, zeros=zeros, primal=primal)


def binary(name: str, x1: Any, x2: Any) -> TracedArray:
    """Apply the binary elementwise function ``name`` (with broadcasting)."""
    kind, function = BINARY[name] if name in BINARY else NUMPY_BINARY[name]
    a, b = lift(x1), lift(x2)
    dtype = _numpy(function, _weak(x1, a), _weak(x2, b)).dtype
    shape = tuple(np.broadcast_shapes(a.shape, b.shape))
    if a.value is not None and b.value is not None:
        value = np.asarray(_numpy(function, _weak(x1, a, a.value), _weak(x2, b, b.value)), dtype)
        return TracedArray(shape, dtype, value=np.broadcast_to(value, shape))
    va, vb = local_values(a), local_values(b)
    primal = None
    if va is not None and vb is not None:
        primal = np.asarray(_numpy(function, _weak(x1, a, va), _weak(x2, b, vb)), dtype)
        primal = np.broadcast_to(primal, shape)
    if kind == "zero" or (a.pattern is None and b.pattern is None):
        return TracedArray(shape, dtype, primal=primal)
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
        ga, gb = _at_point(ga, vb, shape), _at_point(gb, va, shape)
    elif kind == "quotient":
        if gb is not None:
            gb = P.mask_rows(gb, nonzero_mask(a, shape))
        if tape is not None:
            tape.record(ga, gb)
            tape.record(gb, gb)
        gb = _at_point(gb, va, shape)
    elif kind == "first":
        gb = None
    elif name in _WINNERS and va is not None and vb is not None:
        ga, gb = _winners(name, ga, gb, va, vb, shape)
    pattern = P.union(ga, gb)
    if kind == "nonlinear" and tape is not None:
        tape.record(pattern, pattern)
    if pattern is None:
        return TracedArray(shape, dtype, primal=primal)
    zeros = _zeros(kind, a, b, shape)
    return TracedArray(shape, dtype, pattern=pattern, tape=tape, zeros=zeros, primal=primal)


#: the piecewise functions that take one operand at each point: name -> "a wins over b"
_WINNERS: dict[str, Callable[[Any, Any], Any]] = {
    "maximum": np.greater,
    "fmax": np.greater,
    "minimum": np.less,
    "fmin": np.less,
}


def _winners(
    name: str, ga: Any, gb: Any, va: Any, vb: Any, shape: tuple[int, ...]
) -> tuple[Any, Any]:
    """Local detection: each operand's dependencies where it is taken (both at a tie or a
    NaN, where a comparison is false both ways)."""
    wins = _WINNERS[name]
    with np.errstate(invalid="ignore"):
        a_loses = np.broadcast_to(wins(vb, va), shape)
        b_loses = np.broadcast_to(wins(va, vb), shape)
    if name in ("fmax", "fmin"):  # they ignore a NaN operand: the other one is taken
        a_loses = a_loses | np.broadcast_to(np.isnan(va), shape)
        b_loses = b_loses | (np.broadcast_to(np.isnan(vb), shape) & ~a_loses)
    ga = None if ga is None else P.mask_rows(ga, ~a_loses)
    gb = None if gb is None else P.mask_rows(gb, ~b_loses)
    return ga, gb


def _at_point(pattern: Any, other: Any, shape: tuple[int, ...]) -> Any:
    """Local detection: a factor's dependencies where the other factor is nonzero at the
    point (``other``: its values there, or ``None`` when unknown: nothing is dropped)."""
    if pattern is None or other is None:
        return pattern
    return P.mask_rows(pattern, np.broadcast_to(np.asarray(other) != 0, shape))


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
    result: TracedArray = _pow_pattern(a, b, shape, dtype)
    va, vb = local_values(a), local_values(b)
    if va is not None and vb is not None:
        primal = np.asarray(_numpy(np.power, _weak(x1, a, va), _weak(x2, b, vb)), dtype)
        result.primal = np.broadcast_to(primal, shape)
    return result


def _pow_pattern(a: TracedArray, b: TracedArray, shape: tuple[int, ...], dtype: Any) -> Any:
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
    vc, va, vb = local_values(c), local_values(a), local_values(b)
    primal = None
    if vc is not None and va is not None and vb is not None:
        primal = np.broadcast_to(np.where(vc, va, vb).astype(dtype), shape)
    if c.value is None and c.primal is not None:  # local detection: the branch taken
        chosen = np.broadcast_to(c.primal, shape)
        ga = None if ga is None else P.mask_rows(ga, chosen)
        gb = None if gb is None else P.mask_rows(gb, ~chosen)
    elif c.value is not None:
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
        return TracedArray(shape, dtype, primal=primal)
    return TracedArray(
        shape, dtype, pattern=pattern, tape=tape_of(a, b), zeros=zeros, primal=primal
    )


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
            primal=result.primal,
        )
    return result

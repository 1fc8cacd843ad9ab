"""Validation of an operator call's arguments and of ``f``'s output, written once.

:func:`validate` checks what can be checked without evaluating ``f``; every entry point
(``prepare_*``, the full call) runs it, and nothing else re-checks. :func:`evaluate` checks
``f(x)`` at preparation. Messages name the operator in backticks, say what was received and
how to fix it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._array import (
    convert,
    describe_placement,
    device_of,
    is_array,
    is_complex_dtype,
    is_dtensor,
    is_eager_and_writable,
    is_floating_dtype,
    is_writable,
    layout_for,
    namespace_name,
    namespace_of,
    refuse_dtensor,
    same_devices,
    same_values,
    spec_accepts,
    spec_of,
    transformed,
)
from ..adtypes import AutoFiniteDiff, AutoTorch
from ..backends import Fn, check_inplace
from ..contexts import Constant, Context
from ..errors import (
    ArgumentTypeError,
    ArgumentValueError,
    FunctionOutputError,
    ImmutableOutputError,
    UnsupportedOperationError,
)
from ._table import OperatorSpec

__all__ = [
    "check_contexts",
    "check_f_output",
    "check_tangent_specs",
    "check_x",
    "convert_contexts",
    "copy_point",
    "evaluate",
    "validate",
]


def validate(
    op: OperatorSpec,
    backend: Any,
    x: Any,
    tangents: Any,
    contexts: tuple[Any, ...],
    y: Any,
    out: Any = None,
) -> tuple[Any, Any]:
    """Check a call's arguments before anything is evaluated; ``(x, tangents)`` normalised
    (numpy scalars as 0-d arrays)."""
    x = check_x(op.name, x, scalar_input=op.scalar_input)
    if is_dtensor(x):
        _check_dtensor_backend(op, backend, x)
    if out is not None:  # before preparing, which evaluates f
        _check_out_writable(op, out)
    check_contexts(op.name, contexts)
    if op.seeds is not None:
        tangents = _numpy_scalars_as_arrays(tangents)
        _check_tangent_tuple(op, tangents)
    if y is not None:
        _check_y_buffer(op, backend, y, namespace_of(x))
    return x, tangents


def _check_dtensor_backend(op: OperatorSpec, backend: Any, x: Any) -> None:
    """A torch DTensor ``x`` is differentiated by AutoTorch and AutoFiniteDiff only, which
    compute on the DTensor itself; any other backend would convert it to its own array
    library, gathering every shard onto each process: refused before ``f`` is evaluated."""
    if type(backend) not in (AutoTorch, AutoFiniteDiff):
        refuse_dtensor(x, f"`{op.name}` with {backend!r}")


def check_x(name: str, x: Any, *, scalar_input: bool = False) -> Any:
    """``x`` checked for the function ``name`` (numpy scalars as 0-d arrays)."""
    if isinstance(x, np.generic):
        x = np.asarray(x)
    if isinstance(x, np.ndarray):  # numpy's own oddities, refused with their fix
        _check_numpy_x(name, x)
    if not is_array(x):
        msg = (
            f"`{name}` differentiates with respect to an array x; got {type(x).__name__}. "
            "Wrap numbers in an array first, e.g. np.asarray(1.0)."
        )
        raise ArgumentTypeError(msg)
    xp = namespace_of(x)
    if not is_floating_dtype(xp, x.dtype):
        msg = (
            f"`{name}` can only differentiate with respect to real or complex floating "
            f"arrays; got x of dtype {x.dtype}. Convert x first, e.g. xp.astype(x, xp.float64)."
        )
        raise ArgumentTypeError(msg)
    if scalar_input and x.ndim != 0:
        msg = (
            f"`{name}` needs a 0-d array x; got shape {tuple(x.shape)}. "
            "Use `pushforward` or `jacobian` for array inputs."
        )
        raise ArgumentValueError(msg)
    return x


def _check_numpy_x(name: str, x: np.ndarray[Any, Any]) -> None:
    if type(x) is not np.ndarray and isinstance(x, (np.ma.MaskedArray, np.matrix)):
        kind = "masked array" if isinstance(x, np.ma.MaskedArray) else "matrix"
        msg = (
            f"`{name}` cannot differentiate with respect to a numpy {kind}: its arithmetic "
            "differs from the Array API's (masks would be ignored or lost, `*` of matrices "
            "is a matrix product). Pass a plain array, e.g. np.asarray(x) or x.filled(0.0)."
        )
        raise ArgumentTypeError(msg)
    if not x.dtype.isnative:
        msg = (
            f"`{name}` needs x in the machine's byte order; got dtype {x.dtype.str} "
            "(byte-swapped, as read from some files). Engines differ in what they return "
            "for it (JAX and torch cannot take it at all): convert first, "
            "x.astype(x.dtype.newbyteorder('='))."
        )
        raise ArgumentTypeError(msg)


def check_contexts(name: str, contexts: tuple[Any, ...]) -> None:
    """Every extra argument of ``f`` must be wrapped in a context."""
    for i, c in enumerate(contexts):
        if not isinstance(c, Context):
            msg = (
                f"`{name}` takes extra arguments of f wrapped in di.Constant(...) or "
                f"di.Cache(...); extra argument {i} is a bare {type(c).__name__}."
            )
            raise ArgumentTypeError(msg)


def _numpy_scalars_as_arrays(tangents: Any) -> Any:
    """numpy arithmetic turns 0-d arrays into numpy scalars; accept them as 0-d arrays."""
    if isinstance(tangents, tuple) and any(isinstance(t, np.generic) for t in tangents):
        return tuple(np.asarray(t) if isinstance(t, np.generic) else t for t in tangents)
    return tangents


def _check_tangent_tuple(op: OperatorSpec, tangents: Any) -> None:
    kind = "cotangents" if op.seeds == "y" else "tangents"
    if not isinstance(tangents, tuple):
        msg = (
            f"`{op.name}` takes its {kind} as a tuple of arrays, e.g. (t,); "
            f"got {type(tangents).__name__}."
        )
        raise ArgumentTypeError(msg)
    if not tangents:
        msg = f"`{op.name}` needs at least one of its {kind}; got an empty tuple."
        raise ArgumentValueError(msg)
    for i, t in enumerate(tangents):
        if not is_array(t):
            msg = f"`{op.name}`: {kind[:-1]} {i} must be an array; got {type(t).__name__}."
            raise ArgumentTypeError(msg)


def check_tangent_specs(op: OperatorSpec, tangents: tuple[Any, ...], like: Any, what: str) -> None:
    kind = "cotangent" if op.seeds == "y" else "tangent"
    for i, t in enumerate(tangents):
        spec = spec_of(t)
        if not spec_accepts(like, spec):  # a tracer may stand for a JAX array and back
            if like[:3] == spec[:3] and len(getattr(like.device, "device_set", ())) > 1:
                source = "x" if what == "x" else "f(x)"
                msg = (
                    f"`{op.name}`: {kind} {i} is laid out as {describe_placement(spec.device)}"
                    f" and {what} as {describe_placement(like.device)}: {kind}s must be "
                    f"sharded like {what}. Reshard first, e.g. jax.device_put(t, "
                    f"{source}.sharding)."
                )
                raise ArgumentValueError(msg)
            msg = (
                f"`{op.name}`: {kind} {i} must be like {what} ({like.describe()}); "
                f"got {spec.describe()}."
            )
            raise ArgumentValueError(msg)


def _check_y_buffer(op: OperatorSpec, backend: Any, y: Any, xp: Any) -> None:
    if not check_inplace(backend):
        msg = (
            f"`{op.name}` with a two-argument function f(y, x) is not supported by "
            f"{backend!r}, which cannot differentiate through mutation. Write f to return "
            "its output (y = f(x)) and call without y=."
        )
        raise UnsupportedOperationError(msg)
    if not is_array(y) or namespace_of(y) is not xp:
        msg = (
            f"`{op.name}` needs y= to be a writable array of x's namespace "
            f"({namespace_name(xp)}) for two-argument functions; got {type(y).__name__}."
        )
        raise ArgumentTypeError(msg)
    if not is_writable(y):
        msg = (
            f"`{op.name}` needs y= to be writable for a two-argument function f(y, x); this "
            f"{namespace_name(xp)} array is immutable or read-only. Write f to return its "
            "output and call without y=."
        )
        raise ImmutableOutputError(msg)


def _check_out_writable(op: OperatorSpec, out: Any) -> None:
    for o in out if isinstance(out, tuple) else (out,):
        if isinstance(o, tuple):
            _check_out_writable(op, o)
        elif is_array(o) and not is_writable(o):
            msg = (
                f"`{op.name}` cannot write into out=: this {namespace_name(namespace_of(o))} "
                "array is immutable or read-only. Call without out= to get a new array."
            )
            raise ImmutableOutputError(msg)


def convert_contexts(contexts: tuple[Context, ...], xp: Any, device: Any) -> tuple[Context, ...]:
    """Array contexts in x's namespace and on x's devices (engines take it from there).

    A context already on x's devices stays as it is, however it is cut over them; one
    brought to a sharded x's devices is replicated over them (:func:`layout_for`)."""
    converted = contexts
    for i, c in enumerate(contexts):
        value = c.value
        if is_array(value) and (
            namespace_of(value) is not xp or not same_devices(device_of(value), device)
        ):
            if converted is contexts:
                converted = list(contexts)  # type: ignore[assignment]
            target = device
            if len(getattr(device, "device_set", ())) > 1:  # a sharded x: replicated
                target = layout_for(device, None, tuple(value.shape))
            converted[i] = type(c)(convert(value, xp, target))  # type: ignore[index]
    return tuple(converted)


def evaluate(op: OperatorSpec, fn: Fn, x: Any, xp: Any) -> Any:
    """Evaluate ``f`` once at preparation (its output is checked by :func:`check_f_output`,
    or is a pytree).

    ``f`` runs on a copy of a writable ``x``: an ``f`` that writes into its argument is
    refused here, before any engine runs it on the caller's own array.
    """
    # astype, not asarray(copy=True), which warns on torch tensors that require grad
    # (not inside a caller's torch.func transform: comparing values there is control flow)
    checked = is_eager_and_writable(x) and not transformed(x)
    point = xp.astype(x, x.dtype, copy=True) if checked else x
    y = _output(op, fn, point)
    if point is not x and not same_values(point, x):
        msg = (
            f"`{op.name}`: f wrote into its argument x (x changed when f was evaluated). "
            "Differentiation evaluates f at many points derived from x, so f must not modify "
            "x in place: compute on a copy inside f (xp.asarray(x, copy=True)), or write a "
            "two-argument function f(y, x) that writes its output into y and pass y=."
        )
        raise FunctionOutputError(msg)
    return y


def _output(op: OperatorSpec, fn: Fn, x: Any) -> Any:
    """``f(x)``, out of place (a copy of ``y`` for two-argument functions)."""
    if fn.inplace:
        returned = fn.f(fn.y, x, *fn.args)
        if returned is not None:
            msg = (
                f"`{op.name}`: a two-argument function f(y, x) must write into y and return "
                f"None; it returned a {type(returned).__name__}. Call without y= if f returns "
                "its output."
            )
            raise FunctionOutputError(msg)
        # astype, not asarray(copy=True), which warns on torch tensors that require grad
        return namespace_of(fn.y).astype(fn.y, fn.y.dtype, copy=True)
    return fn(x)


def check_f_output(op: OperatorSpec, y: Any, x: Any, xp: Any) -> Any:
    """``y = f(x)`` checked for the operator (numpy scalars as 0-d arrays)."""
    if isinstance(y, np.generic):
        y = np.asarray(y)
    if not is_array(y):
        msg = f"`{op.name}` needs f to return an array; it returned a {type(y).__name__}."
        raise FunctionOutputError(msg)
    y_xp = namespace_of(y)
    if y_xp is not xp:
        msg = (
            f"`{op.name}`: f returned a {namespace_name(y_xp)} array for a "
            f"{namespace_name(xp)} x. Write f against the Array API (xp = "
            "array_api_compat.array_namespace(x)) so its output lives in x's namespace."
        )
        raise FunctionOutputError(msg)
    if not is_floating_dtype(xp, y.dtype):
        msg = (
            f"`{op.name}` needs f to return a floating array; it returned dtype {y.dtype}, "
            "whose derivative is not defined."
        )
        raise FunctionOutputError(msg)
    x_device, y_device = device_of(x), device_of(y)  # devices, not how arrays are cut
    if x_device is not None and y_device is not None and not same_devices(x_device, y_device):
        msg = (
            f"`{op.name}`: f returned an array on {describe_placement(y_device)} for x on "
            f"{describe_placement(x_device)}. Create arrays inside f with "
            "device=array_api_compat.device(x)."
        )
        raise FunctionOutputError(msg)
    if op.scalar_output:
        if y.ndim != 0:
            msg = (
                f"`{op.name}` needs f to return a 0-d (scalar) array; it returned shape "
                f"{tuple(y.shape)}. Use `jacobian` (or `pullback`) for array-valued functions."
            )
            raise FunctionOutputError(msg)
        if is_complex_dtype(xp, y.dtype):
            msg = (
                f"`{op.name}` needs a real-valued f; it returned dtype {y.dtype}. Use "
                "`pullback` or `jacobian` for complex-valued functions."
            )
            raise FunctionOutputError(msg)
    return y


def copy_point(x: Any, contexts: tuple[Context, ...], xp: Any) -> tuple[Any, tuple[Context, ...]]:
    def copy(v: Any) -> Any:
        return namespace_of(v).asarray(v, copy=True) if is_array(v) else v

    return copy(x), tuple(
        type(c)(copy(c.value)) if isinstance(c, Constant) else c for c in contexts
    )

"""Sparsity detection: from a detector, a function and a point to a boolean pattern.

Tracing runs ``f`` once on :class:`~._tracer.TracedArray` arguments (see
:mod:`._tracer`); local tracing (``TracerLocalSparsityDetector``) gives them ``x``'s values
as primals. Contexts are traced too: a ``Constant`` becomes an array of unknown
values (it may change between calls, so a zero in it is never taken as structural), a
``Cache`` an array of unknown values that ``f`` may write into, and the ``y`` buffer of a
two-argument function an array whose pattern is whatever ``f`` writes into it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._array import device_of, host_dtype, is_array, to_numpy, transformed
from ..backends import Fn, engine_for
from ..contexts import Cache, Constant
from ..errors import ArgumentTypeError, FunctionOutputError, UnsupportedOperationError
from . import _pattern as P
from ._known import check_shape
from ._selectors import (
    AbstractSparsityDetector,
    DenseSparsityDetector,
    KnownHessianSparsity,
    KnownJacobianSparsity,
    TracerLocalSparsityDetector,
    TracerSparsityDetector,
)
from ._tracer import Tape, TracedArray, TracingError, install, lift

__all__ = ["TRACERS", "detect_hessian", "detect_jacobian", "trace"]

#: The detectors that trace f (global, or local at x).
TRACERS = (TracerSparsityDetector, TracerLocalSparsityDetector)


def _unknown(value: Any, tape: Tape, *, at: bool = False) -> Any:
    """A context value as an array of unknown values (others pass unchanged); with ``at``
    (a ``Constant`` in local detection), one that carries its values as a primal."""
    if is_array(value):
        primal = to_numpy(value) if at else None
        return TracedArray(tuple(value.shape), host_dtype(value), primal=primal)
    if isinstance(value, bool | int | float | complex):
        return TracedArray((), np.asarray(value).dtype, primal=np.asarray(value) if at else None)
    return value


def trace(
    fn: Fn, x: Any, *, second_order: bool, local: bool = False
) -> tuple[P.Pattern, P.Pattern | None, tuple[int, ...]]:
    """Run ``fn`` on traced arguments: ``(Jacobian pattern, Hessian pattern, output shape)``.

    ``local``: the traced arrays carry their values at ``x`` (and ``Constant`` contexts
    theirs), for :class:`TracerLocalSparsityDetector`."""
    install()
    if local and transformed(x):
        msg = (
            "TracerLocalSparsityDetector finds the pattern at x's values, and an x traced by "
            "a transformation (jit, vmap, grad, scan) has none: prepare outside the "
            "transformation on a concrete x and pass prep= inside it, or use "
            "TracerSparsityDetector(), which needs only x's shape."
        )
        raise UnsupportedOperationError(msg)
    n = math.prod(x.shape)
    tape = Tape(n, second_order=second_order, device=device_of(x))
    primal = to_numpy(x) if local else None
    traced_x = TracedArray(
        tuple(x.shape), host_dtype(x), pattern=P.eye(n), tape=tape, primal=primal
    )
    args = []
    for context in fn.contexts:
        if isinstance(context, Constant | Cache):
            args.append(_unknown(context.value, tape, at=local and isinstance(context, Constant)))
        else:  # pragma: no cover - validation accepts no other context kinds
            args.append(context.value)
    output: Any
    if fn.y is not None:
        buffer = TracedArray(tuple(fn.y.shape), host_dtype(fn.y))
        returned = fn.f(buffer, traced_x, *args)
        if returned is not None:
            msg = "A two-argument function f(y, x) must write into y and return None."
            raise FunctionOutputError(msg)
        output = buffer
    else:
        output = fn.f(traced_x, *args)
    if isinstance(output, list | tuple) or output is None:
        msg = (
            f"Sparsity detection needs f to return one array; it returned {type(output).__name__}."
        )
        raise FunctionOutputError(msg)
    try:
        result = lift(output)
    except TypeError as err:
        msg = f"Sparsity detection needs f to return an array; it returned {type(output).__name__}."
        raise FunctionOutputError(msg) from err
    jacobian = P.as_pattern(
        result.rows() if result.pattern is not None else P.empty(result.size, n)
    )
    hessian = tape.hessian() if second_order else None
    return jacobian, hessian, result.shape


def detect_jacobian(detector: AbstractSparsityDetector, fn: Fn, x: Any, y: Any) -> P.Pattern:
    """The ``(y.size, x.size)`` Jacobian pattern of ``fn`` at ``x`` (``y = fn(x)``)."""
    shape = (math.prod(y.shape), math.prod(x.shape))
    if isinstance(detector, TRACERS):
        local = isinstance(detector, TracerLocalSparsityDetector)
        pattern, _, out_shape = trace(fn, x, second_order=False, local=local)
        if tuple(out_shape) != tuple(y.shape):
            msg = (
                f"Sparsity detection: traced f returned shape {tuple(out_shape)}, but f(x) has "
                f"shape {tuple(y.shape)}; f must compute the same thing for every x."
            )
            raise TracingError(msg)
        return pattern
    if isinstance(detector, KnownJacobianSparsity):
        pattern = detector.pattern
        check_shape(pattern, shape, "Jacobian", "KnownJacobianSparsity")
        return pattern
    if isinstance(detector, DenseSparsityDetector):
        from ..operators._dispatch import build_plan

        _refuse_traced(detector, x, "jacobian")
        plan = build_plan("jacobian", engine_for(detector.backend), fn, x, None, y)
        return _threshold(plan.run(fn, x, value=False)[1], detector.atol)
    raise _wrong_detector(detector, "Jacobian")


def detect_hessian(detector: AbstractSparsityDetector, fn: Fn, x: Any, y: Any) -> P.Pattern:
    """The ``(x.size, x.size)`` symmetric Hessian pattern of a scalar ``fn`` at ``x``."""
    n = math.prod(x.shape)
    if isinstance(detector, TRACERS):
        local = isinstance(detector, TracerLocalSparsityDetector)
        _, pattern, out_shape = trace(fn, x, second_order=True, local=local)
        if tuple(out_shape) != ():
            msg = f"Hessian sparsity needs f to return a 0-d array; it returned shape {out_shape}."
            raise FunctionOutputError(msg)
        assert pattern is not None
        return pattern
    if isinstance(detector, KnownHessianSparsity):
        pattern = detector.pattern
        check_shape(pattern, (n, n), "Hessian", "KnownHessianSparsity")
        return P.as_pattern(pattern + pattern.T)
    if isinstance(detector, DenseSparsityDetector):
        from ..operators._dispatch import build_plan

        _refuse_traced(detector, x, "hessian")
        plan = build_plan("hessian", engine_for(detector.backend), fn, x, None, y)
        pattern = _threshold(plan.run(fn, x, value=False)[2], detector.atol)
        return P.as_pattern(pattern + pattern.T)
    raise _wrong_detector(detector, "Hessian")


def _refuse_traced(detector: Any, x: Any, operator: str) -> None:
    """Raise if ``x`` is traced by a caller's transformation: ``detector`` reads the values
    of a dense matrix at ``x``, which a trace does not have."""
    if transformed(x):
        msg = (
            f"`{operator}` with AutoSparse(sparsity_detector={detector!r}) was called "
            "unprepared on an array traced by a transformation (jit, vmap, grad, scan): this "
            "detector finds the pattern from the values of a dense matrix at x, and a traced "
            "x has none. Prepare outside the transformation on a concrete x (`prepare_"
            f"{operator}`) and pass prep= inside it (the pattern and colors are fixed then), "
            "or use TracerSparsityDetector(), which needs only x's shape."
        )
        raise UnsupportedOperationError(msg)


def _threshold(matrix: Any, atol: float) -> P.Pattern:
    import scipy.sparse as sp

    return P.as_pattern(sp.csr_array(np.abs(np.asarray(to_numpy(matrix))) > atol))


def _wrong_detector(detector: Any, what: str) -> ArgumentTypeError:
    other = "KnownJacobianSparsity" if what == "Hessian" else "KnownHessianSparsity"
    if type(detector).__name__ == other:
        msg = (
            f"{other} gives a {'Jacobian' if what == 'Hessian' else 'Hessian'} pattern; the "
            f"{what} needs Known{what}Sparsity."
        )
    else:
        msg = f"Expected a sparsity detector for the {what}; got {detector!r}."
    return ArgumentTypeError(msg)

"""Evaluating ``f`` at many points for finite differences: stacked when ``f`` allows it.

Finite differences need ``f`` at many perturbed points. If ``f`` is *batchable* — evaluated
on points stacked along a new leading axis it returns their outputs stacked the same way —
one call replaces hundreds. Whether that holds is found out once, at preparation, by a probe:
three well-separated points are evaluated stacked and one by one, and the results must agree
in shape, dtype and value (to ``1000 * eps`` relative). Any exception, shape surprise, NaN or
disagreement means "not batchable". A namespace with its own vectorizing map (``jax.vmap``,
see :func:`~differentiation_interface._array.vectorizer`) is then probed the same way through
that map, which evaluates a function written for one point on stacked points; otherwise
points are evaluated in a loop. A batchable verdict is re-checked cheaply (output shape) at
every call, with the loop as fallback.

The map matters most inside a caller's ``jax.jit`` (a sparse plan fusing its dense call, or
a user's own jit): the loop would put one copy of ``f`` per point into the program, and
XLA's compile time grows faster than the program (minutes for a 50-variable Hessian), while
the map puts one copy per chunk of points.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..._array import (
    constant,
    device_for,
    differentiated_by,
    element_setters,
    eps_of,
    fresh,
    is_array,
    is_complex_dtype,
    is_dask,
    is_dtensor,
    is_eager_and_writable,
    namespace_of,
    real_dtype,
    refuse_meta,
    rows,
    stack,
    stack_elements,
    vectorizer,
)
from .._base import Fn

__all__ = ["Evaluator", "coordinate_sweep", "untracked"]

_PROBE_POINTS = 3
#: Up to this many points are evaluated in a loop even when a vectorizing map could take
#: them: an eager ``jax.vmap`` call cost about four eager calls of a small ``f`` (850 µs
#: against 470 µs for two points, 880 µs against 1.9 ms for eight), and inside a trace a
#: few copies of ``f`` keep the program small.
_LOOP_POINTS = 4


def _probe_offsets(xp: Any, x: Any) -> Any:
    """Deterministic, well-spread offsets of size ``0.25 * (1 + |x|)`` with mixed signs."""
    n = math.prod(x.shape)
    rdtype = real_dtype(xp, x.dtype)
    idx = xp.arange(n, dtype=rdtype, device=device_for(x, (n,)))
    pattern = xp.reshape(xp.cos(idx * 2.3 + 0.7), tuple(x.shape))
    offset = 0.25 * (1.0 + xp.abs(x)) * pattern
    if is_complex_dtype(xp, x.dtype):
        offset = xp.astype(offset, x.dtype) * (0.6 + 0.8j)
    return xp.astype(offset, x.dtype)


def _allclose(xp: Any, a: Any, b: Any, rtol: float) -> bool:
    if tuple(a.shape) != tuple(b.shape):
        return False
    a, b = constant(a), constant(b)  # values only (torch warns on float() of tracked ones)
    scale = xp.max(xp.abs(b)) if math.prod(b.shape) else 0.0
    if not bool(xp.all(xp.isfinite(xp.abs(a)))) or not bool(xp.all(xp.isfinite(xp.abs(b)))):
        return False
    tol = rtol * (float(scale) + 1e-300)
    return bool(xp.all(xp.abs(a - b) <= tol))


def _agrees(call: Any, fn: Fn, x: Any, y: Any, *, values: bool = True) -> bool:
    """Whether ``call`` maps the probe points, stacked, to ``fn``'s outputs at each of them
    (shapes and dtypes only if ``values`` is false)."""
    xp = namespace_of(x)
    offset = _probe_offsets(xp, x)
    points = xp.stack([x, x + offset, x - 2.0 * offset], axis=0)
    try:
        stacked = call(points)
    except Exception:  # noqa: BLE001 - any failure on stacked input means "evaluate one by one"
        return False
    if (
        not is_array(stacked)
        or namespace_of(stacked) is not xp
        or tuple(stacked.shape) != (_PROBE_POINTS, *y.shape)
        or stacked.dtype != y.dtype
    ):
        return False
    if not values:
        return True
    rtol = 1000.0 * eps_of(xp, y.dtype)
    singles = (y, fn(points[1, ...]), fn(points[2, ...]))
    return all(
        is_array(s) and _allclose(xp, stacked[k, ...], s, rtol) for k, s in enumerate(singles)
    )


def probe_batchable(fn: Fn, x: Any, y: Any) -> bool:
    """Whether ``fn`` maps stacked points to stacked outputs (see the module docstring).

    Under a JAX trace (``x`` a tracer: no values to compare) ``f`` counts as not batchable;
    :func:`probe_vectorizer` then maps it. A dask ``x`` is not probed either (the probe
    computes values, and calls on dask arrays stay lazy): its points are evaluated one by one,
    each a lazy call of ``f``, and the stencils along every coordinate run in tasks
    (:mod:`.blocks`).
    """
    if fn.batchable is not None:
        return fn.batchable
    if differentiated_by(x) == "jax" or is_dask(x) or is_dtensor(x):
        return False
    return _agrees(fn, fn, x, y)


def probe_vectorizer(fn: Fn, x: Any, y: Any) -> Any:
    """The namespace's vectorizing map if it evaluates ``fn`` on stacked points, else None.

    Only for functions whose batching is unknown (``fn.batchable is None``): derived and
    two-argument functions are never mapped. The map evaluates ``f`` at each point by
    construction, so under a JAX trace (no values to compare) running with the expected
    shapes and dtypes is enough; on concrete values the probe compares values as well.
    """
    vmap = vectorizer(namespace_of(x))
    if vmap is None or fn.batchable is not None:
        return None
    traced = differentiated_by(x) == "jax"
    return vmap if _agrees(vmap(fn.__call__), fn, x, y, values=not traced) else None


class Evaluator:
    """Evaluates ``f`` at stacked points ``(K, *x.shape)``, returning ``(K, *y.shape)``.

    ``vmap`` is the namespace's vectorizing map when ``f`` is not batchable but that map
    evaluates it on stacked points (JAX), else ``None``; it serves calls of more than
    ``_LOOP_POINTS`` points. ``sweepable`` tells whether points
    that differ from ``x`` in one coordinate may instead be visited by
    :func:`coordinate_sweep` (``f`` is evaluated one point at a time and ``x``'s arrays are
    mutable and eager).
    """

    __slots__ = ("batchable", "chunk", "sweepable", "vmap", "y_shape")

    def __init__(self, fn: Fn, x: Any, y: Any) -> None:
        refuse_meta(x, "AutoFiniteDiff()")  # no values to difference
        self.y_shape = tuple(y.shape)
        self.batchable = probe_batchable(fn, x, y)
        self.vmap = None if self.batchable else probe_vectorizer(fn, x, y)
        size = max(1, math.prod(x.shape), math.prod(y.shape))
        self.chunk = max(1, stack_elements(x) // size)  # a GPU's budget follows its memory
        self.sweepable = (  # not a DTensor: each index write would be a collective
            not self.batchable
            and self.vmap is None
            and is_eager_and_writable(x)
            and not is_dtensor(x)
        )

    def __call__(self, fn: Fn, points: Any) -> Any:
        xp = namespace_of(points)
        if self.batchable:
            return self._stacked(fn, fn, points, xp)
        if self.vmap is not None and points.shape[0] > _LOOP_POINTS:
            return self._stacked(self.vmap(fn.__call__), fn, points, xp)
        return self._loop(fn, points, xp)

    def _stacked(self, call: Any, fn: Fn, points: Any, xp: Any) -> Any:
        """``call`` on chunks of the stacked points (the loop if a chunk fails)."""
        count = points.shape[0]
        outputs = []
        for start in range(0, count, self.chunk):
            block = points[start : min(start + self.chunk, count), ...]
            try:
                out = call(block)
            except Exception:  # noqa: BLE001 - the loop re-raises real errors
                return self._loop(fn, points, xp)
            if not is_array(out) or tuple(out.shape) != (block.shape[0], *self.y_shape):
                return self._loop(fn, points, xp)
            outputs.append(out)
        return outputs[0] if len(outputs) == 1 else xp.concat(outputs, axis=0)

    def _loop(self, fn: Fn, points: Any, xp: Any) -> Any:
        if fn.inplace:
            return stack(xp, [fn(p) for p in rows(xp, points)])
        f, args = fn.f, fn.args  # direct calls: this loop is the hot path of loop mode
        return stack(xp, [f(p, *args) for p in rows(xp, points)])


def untracked(x: Any, args: tuple[Any, ...]) -> bool:
    """Whether no AD engine tracks ``x`` or a context value: :func:`coordinate_sweep` may run.

    The sweep writes into a private copy of ``x`` by index, which an engine differentiating
    ``x`` (or a context that ``f`` combines with that copy) would record as in-place edits of
    values its graph still refers to: the derivative through the results would be wrong.
    Stacked points, built out of place, are differentiable and serve those calls instead.
    Checked at every call: the same preparation serves tracked and untracked arrays.
    """
    return differentiated_by(x) is None and all(differentiated_by(a) is None for a in args)


def coordinate_sweep(fn: Fn, x: Any, shifted: list[Any], indices: tuple[Any, ...]) -> Any:
    """``f`` at ``x`` with coordinate ``j`` replaced by ``values[j]``, for each ``values``
    in ``shifted`` and each ``j``: outputs stacked as ``(len(shifted) * n, *y.shape)``.

    Instead of materialising ``n`` perturbed copies of ``x`` (``n**2`` memory traffic, as
    much work as ``f`` itself when ``f`` is cheap), one private copy of ``x`` is perturbed
    one coordinate at a time and restored. Outputs that share memory with that copy (``f``
    returned ``x`` or a view of it) are copied before the copy changes again.
    """
    xp = namespace_of(x)
    buffer = xp.astype(x, x.dtype, copy=True)  # asarray(copy=True) warns on torch leaves
    original = xp.reshape(x, (-1,))
    if xp is np:  # Python scalars are the cheapest values to write into numpy
        original, shifted = original.tolist(), [v.tolist() for v in shifted]
    if fn.inplace:
        call, args = fn, ()
    else:
        call, args = fn.f, fn.args  # direct calls: this loop is the hot path of loop mode
    outputs: list[Any] = []
    append, scalar = outputs.append, np.generic
    setters = element_setters(buffer)  # torch: a kept view per element, written by copy_
    if setters is not None:
        for values in shifted:
            for write, value, restore in zip(setters, values, original, strict=True):
                write(value)
                out = call(buffer, *args)
                append(fresh(out, xp, (buffer,)))
                write(restore)
        return stack(xp, outputs)
    for values in shifted:
        for index, value, restore in zip(indices, values, original, strict=True):
            buffer[index] = value
            out = call(buffer, *args)
            append(out if isinstance(out, scalar) else fresh(out, xp, (buffer,)))
            buffer[index] = restore
    return stack(xp, outputs)

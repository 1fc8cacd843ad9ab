"""The full call of an operator: validate, prepare (or check the prep), check ``out=``, run,
deliver. Every public function ends here; the speed tiers of :mod:`._fastpath` only serve
calls whose result they can give exactly as this path would.
"""

from __future__ import annotations

from typing import Any

from .._array import (
    ArraySpec,
    check_out,
    device_of,
    fresh,
    is_array,
    namespace_of,
    needs_x64,
    placement,
    precision_scope,
    spec_of,
    write_out,
    x64_switch,
)
from ..backends import Fn, engine_for
from ..contexts import Context
from ..errors import ArgumentTypeError, ArgumentValueError
from ..prep import Prep, PrepCache, call_signature
from . import _fastpath
from ._dispatch import build_plan
from ._table import OperatorSpec, Result
from ._validate import check_tangent_specs, convert_contexts, copy_point, evaluate, validate

__all__ = ["call", "clear_cache", "prepare"]

_cache = PrepCache()


def clear_cache() -> None:
    """Forget the preparations cached for unprepared calls."""
    _cache.clear()
    _fastpath.clear_quick_cache()


# --- preparation -------------------------------------------------------------------------------


def prepare(
    op: OperatorSpec,
    f: Any,
    backend: Any,
    x: Any,
    tangents: tuple[Any, ...] | None,
    contexts: tuple[Any, ...],
    y: Any,
    *,
    strict: bool,
    same_point: bool = False,
    validated: bool = False,
) -> Prep:
    """Prepare ``op`` for this signature (the body of every ``prepare_*`` function);
    ``validated``: the full call has run :func:`~._validate.validate` already."""
    if not validated:
        x, tangents = validate(op, backend, x, tangents, contexts, y)
    xp = namespace_of(x)
    engine = engine_for(backend)
    device = device_of(x)
    signature = call_signature(x, tangents or (), contexts, y)
    fn = Fn(f, convert_contexts(contexts, xp, device), y)
    with precision_scope(xp, x, *(c.value for c in contexts)):
        y0 = evaluate(op, fn, x, xp)
        seeds = None
        if op.seeds is not None:
            assert tangents is not None
            like, what = (spec_of(x), "x") if op.seeds == "x" else (spec_of(y0), "f(x)")
            check_tangent_specs(op, tangents, like, what)
            seeds = xp.stack(list(tangents), axis=0)
        plan = build_plan(op.name, engine, fn, x, seeds, y0, same_point=same_point)
    quick_x, quick_tangents = None, None
    if not contexts and y is None and not same_point:
        quick_x = ArraySpec(type(x), tuple(x.shape), x.dtype, placement(x))
        if tangents and all(spec_of(t) == spec_of(tangents[0]) for t in tangents):
            t0 = tangents[0]
            quick_tangents = (
                len(tangents),
                ArraySpec(type(t0), tuple(t0.shape), t0.dtype, placement(t0)),
            )
    prep = Prep(
        operator=op.name,
        f=f,
        backend=backend,
        signature=signature,
        plan=plan,
        xp=xp,
        y_spec=spec_of(y0),
        strict=strict,
        fn=Fn(f) if not contexts and y is None else None,
        x64=x64_switch() if needs_x64(xp, x, *(c.value for c in contexts)) else None,
        point=copy_point(x, contexts, xp) if same_point else None,
        quick_x=quick_x,
        quick_tangents=quick_tangents,
    )
    prep.express = _fastpath.make_express(prep)
    return prep


# --- calls -------------------------------------------------------------------------------------


def call(
    op: OperatorSpec,
    f: Any,
    backend: Any,
    x: Any,
    tangents: Any,
    contexts: tuple[Any, ...],
    y: Any,
    prep: Any,
    out: Any,
    *,
    value: bool,
    quick: bool = True,
) -> Any:
    """An operator call: the quick tier if it serves the call, else the full call (every
    check, every report, ``out=`` and ``y=``); ``quick=False`` takes the full call always.

    Returns the plain variant's result, or with ``value`` the value-and variant's tuple.
    """
    if quick and not contexts and out is None and y is None:
        result = _fastpath.quick_call(op, f, backend, x, tangents, prep, value=value)
        if result is not None:
            return result
    x, tangents = validate(op, backend, x, tangents, contexts, y, out)
    if type(prep) is Prep:
        prep.check(op.name, f, backend, x, tangents or (), contexts, y)
    else:
        prep = _find_prep(op, f, backend, x, tangents, contexts, y, prep)
    xp, device = prep.xp, device_of(x)
    fn = Fn(f, convert_contexts(contexts, xp, device), y)
    seeds = None if tangents is None else xp.stack(list(tangents), axis=0)
    if out is not None:
        count = 1 if seeds is None else seeds.shape[0]
        outs = _check_outs(op, prep, x, count, out, value=value)
    with precision_scope(xp, x, *fn.args):
        args = (x,) if seeds is None else (x, seeds)
        results = _fastpath.arrays(prep.plan.run(fn, *args, value=value or fn.inplace))
    if out is None:
        delivered = results[1:] if op.primal else results
        if seeds is not None and op.results[-1].per_tangent:
            delivered = (*delivered[:-1], _fastpath.unstack(delivered[-1]))
    else:
        derivatives = results[1:] if op.primal else results
        delivered = tuple(
            _deliver(result, spec, target)
            for result, spec, target in zip(derivatives, op.results, outs, strict=True)
        )
    if not value:
        if y is not None:  # leave f(x) in the caller's y
            write_out(y, results[0])
        return delivered[-1]
    if not op.primal:
        return delivered
    if y is not None:
        primal = write_out(y, results[0])
    else:
        primal = fresh(results[0], xp, (x, *(a for a in fn.args if is_array(a))))
    return (primal, *delivered)


def _find_prep(
    op: OperatorSpec,
    f: Any,
    backend: Any,
    x: Any,
    tangents: Any,
    contexts: tuple[Context, ...],
    y: Any,
    prep: Any,
) -> Prep:
    """A cached or new preparation (``prep`` is None), or the report that ``prep`` is not a
    preparation at all (the full call checks a given one itself)."""
    if prep is None:
        key = (op.name, f, backend, call_signature(x, tangents or (), contexts, y))
        found = _cache.get(key)
        if found is None:
            found = prepare(op, f, backend, x, tangents, contexts, y, strict=False, validated=True)
            _cache.put(key, found)
            _fastpath.remember(op.name, f, backend, x, tangents, found)
        return found
    if not isinstance(prep, Prep):
        msg = f"`{op.name}` takes prep= from `prepare_{op.name}`; got {type(prep).__name__}."
        raise ArgumentTypeError(msg)
    prep.check(op.name, f, backend, x, tangents or (), contexts, y)  # a subclass of Prep
    return prep


# --- out= --------------------------------------------------------------------------------------


def _check_outs(
    op: OperatorSpec, prep: Prep, x: Any, count: int, out: Any, *, value: bool
) -> tuple[Any, ...]:
    """One ``out=`` target (or ``None``) per derivative the variant returns, each checked
    before anything is computed."""
    n = len(op.results)
    if getattr(prep.plan, "sparse_output", False):
        msg = (
            f"`{op.name}` returns a sparse matrix with this backend, which cannot be "
            "written into an array: use AutoSparse(..., output='dense') with out=, or call "
            "without out=."
        )
        raise ArgumentValueError(msg)
    if not value:
        targets = (None,) * (n - 1) + (out,)
    elif n == 1:
        targets = (out,)
    else:
        if not isinstance(out, tuple) or len(out) != n:
            msg = (
                f"`{op.name}` value-and variants need out= to be a tuple of {n} "
                f"(one per derivative, the value excluded); got {type(out).__name__}."
            )
            raise ArgumentValueError(msg)
        targets = out
    for spec, target in zip(op.results, targets, strict=True):
        if target is not None:
            _check_out(op, prep, x, count, spec, target)
    return targets


def _check_out(op: OperatorSpec, prep: Prep, x: Any, count: int, spec: Result, out: Any) -> None:
    shape = spec.shape_for(tuple(x.shape), tuple(prep.y_spec.shape))
    if spec.dtype == "x":
        dtype = x.dtype
    elif spec.dtype == "y":
        dtype = prep.y_spec.dtype
    else:
        with precision_scope(prep.xp, x):  # JAX would canonicalise float64 away
            dtype = prep.xp.result_type(x.dtype, prep.y_spec.dtype)
    device = device_of(x)
    if not spec.per_tangent:
        check_out(op.name, spec.what, out, xp=prep.xp, shape=shape, dtype=dtype, device=device)
        return
    if not isinstance(out, tuple) or len(out) != count:
        got = f"a tuple of {len(out)}" if isinstance(out, tuple) else type(out).__name__
        msg = f"`{op.name}` needs out= to be a tuple of {count} arrays; got {got}."
        raise ArgumentValueError(msg)
    for i, o in enumerate(out):
        what = f"{spec.what} {i}"
        check_out(op.name, what, o, xp=prep.xp, shape=shape, dtype=dtype, device=device)


def _deliver(result: Any, spec: Result, out: Any) -> Any:
    """A result written into ``out`` (which is returned), or itself where the variant has no
    ``out=`` for it; a per-tangent batch as a tuple."""
    if not spec.per_tangent:
        return result if out is None else write_out(out, result)
    if out is None:
        return _fastpath.unstack(result)
    return tuple(write_out(o, result[i, ...]) for i, o in enumerate(out))

"""The full call of an operator: validate, prepare (or check the prep), check ``out=``, run,
deliver. Every public function ends here; the speed tiers of :mod:`._fastpath` only serve
calls whose result they can give exactly as this path would.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from .._array import (
    ArraySpec,
    check_out,
    device_of,
    fresh,
    is_array,
    is_complex_dtype,
    is_dtensor,
    namespace_of,
    needs_x64,
    placement,
    precision_scope,
    sharding_of,
    spec_of,
    stack,
    unstack,
    write_out,
    x64_switch,
)
from .._freshness import Witness
from .._tree import is_tree
from ..backends import Fn, engine_for
from ..contexts import Context
from ..errors import ArgumentTypeError, ArgumentValueError, FunctionOutputError
from ..prep import Prep, PrepCache, call_signature, traced_signature
from . import _aux, _fastpath, _sharded, _trees
from ._complex import check_holomorphic
from ._dispatch import build_plan
from ._table import OperatorSpec, Result
from ._trees import is_structured
from ._validate import (
    check_f_output,
    check_tangent_specs,
    convert_contexts,
    copy_point,
    evaluate,
    validate,
)

__all__ = ["call", "clear_cache", "prepare"]

_cache = PrepCache()


def clear_cache() -> None:
    """Forget the preparations cached for unprepared calls.

    An unprepared call (no ``prep=``) prepares once per operator, function, backend and kind
    of arguments, and keeps that preparation for the next call like it. The cache holds at
    most 128 preparations and 256 MiB of their arrays (seeds, colorings, copies of the state
    a traced ``f`` reads), dropping the least recently used first; ``clear_cache`` frees it
    all at once, for instance after a sweep over many problem sizes.

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> g = di.gradient(lambda x: (x**2).sum(), di.AutoFiniteDiff(), np.ones(3))
    >>> di.clear_cache()
    """
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
    check_output: Callable[[ArraySpec], None] | None = None,
    has_aux: bool = False,
) -> Prep:
    """Prepare ``op`` for this signature (the body of every ``prepare_*`` function);
    ``validated``: the full call has run :func:`~._validate.validate` already;
    ``check_output`` is called with ``f(x)``'s spec before the engine prepares anything;
    ``has_aux``: ``f`` returns ``(y, aux)`` (the preparation sees :class:`~._aux.AuxSplit`)."""
    if has_aux:
        f = _aux.AuxSplit(f)
    if not validated:
        if is_structured(x, tangents, contexts, y):
            return _trees.prepare(
                op, f, backend, x, tangents, contexts, y, strict=strict, same_point=same_point
            )
        x, tangents = validate(op, backend, x, tangents, contexts, y)
    xp = namespace_of(x)
    engine = engine_for(backend)
    device = device_of(x)
    signature = call_signature(x, tangents or (), contexts, y)
    one = tangents is not None and len(tangents) == 1  # calls give it unstacked (plan.single)
    fn = Fn(f, convert_contexts(contexts, xp, device), y, unstacked=one)
    with precision_scope(xp, x, *(c.value for c in contexts)):
        try:
            y0 = evaluate(op, fn, x, xp)
        except Exception as err:
            explained = engine.explain(op.name, err)
            if explained is None:
                raise
            raise explained from err
        if y0 is not None and not is_array(y0) and is_tree(y0):  # f returns a pytree
            return _trees.prepare(
                op,
                f,
                backend,
                x,
                tangents,
                contexts,
                y,
                strict=strict,
                same_point=same_point,
                output=y0,
            )
        y0 = check_f_output(op, y0, x, xp)
        if check_output is not None:
            check_output(spec_of(y0))
        seeds = None
        if op.seeds is not None:
            assert tangents is not None
            like, what = (spec_of(x), "x") if op.seeds == "x" else (spec_of(y0), "f(x)")
            check_tangent_specs(op, tangents, like, what)
            seeds = stack(xp, tangents)
        if not engine.shards and sharding_of(x) is not None:  # see _sharded
            plan = _sharded.build(op, engine, fn, x, seeds, y0, same_point=same_point)
        else:
            plan = build_plan(op.name, engine, fn, x, seeds, y0, same_point=same_point)
        if op.holomorphic and is_complex_dtype(xp, x.dtype):
            check_holomorphic(op, engine, fn, x, y0)
    quick_x, quick_tangents, quick_out = None, None, None
    quick_shapes: tuple[tuple[int, tuple[int, ...]], ...] = ()
    # The quick tier's cache keys on array types: a preparation made inside a caller's
    # trace (JAX tracers) must not serve a later trace, whose tracers have the same type.
    quick = not contexts and y is None and not same_point and not has_aux
    if quick and not traced_signature(signature):
        quick_x = ArraySpec(type(x), tuple(x.shape), x.dtype, placement(x))
        quick_out = _quick_out(op, xp, x, spec_of(y0), engine.sparse_result(op.name))
        quick_shapes = _fastpath.result_shapes(op, tuple(x.shape), tuple(y0.shape))
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
        quick_out=quick_out,
        quick_shapes=quick_shapes,
        sparse_result=engine.sparse_result(op.name),
    )
    prep.express = _fastpath.make_express(prep)
    prep.express1 = _fastpath.make_express1(prep)
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
    has_aux: bool = False,
) -> Any:
    """An operator call: the quick tier if it serves the call, else the full call (every
    check, every report, ``out=`` and ``y=``); ``quick=False`` takes the full call always.

    Returns the plain variant's result, or with ``value`` the value-and variant's tuple;
    with ``has_aux`` (:mod:`._aux`), ``(result, aux)`` or ``((y, aux), result)``.
    """
    if has_aux:
        return _aux.call(op, f, backend, x, tangents, contexts, y, prep, out, value=value)
    if quick and not contexts and y is None:
        result = _fastpath.quick_call(op, f, backend, x, tangents, prep, out, value=value)
        if result is not None:
            return result
    if type(prep) is Prep and type(x) is prep.signature[0].type:
        # arrays, as prepared (the common case: two reads instead of the checks below)
        if type(prep.f) is _aux.AuxSplit and type(f) is not _aux.AuxSplit:
            _aux.check_prep(op, prep, False)
    else:
        if prep is not None:
            _aux.check_prep(op, prep, isinstance(f, _aux.AuxSplit))
        if type(prep) is _trees.TreePrep or is_structured(x, tangents, contexts, y):
            return _trees.call(op, f, backend, x, tangents, contexts, y, prep, out, value=value)
    x, tangents = validate(op, backend, x, tangents, contexts, y, out)
    device = device_of(x)
    outs = None
    if out is not None:  # every check before anything is computed
        outs = _out_targets(op, out, value=value)
        count = 1 if tangents is None else len(tangents)
        if type(prep) is Prep:
            if prep.sparse_result:
                _refuse_sparse_out(op)
        else:  # what needs no f(x) is checked before f runs
            if engine_for(backend).sparse_result(op.name):
                _refuse_sparse_out(op)
            _check_outs(op, namespace_of(x), x, device, count, outs, None)
    if type(prep) is Prep:
        prep.check(op.name, f, backend, x, tangents or (), contexts, y)
    else:
        check = None
        if outs is not None:
            check = partial(_check_outs, op, namespace_of(x), x, device, count, outs)
        prep = _find_prep(op, f, backend, x, tangents, contexts, y, prep, check)
        if type(prep) is _trees.TreePrep:  # f returns a pytree: found at preparation
            return _trees.call(op, f, backend, x, tangents, contexts, y, prep, out, value=value)
    xp = prep.xp
    if outs is not None:
        _check_outs(op, xp, x, device, count, outs, prep.y_spec)
    fn = Fn(f, convert_contexts(contexts, xp, device), y)
    # one tangent for a plan prepared with one: given and returned unstacked
    one = prep.single and tangents is not None and len(tangents) == 1
    with precision_scope(xp, x, *fn.args):
        if tangents is None:
            args: tuple[Any, ...] = (x,)
        else:
            args = (x, tangents[0] if one else stack(xp, tangents))
        run = prep.plan.run_single if one else prep.plan.run
        try:
            results = _fastpath.arrays(run(fn, *args, value=value or fn.inplace))
        except Exception as err:
            _diagnose(op, prep, fn, x, err)
            raise
        if op.primal and results[0] is not None and results[0].shape != prep.y_spec.shape:
            _output_changed(op, prep, tuple(results[0].shape), None)
        if op.y_shaped and not _fastpath.fits(op, prep, x, results):
            _diagnose(op, prep, fn, x, None)  # raises, naming f's shape at this x
            _output_changed(op, prep, "another shape", None)
    if not value:
        if y is not None:  # leave f(x) in the caller's y
            write_out(y, results[0])
        return _deliver(results[-1], op.results[-1], out, one)
    derivatives = results[1:] if op.primal else results
    targets = outs if outs is not None else (None,) * len(derivatives)
    delivered = tuple(
        _deliver(result, spec, target, one)
        for result, spec, target in zip(derivatives, op.results, targets, strict=True)
    )
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
    check_output: Callable[[ArraySpec], None] | None,
) -> Prep:
    """A cached or new preparation (``prep`` is None), or the report that ``prep`` is not a
    preparation at all (the full call checks a given one itself). ``check_output`` sees
    ``f(x)``'s spec when a new preparation has evaluated ``f``, before the engine prepares."""
    if prep is None:

        def make() -> Prep:
            return prepare(
                op,
                f,
                backend,
                x,
                tangents,
                contexts,
                y,
                strict=False,
                validated=True,
                check_output=check_output,
            )

        found = cached(op, f, backend, call_signature(x, tangents or (), contexts, y), make)
        if found.quick_x is not None and not engine_for(backend).point_local:
            _fastpath.remember(op.name, f, backend, x, tangents, found)
        return found
    if not isinstance(prep, Prep):
        msg = f"`{op.name}` takes prep= from `prepare_{op.name}`; got {type(prep).__name__}."
        raise ArgumentTypeError(msg)
    prep.check(op.name, f, backend, x, tangents or (), contexts, y)  # a subclass of Prep
    return prep


def cached(
    op: OperatorSpec, f: Any, backend: Any, signature: Any, make: Callable[[], Prep]
) -> Prep:
    """The cached preparation of an unprepared call with this signature, or a new one from
    ``make()``, cached unless the engine traces ``f`` and its state is too large to watch.

    Never cached: a preparation whose engine is ``point_local`` (its plan holds for the
    values of ``x`` it was made at, e.g. ``TracerLocalSparsityDetector``), and one made for
    JAX tracers (an unprepared call inside a caller's
    ``jit``, ``vmap``, ``grad`` or ``scan``). It may hold the tracers of that trace, which
    are invalid in any other (JAX's ``UnexpectedTracerError``); the caller's own trace runs
    once per compilation, so preparing there again costs no more than the trace itself.
    """
    if traced_signature(signature) or engine_for(backend).point_local:
        return make()
    key = (op.name, f, backend, signature)
    found = _cache.get(key)
    if found is not None and found.witness is not None and not found.witness.holds():
        found = None  # f's state changed since: prepare again (replacing the entry)
    if found is not None:
        return found
    traces = engine_for(backend).traces
    before = Witness.of(f) if traces else None
    found = make()
    if traces:
        after = Witness.of(f)
        found.witness = None if after is None else after.without_changes_since(before)
        if found.witness is None:  # too much state to observe: never reused
            return found
    _fastpath.forget(_cache.put(key, found))
    return found


# --- engine failures -------------------------------------------------------------------------


def _diagnose(op: OperatorSpec, prep: Prep, fn: Fn, x: Any, err: Exception | None) -> None:
    """An engine failed: if ``f``'s output no longer looks like it did at preparation (its
    shape depends on the values of ``x``), say so; otherwise the caller re-raises ``err``."""
    try:
        y = fn(x)
    except Exception:  # noqa: BLE001 - f itself fails here: the engine's error stands
        return
    if not is_array(y) or tuple(y.shape) != tuple(prep.y_spec.shape):
        shape = tuple(y.shape) if is_array(y) else type(y).__name__
        _output_changed(op, prep, shape, err)


def _output_changed(op: OperatorSpec, prep: Prep, shape: Any, err: Exception | None) -> None:
    needs = f" (`{op.name}` needs a 0-d output)" if op.scalar_output else ""
    msg = (
        f"`{op.name}`: f returned shape {shape} at this x, but shape "
        f"{tuple(prep.y_spec.shape)} at preparation{needs}. A preparation fixes the shape of f's "
        "output; an f whose output shape depends on the values of x (boolean masks, "
        "nonzero, unique) is a different function at each point and cannot be "
        "differentiated as one. Keep the shape fixed, e.g. xp.where(mask, x, 0.0) instead "
        "of x[mask]."
    )
    raise FunctionOutputError(msg) from err


# --- out= --------------------------------------------------------------------------------------


def _out_targets(op: OperatorSpec, out: Any, *, value: bool) -> tuple[Any, ...]:
    """One ``out=`` target (or ``None``) per derivative of the table's row."""
    n = len(op.results)
    if not value:
        return (None,) * (n - 1) + (out,)
    if n == 1:
        return (out,)
    if not isinstance(out, tuple) or len(out) != n:
        msg = (
            f"`{op.name}` value-and variants need out= to be a tuple of {n} "
            f"(one per derivative, the value excluded); got {type(out).__name__}."
        )
        raise ArgumentValueError(msg)
    return tuple(out)


def _check_outs(
    op: OperatorSpec,
    xp: Any,
    x: Any,
    device: Any,
    count: int,
    targets: tuple[Any, ...],
    y_spec: ArraySpec | None,
) -> None:
    """Check every ``out=`` target against the table's result rules; with ``y_spec`` None
    (``f`` has not run yet) only those whose shape and dtype follow from ``x`` alone."""
    for spec, target in zip(op.results, targets, strict=True):
        if target is None:
            continue
        if spec.shape == "x" and spec.dtype == "x" and not spec.per_tangent:  # gradients
            check_out(
                op.name, spec.what, target, xp=xp, shape=x.shape, dtype=x.dtype, device=device
            )
            continue
        if y_spec is None and (spec.shape in ("y", "jacobian") or spec.dtype != "x"):
            continue
        shape, dtype = _result_shape_dtype(spec, xp, x, y_spec)
        if not spec.per_tangent:
            check_out(op.name, spec.what, target, xp=xp, shape=shape, dtype=dtype, device=device)
            continue
        if not isinstance(target, tuple) or len(target) != count:
            kind = type(target).__name__
            got = f"a tuple of {len(target)}" if isinstance(target, tuple) else kind
            msg = f"`{op.name}` needs out= to be a tuple of {count} arrays; got {got}."
            raise ArgumentValueError(msg)
        for i, o in enumerate(target):
            what = f"{spec.what} {i}"
            check_out(op.name, what, o, xp=xp, shape=shape, dtype=dtype, device=device)


def _result_shape_dtype(
    spec: Result, xp: Any, x: Any, y_spec: ArraySpec | None
) -> tuple[tuple[int, ...], Any]:
    """The shape and dtype of a result of the table's row (``y_spec`` None: ``f`` has not
    run, and only results like ``x`` are known)."""
    y_shape = () if y_spec is None else tuple(y_spec.shape)
    shape = spec.shape_for(tuple(x.shape), y_shape)
    if spec.dtype == "x":
        return shape, x.dtype
    if spec.dtype == "y":
        return shape, y_spec.dtype  # type: ignore[union-attr]  # y_spec is known here
    with precision_scope(xp, x):  # JAX would canonicalise float64 away
        return shape, xp.result_type(x.dtype, y_spec.dtype)  # type: ignore[union-attr]


def _quick_out(op: OperatorSpec, xp: Any, x: Any, y_spec: ArraySpec, sparse: bool) -> Any:
    """What an ``out=`` target of the plain variant must be for the quick tier (type, shape,
    dtype and placement, as ``quick_x``), or ``None`` where only the full call writes it."""
    spec = op.results[-1]
    if spec.per_tangent or sparse or is_dtensor(x):
        return None
    shape, dtype = _result_shape_dtype(spec, xp, x, y_spec)
    return ArraySpec(type(x), shape, dtype, placement(x))


def _refuse_sparse_out(op: OperatorSpec) -> None:
    msg = (
        f"`{op.name}` returns a sparse matrix with this backend, which cannot be "
        "written into an array: use AutoSparse(..., output='dense') with out=, or call "
        "without out=."
    )
    raise ArgumentValueError(msg)


def _deliver(result: Any, spec: Result, out: Any, one: bool = False) -> Any:
    """A result written into ``out`` (which is returned), or itself where the call has no
    ``out=`` for it; a per-tangent batch as a tuple (``one``: the result of a single
    tangent, without the batch axis)."""
    if not spec.per_tangent:
        return result if out is None else write_out(out, result)
    if one:
        return (result,) if out is None else (write_out(out[0], result),)
    if out is None:
        return unstack(result)
    return tuple(write_out(o, result[i, ...]) for i, o in enumerate(out))

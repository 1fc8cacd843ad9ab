"""Every speed tier of an operator call, in one place, under one vocabulary.

A call takes the first tier that can serve it; each tier either returns exactly what the full
call would, or declines (returns ``None``) and lets the next one check and report. Only the
full call raises for a mismatch, so the tiers never change what a call returns or raises
(``tests/integration/test_fastpath.py`` runs each tier against the full call).

1. **express** (``prep.express``): a closure built once at preparation, for operators without
   tangents, called with no contexts, ``out=`` or ``y=``. It checks the call by identity
   (operator, ``f``, backend) and ``x``'s kind against closure variables, then runs the plan's
   ``express_run(x)``; or it is the plan's own closure (``plan.make_express``) when the engine
   checks ``x`` faster itself (the JAX plans: the executable's C++ entry point). Unprepared
   calls use the express closure of the cached preparation (:func:`cached_express`).
2. **quick** (:func:`quick_call`): no contexts or ``y=``; checks type, shape, dtype
   and placement of ``x`` and of each tangent, ``f`` and backend, with a handful of
   comparisons, then ``plan.run``. ``out=`` of a prepared plain variant is served when the
   target is exactly the kind the full call would accept (``prep.quick_out``), and written.
   Repeated unprepared calls find their preparation in a small
   cache keyed on the operator, ``f``, the backend and ``x``'s kind.
3. **full** (:func:`~._call.call` past the quick tier): validation, the preparation check
   with its report, contexts, ``out=`` and two-argument functions.

They exist because a prepared JAX gradient costs microseconds and every Python frame on the
way adds a visible fraction of that (measured in ``docs/dev/benchmarks.md``): the public
functions call the express closure themselves, and the quick tier runs the plan without
another frame in between.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from .._array import device_of, fresh, is_writable, placement, stack, unstack, write_out
from ..backends import Fn
from ..backends._base import ExpressPlan
from ..prep import Prep
from ._table import OperatorSpec

__all__ = [
    "cached_express",
    "clear_quick_cache",
    "express_one",
    "forget",
    "make_express",
    "make_express1",
    "quick_call",
    "remember",
]

#: An express closure: ``express(op_name, f, backend, x)`` gives the result or ``None``.
Express = Callable[[str, Any, Any, Any], Any]


# --- tier 1: express ---------------------------------------------------------------------------


def make_express(prep: Prep) -> Express | None:
    """The express closure of a preparation, if its plan offers one (``plan.make_express``
    or ``plan.express_run``, see :class:`~differentiation_interface.backends._base.ExpressPlan`).

    The closure gives the operator's result, or ``None`` when the call is not exactly the
    prepared one (same operator, ``f`` and backend objects; ``x`` of the same type, shape,
    dtype and placement; JAX's 64-bit mode if needed). The preparation's facts are closure
    variables, cheaper to read than attributes: this is what a prepared call of a
    microsecond-scale engine pays, every time.
    """
    plan = prep.plan
    spec = prep.quick_x
    if spec is None or not isinstance(plan, ExpressPlan):
        return None
    op0, f0, backend0, switch = prep.operator, prep.f, prep.backend, prep.x64
    own = plan.make_express(op0, f0, backend0, spec)
    run = plan.express_run
    if own is not None or run is None:
        return own
    type0: Any = spec.type  # Any: narrowing x to an instance of `type` would hide x.shape
    shape0, dtype0, where = spec.shape, spec.dtype, spec.device
    # The last placement object found equal to the prepared one (comparing JAX shardings
    # with ``==`` is slow; results of one computation share one sharding object, so an
    # identity test usually settles it).
    seen = [where]

    def express(op_name: str, f: Any, backend: Any, x: Any) -> Any:
        if (
            type(x) is not type0
            or f is not f0
            or backend is not backend0
            or op_name != op0
            or x.shape != shape0
            or (x.dtype is not dtype0 and x.dtype != dtype0)  # numpy shares dtype objects
        ):
            return None
        if where is not None:  # placement(x), inlined
            here = getattr(x, "sharding", None)
            if here is None:
                here = device_of(x)
            if here is not seen[0]:
                if here != where:
                    return None
                seen[0] = here
        if switch is not None and not switch.value:
            return None
        try:  # a failure is the full call's to report (it diagnoses f's output)
            return run(x)
        except Exception:  # noqa: BLE001
            return None

    return express


def make_express1(prep: Prep) -> Any:
    """The one-tangent express closure of a preparation for one tangent
    (``express1(op_name, f, backend, x, t)`` gives the result for ``t``, without the batch
    axis, or ``None``), where its plan offers one (``plan.make_express1``: the JAX plans'
    compiled program checks ``x`` and ``t`` itself)."""
    spec, tangents = prep.quick_x, prep.quick_tangents
    if not prep.single or spec is None or tangents is None or tangents[0] != 1:
        return None
    if tangents[1].type is not spec.type:
        return None
    make = getattr(prep.plan, "make_express1", None)
    return None if make is None else make(prep.operator, prep.f, prep.backend, spec)


def express_one(
    express1: Any, op_name: str, f: Any, backend: Any, x: Any, tangents: Any
) -> tuple[Any] | None:
    """The per-tangent result of a one-tangent call through ``prep.express1``, or ``None``
    (another number of tangents, or a call it does not serve)."""
    if type(tangents) is not tuple or len(tangents) != 1:
        return None
    result = express1(op_name, f, backend, x, tangents[0])
    return None if result is None else (result,)


def cached_express(op_name: str, f: Any, backend: Any, x: Any, prep: Any) -> Express | None:
    """The express closure of the cached preparation of an unprepared call (``prep`` is
    None), so that a repeated unprepared call costs what a prepared one does; else None."""
    if prep is not None:
        return None
    found = _cached(op_name, f, backend, x, None)
    return None if found is None else found.express


# --- tier 2: quick -----------------------------------------------------------------------------

_quick_cache: dict[Any, Prep] = {}
_QUICK_CACHE_SIZE = 256
_quick_lock = threading.Lock()


def quick_call(
    op: OperatorSpec,
    f: Any,
    backend: Any,
    x: Any,
    tangents: Any,
    prep: Any,
    out: Any = None,
    *,
    value: bool,
) -> Any:
    """The call's result (the value-and tuple if ``value``), or ``None`` to decline.

    Serves calls with no contexts or ``y=`` (the caller checks that) whose preparation is
    given or cached and matches trivially; see the module docstring. ``out=`` is served
    for the plain variant of a prepared call when the target is exactly what the full call
    would accept (``prep.quick_out``: type, shape, dtype, placement; writable).
    """
    t = type(x)
    name = op.name
    if out is not None and (prep is None or value or not _quick_target(prep, out)):
        return None
    if prep is None:
        found = _cached(name, f, backend, x, tangents)
        if found is None:
            return None
    else:
        spec = getattr(prep, "quick_x", None)
        if (
            spec is None
            or prep.operator != name
            or t is not spec.type
            or x.shape != spec.shape
            or x.dtype != spec.dtype
            or (
                prep.strict
                and not (f is prep.f and (backend is prep.backend or backend == prep.backend))
            )
        ):
            return None
        found = prep
    where = found.quick_x.device  # type: ignore[union-attr]  # a placement, see ArraySpec
    if where is not None and placement(x) != where:
        return None
    fn = found.fn if f is found.f else Fn(f)  # a non-strict prep may be given another f
    switch = found.x64
    one = False  # one tangent, given to the plan unstacked (prep.single)
    if tangents is None:
        args: tuple[Any, ...] = (x,)
    else:
        if not _quick_tangents(found, tangents):
            return None
        if found.single and len(tangents) == 1:  # the plan takes it unstacked
            one = True
            args = (x, tangents[0])
        elif found.xp is np and len(tangents) == 1:  # one numpy tangent: 0.3 µs, stack 1.7
            args = (x, tangents[0][None, ...].copy())
        else:
            args = (x, stack(found.xp, tangents))
    run = found.plan.run_single if one else found.plan.run
    try:  # a failure is the full call's to report (it diagnoses f's output)
        if switch is not None and not switch.value:  # one attribute read when in 64-bit
            with switch(True):
                results = run(fn, *args, value=value)
        else:
            results = run(fn, *args, value=value)
    except Exception:  # noqa: BLE001
        return None
    for i, expected in found.quick_shapes:  # the results that follow f(x)'s shape
        result = results[i]
        if result is not None and result.shape != expected and result.shape[1:] != expected:
            return None  # f's output changed shape: the full call reports it
    if found.xp is np:
        results = arrays(results)
    if not value:
        last = results[-1]
        if out is not None:
            return write_out(out, last)
        if tangents is not None and op.results[-1].per_tangent:
            return (last,) if one else unstack(last, owned=_owns_results(found))
        return last
    if op.primal:
        results = (fresh(results[0], found.xp, (x,)), *results[1:])
    if tangents is not None and op.results[-1].per_tangent:
        last = results[-1]
        per_tangent = (last,) if one else unstack(last, owned=_owns_results(found))
        results = (*results[:-1], per_tangent)
    return results


def _owns_results(prep: Prep) -> bool:
    """Whether the plan's results are buffers of its own that nobody else holds (a JAX
    plan's compiled outputs), which :func:`unstack` may then reuse."""
    return bool(getattr(prep.plan, "owns_results", False))


def _quick_target(prep: Any, out: Any) -> bool:
    """Whether ``out=`` is exactly the prepared result's kind and writable (anything else is
    the full call's to check and report)."""
    spec = getattr(prep, "quick_out", None)
    if spec is None:
        return False
    kind: Any = type(out)  # checked first: anything else may not have a shape
    if kind is not spec.type or out.shape != spec.shape or out.dtype != spec.dtype:
        return False
    if spec.device is not None and placement(out) != spec.device:
        return False
    return is_writable(out)


def _quick_tangents(prep: Prep, tangents: Any) -> bool:
    expected = prep.quick_tangents
    if expected is None or type(tangents) is not tuple or len(tangents) != expected[0]:
        return False
    spec = expected[1]
    for t in tangents:
        kind: Any = type(t)  # checked first: anything else may not have a shape
        if kind is not spec.type or t.shape != spec.shape or t.dtype != spec.dtype:
            return False
        if spec.device is not None and placement(t) != spec.device:
            return False
    return True


def _quick_key(op_name: str, f: Any, backend: Any, x: Any, tangents: Any) -> tuple[Any, ...]:
    """The quick cache's key: operator, function, backend and the kind of ``x`` (raises
    ``AttributeError`` if ``x`` is not an array)."""
    count = len(tangents) if type(tangents) is tuple else -1
    return (op_name, f, backend, type(x), x.shape, x.dtype, count)


def _cached(op_name: str, f: Any, backend: Any, x: Any, tangents: Any) -> Prep | None:
    """The cached preparation of an unprepared call like this one, if any."""
    try:
        found = _quick_cache.get(_quick_key(op_name, f, backend, x, tangents))
    except (TypeError, AttributeError):  # unhashable f, or x is not an array
        return None
    if found is not None and found.witness is not None and not found.witness.holds():
        return None  # f's state changed: the full call prepares again
    return found


def remember(op_name: str, f: Any, backend: Any, x: Any, tangents: Any, prep: Prep) -> None:
    """Make a preparation made for an unprepared call available to the quick tier."""
    if prep.quick_x is None:
        return
    key = _quick_key(op_name, f, backend, x, tangents)
    try:
        with _quick_lock:
            if len(_quick_cache) >= _QUICK_CACHE_SIZE:
                _quick_cache.pop(next(iter(_quick_cache)))  # oldest first
            _quick_cache[key] = prep
    except TypeError:  # unhashable f
        pass


def forget(preps: list[Prep]) -> None:
    """Drop the quick tier's references to preparations the main cache let go."""
    if not preps:
        return
    gone = {id(p) for p in preps}
    with _quick_lock:
        for key in [k for k, p in _quick_cache.items() if id(p) in gone]:
            del _quick_cache[key]


def clear_quick_cache() -> None:
    """Forget the preparations remembered for the quick tier."""
    with _quick_lock:
        _quick_cache.clear()


# --- shared by the tiers and the full call -----------------------------------------------------


def fits(op: OperatorSpec, prep: Prep, x: Any, results: tuple[Any, ...]) -> bool:
    """Whether the results that follow ``f(x)``'s shape have the prepared one (``f``'s
    output shape may depend on the values of ``x``; engines then compute for another)."""
    first = 1 if op.primal else 0
    for i in op.y_shaped:
        spec = op.results[i]
        result = results[first + i]
        if result is None:  # not asked for (plans skip what a plain call does not return)
            continue
        expected = spec.shape_for(tuple(x.shape), tuple(prep.y_spec.shape))
        got = tuple(result.shape)
        if got != expected and got[1:] != expected:  # per tangent: a leading batch axis
            return False
    return True


def result_shapes(
    op: OperatorSpec, x_shape: tuple[int, ...], y_shape: tuple[int, ...]
) -> tuple[tuple[int, tuple[int, ...]], ...]:
    """``(index in the plan's results, shape)`` of each result that follows ``f(x)``'s shape
    (:func:`fits` for the quick tier, computed once at preparation)."""
    first = 1 if op.primal else 0
    return tuple((first + i, op.results[i].shape_for(x_shape, y_shape)) for i in op.y_shaped)


def arrays(results: tuple[Any, ...]) -> tuple[Any, ...]:
    """0-d numpy results as 0-d arrays: numpy arithmetic on 0-d arrays gives numpy scalars."""
    for r in results:  # a loop, not any(<generator>): this runs on every quick numpy call
        if isinstance(r, np.generic):
            return tuple(np.asarray(r) if isinstance(r, np.generic) else r for r in results)
    return results

"""The path every operator call takes: validate, prepare (or check the prep), run, deliver.

The public functions in ``_<operator>.py`` are thin: they build a :class:`Call`, check
``out=`` against it *before anything is computed*, run the plan and deliver the results.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._array import (
    ArraySpec,
    check_out,
    convert,
    device_of,
    fresh,
    is_array,
    is_complex_dtype,
    is_floating_dtype,
    is_writable,
    namespace_name,
    namespace_of,
    needs_x64,
    placement,
    precision_scope,
    spec_of,
    write_out,
    x64_switch,
)
from ..backends import Fn, check_inplace, engine_for
from ..backends._base import DirectPath
from ..contexts import Constant, Context
from ..errors import (
    ArgumentTypeError,
    ArgumentValueError,
    FunctionOutputError,
    ImmutableOutputError,
    UnsupportedOperationError,
)
from ..prep import Prep, PrepCache, call_signature
from ._dispatch import build_plan

__all__ = ["OPERATORS", "Call", "Operator", "prepare"]


@dataclass(frozen=True, slots=True)
class Operator:
    """Static facts about one operator, used for validation and messages."""

    name: str
    seeds: str | None = None  # "x": tangents like x; "y": cotangents like y
    scalar_input: bool = False
    scalar_output: bool = False
    inplace: bool = False  # accepts two-argument functions via y=
    second_order: bool = False


OPERATORS = {
    op.name: op
    for op in (
        Operator("pushforward", seeds="x", inplace=True),
        Operator("pullback", seeds="y", inplace=True),
        Operator("derivative", scalar_input=True, inplace=True),
        Operator("gradient", scalar_output=True),
        Operator("jacobian", inplace=True),
        Operator("second_derivative", scalar_input=True, second_order=True),
        Operator("hvp", seeds="x", scalar_output=True, second_order=True),
        Operator("hessian", scalar_output=True, second_order=True),
    )
}

_cache = PrepCache()
_quick_lock = threading.Lock()


def clear_cache() -> None:
    """Forget the preparations cached for unprepared calls."""
    _cache.clear()
    with _quick_lock:
        _quick_cache.clear()


# --- validation of the arguments -------------------------------------------------------------


def _check_x(op: Operator, x: Any) -> Any:
    if isinstance(x, np.generic):
        x = np.asarray(x)
    if not is_array(x):
        msg = (
            f"`{op.name}` differentiates with respect to an array x; got {type(x).__name__}. "
            "Wrap numbers in an array first, e.g. np.asarray(1.0)."
        )
        raise ArgumentTypeError(msg)
    xp = namespace_of(x)
    if not is_floating_dtype(xp, x.dtype):
        msg = (
            f"`{op.name}` can only differentiate with respect to real or complex floating "
            f"arrays; got x of dtype {x.dtype}. Convert x first, e.g. xp.astype(x, xp.float64)."
        )
        raise ArgumentTypeError(msg)
    if op.scalar_input and x.ndim != 0:
        msg = (
            f"`{op.name}` needs a 0-d array x; got shape {tuple(x.shape)}. "
            "Use `pushforward` or `jacobian` for array inputs."
        )
        raise ArgumentValueError(msg)
    return x


def _check_contexts(op: Operator, contexts: tuple[Any, ...]) -> None:
    for i, c in enumerate(contexts):
        if not isinstance(c, Context):
            msg = (
                f"`{op.name}` takes extra arguments of f wrapped in di.Constant(...) or "
                f"di.Cache(...); extra argument {i} is a bare {type(c).__name__}."
            )
            raise ArgumentTypeError(msg)


def _numpy_scalars_as_arrays(tangents: Any) -> Any:
    """numpy arithmetic turns 0-d arrays into numpy scalars; accept them as 0-d arrays."""
    if isinstance(tangents, tuple) and any(isinstance(t, np.generic) for t in tangents):
        return tuple(np.asarray(t) if isinstance(t, np.generic) else t for t in tangents)
    return tangents


def _check_tangent_tuple(op: Operator, tangents: Any) -> None:
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


def _check_tangent_specs(op: Operator, tangents: tuple[Any, ...], like: Any, what: str) -> None:
    kind = "cotangent" if op.seeds == "y" else "tangent"
    for i, t in enumerate(tangents):
        spec = spec_of(t)
        if spec != like:
            msg = (
                f"`{op.name}`: {kind} {i} must be like {what} ({like.describe()}); "
                f"got {spec.describe()}."
            )
            raise ArgumentValueError(msg)


def _check_y_buffer(op: Operator, backend: Any, y: Any, xp: Any) -> None:
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


def _check_out_writable(op: Operator, out: Any) -> None:
    for o in out if isinstance(out, tuple) else (out,):
        if isinstance(o, tuple):
            _check_out_writable(op, o)
        elif is_array(o) and not is_writable(o):
            msg = (
                f"`{op.name}` cannot write into out=: this {namespace_name(namespace_of(o))} "
                "array is immutable or read-only. Call without out= to get a new array."
            )
            raise ImmutableOutputError(msg)


def _convert_contexts(contexts: tuple[Context, ...], xp: Any, device: Any) -> tuple[Context, ...]:
    """Array contexts in x's namespace and device (engines take it from there)."""
    converted = contexts
    for i, c in enumerate(contexts):
        value = c.value
        if is_array(value) and (namespace_of(value) is not xp or device_of(value) != device):
            if converted is contexts:
                converted = list(contexts)  # type: ignore[assignment]
            converted[i] = type(c)(convert(value, xp, device))  # type: ignore[index]
    return tuple(converted)


def _evaluate(op: Operator, fn: Fn, x: Any, xp: Any) -> Any:
    """Evaluate ``f`` once at preparation and check its output suits the operator."""
    if fn.inplace:
        returned = fn.f(fn.y, x, *fn.args)
        if returned is not None:
            msg = (
                f"`{op.name}`: a two-argument function f(y, x) must write into y and return "
                f"None; it returned a {type(returned).__name__}. Call without y= if f returns "
                "its output."
            )
            raise FunctionOutputError(msg)
        y = namespace_of(fn.y).asarray(fn.y, copy=True)
    else:
        y = fn(x)
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
    x_device, y_device = device_of(x), device_of(y)
    if x_device is not None and y_device is not None and x_device != y_device:
        msg = (
            f"`{op.name}`: f returned an array on device {y_device} for x on device "
            f"{x_device}. Create arrays inside f with device=array_api_compat.device(x)."
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


def _copy_point(x: Any, contexts: tuple[Context, ...], xp: Any) -> tuple[Any, tuple[Context, ...]]:
    def copy(v: Any) -> Any:
        return namespace_of(v).asarray(v, copy=True) if is_array(v) else v

    return copy(x), tuple(
        type(c)(copy(c.value)) if isinstance(c, Constant) else c for c in contexts
    )


# --- preparation ------------------------------------------------------------------------------


def prepare(
    op: Operator,
    f: Any,
    backend: Any,
    x: Any,
    tangents: tuple[Any, ...] | None,
    contexts: tuple[Any, ...],
    y: Any,
    *,
    strict: bool,
    same_point: bool = False,
) -> Prep:
    """Prepare ``op`` for this signature (the body of every ``prepare_*`` function)."""
    x = _check_x(op, x)
    xp = namespace_of(x)
    _check_contexts(op, contexts)
    if op.seeds is not None:
        tangents = _numpy_scalars_as_arrays(tangents)
        _check_tangent_tuple(op, tangents)
    if y is not None:
        _check_y_buffer(op, backend, y, xp)
    engine = engine_for(backend)
    device = device_of(x)
    signature = call_signature(x, tangents or (), contexts, y)
    fn = Fn(f, _convert_contexts(contexts, xp, device), y)
    with precision_scope(xp, x, *(c.value for c in contexts)):
        y0 = _evaluate(op, fn, x, xp)
        seeds = None
        if op.seeds is not None:
            assert tangents is not None
            like, what = (spec_of(x), "x") if op.seeds == "x" else (spec_of(y0), "f(x)")
            _check_tangent_specs(op, tangents, like, what)
            seeds = xp.stack(list(tangents), axis=0)
        plan = build_plan(op.name, engine, fn, x, seeds, y0, same_point=same_point)
    quick_spec, quick_tangents = None, None
    if not contexts and y is None and not same_point:
        quick_spec = ArraySpec(type(x), tuple(x.shape), x.dtype, placement(x))
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
        point=_copy_point(x, contexts, xp) if same_point else None,
        quick=quick_spec,
        quick_tangents=quick_tangents,
    )
    prep.fast = direct_path(prep)
    return prep


# --- the quick path ---------------------------------------------------------------------------

_quick_cache: dict[Any, Prep] = {}
_QUICK_CACHE_SIZE = 256


def quick(
    op_name: str, f: Any, backend: Any, x: Any, prep: Any, tangents: Any = None
) -> Prep | None:
    """The prep for a call with no contexts, ``y`` or ``out``, if checking it is trivial.

    This is the hot path of prepared and repeated unprepared calls: it checks the call
    against the preparation with a handful of comparisons (type, shape, dtype, device of
    ``x`` and of each tangent, function, backend) and returns ``None`` whenever anything is
    unusual, in which case the full path (:class:`Call`) validates and reports.
    """
    t = type(x)
    if prep is None:
        prep = _cached(op_name, f, backend, x, tangents)
        if prep is None:
            return None
    else:
        spec = getattr(prep, "quick", None)
        if (
            spec is None
            or prep.operator != op_name
            or t is not spec.type
            or x.shape != spec.shape
            or x.dtype != spec.dtype
            or (
                prep.strict
                and not (f is prep.f and (backend is prep.backend or backend == prep.backend))
            )
        ):
            return None
    found: Prep = prep
    where = found.quick.device  # type: ignore[union-attr]  # a placement, see ArraySpec
    if where is not None and placement(x) != where:
        return None
    if tangents is not None and not _quick_tangents(found, tangents):
        return None
    return found


def direct_path(prep: Prep) -> Callable[[str, Any, Any, Any], Any] | None:
    """The shortest path of a prepared call, if the plan offers one (``plan.shortcut`` or
    ``plan.direct``, see ``backends._base.DirectPath``).

    The returned ``fast(op_name, f, backend, x)`` gives the operator's result, or ``None``
    when the call is not exactly the prepared one (same operator, ``f`` and backend objects;
    ``x`` of the same type, shape, dtype and placement; JAX's 64-bit mode if needed): the
    operator then takes :func:`quick` and the full path, which check and report. The
    preparation's facts are closure variables, cheaper to read than attributes: this is
    what a prepared call of a microsecond-scale engine pays, every time. A plan whose
    engine can check faster builds the whole closure itself (``plan.shortcut``).
    """
    plan = prep.plan
    spec = prep.quick
    if spec is None or not isinstance(plan, DirectPath):
        return None
    op0, f0, backend0, switch = prep.operator, prep.f, prep.backend, prep.x64
    own = plan.shortcut(op0, f0, backend0, spec)
    direct = plan.direct
    if own is not None or direct is None:
        return own
    type0: Any = spec.type  # Any: narrowing x to an instance of `type` would hide x.shape
    shape0, dtype0, where = spec.shape, spec.dtype, spec.device
    # The last placement object found equal to the prepared one (comparing JAX shardings
    # costs 0.6 us; results of one computation share one sharding object).
    seen = [where]

    def fast(op_name: str, f: Any, backend: Any, x: Any) -> Any:
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
        return direct(x)

    return fast


def cached_direct(op_name: str, f: Any, backend: Any, x: Any, prep: Any) -> Any:
    """The direct path of the cached preparation of an unprepared call (``prep`` is None),
    so that a repeated unprepared call costs what a prepared one does; None otherwise."""
    if prep is not None:
        return None
    found = _cached(op_name, f, backend, x, None)
    return None if found is None else found.fast


def _quick_key(op_name: str, f: Any, backend: Any, x: Any, tangents: Any) -> tuple[Any, ...]:
    """The quick cache's key: operator, function, backend and the kind of ``x`` (raises
    ``AttributeError`` if ``x`` is not an array)."""
    count = len(tangents) if type(tangents) is tuple else -1
    return (op_name, f, backend, type(x), x.shape, x.dtype, count)


def _cached(op_name: str, f: Any, backend: Any, x: Any, tangents: Any) -> Prep | None:
    """The cached preparation of an unprepared call like this one, if any."""
    try:
        return _quick_cache.get(_quick_key(op_name, f, backend, x, tangents))
    except (TypeError, AttributeError):  # unhashable f, or x is not an array
        return None


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


def _remember_quick(op_name: str, f: Any, backend: Any, x: Any, tangents: Any, prep: Prep) -> None:
    if prep.quick is None:
        return
    key = _quick_key(op_name, f, backend, x, tangents)
    try:
        with _quick_lock:
            if len(_quick_cache) >= _QUICK_CACHE_SIZE:
                _quick_cache.pop(next(iter(_quick_cache)))  # oldest first
            _quick_cache[key] = prep
    except TypeError:  # unhashable f
        pass


def _arrays(results: tuple[Any, ...]) -> tuple[Any, ...]:
    """0-d numpy results as 0-d arrays: numpy arithmetic on 0-d arrays gives numpy scalars."""
    for r in results:  # a loop, not any(<generator>): this runs on every quick numpy call
        if isinstance(r, np.generic):
            return tuple(np.asarray(r) if isinstance(r, np.generic) else r for r in results)
    return results


def _run_plan(prep: Prep, fn: Fn, *arrays: Any, value: bool) -> Any:
    """``prep.plan.run`` in JAX's 64-bit mode if the preparation needs it (and the thread
    is not in it already: then the switch costs one attribute read, not a context)."""
    switch = prep.x64
    if switch is not None and not switch.value:
        with switch(True):
            return prep.plan.run(fn, *arrays, value=value)
    return prep.plan.run(fn, *arrays, value=value)


def run_quick(prep: Prep, f: Any, x: Any, *, value: bool) -> Any:
    """Run a plan without tangents on the quick path (see :func:`quick`)."""
    fn = prep.fn if f is prep.f else Fn(f)  # a non-strict prep may be given another f
    results = _run_plan(prep, fn, x, value=value)
    return _arrays(results) if prep.xp is np else results


def run_quick_tangents(prep: Prep, f: Any, x: Any, tangents: Any, *, value: bool) -> Any:
    """Run a plan with stacked tangents on the quick path; results as a tuple."""
    fn = prep.fn if f is prep.f else Fn(f)
    seeds = prep.xp.stack(list(tangents), axis=0)
    first, stacked = _run_plan(prep, fn, x, seeds, value=value)
    if isinstance(first, np.generic):
        first = np.asarray(first)
    return first, tuple(stacked[i, ...] for i in range(stacked.shape[0]))


def quick_value(prep: Prep, x: Any, y: Any) -> Any:
    """The primal value of a quick call, fresh (``f`` may return ``x`` itself)."""
    return fresh(y, prep.xp, (x,))


# --- execution --------------------------------------------------------------------------------


class Call:
    """One validated operator call, bound to its (given, cached or new) preparation."""

    __slots__ = ("contexts", "device", "fn", "op", "prep", "seeds", "x", "xp", "y")

    def __init__(
        self,
        op: Operator,
        f: Any,
        backend: Any,
        x: Any,
        tangents: tuple[Any, ...] | None,
        contexts: tuple[Any, ...],
        y: Any,
        prep: Any,
        out: Any = None,
    ) -> None:
        x = _check_x(op, x)
        if out is not None:  # before preparing, which evaluates f
            _check_out_writable(op, out)
        _check_contexts(op, contexts)
        if op.seeds is not None:
            tangents = _numpy_scalars_as_arrays(tangents)
            _check_tangent_tuple(op, tangents)
        if y is not None:
            _check_y_buffer(op, backend, y, namespace_of(x))
        if prep is None:
            key = (op.name, f, backend, call_signature(x, tangents or (), contexts, y))
            prep = _cache.get(key)
            if prep is None:
                prep = prepare(op, f, backend, x, tangents, contexts, y, strict=False)
                _cache.put(key, prep)
                _remember_quick(op.name, f, backend, x, tangents, prep)
        elif not isinstance(prep, Prep):
            msg = f"`{op.name}` takes prep= from `prepare_{op.name}`; got {type(prep).__name__}."
            raise ArgumentTypeError(msg)
        else:
            prep.check(op.name, f, backend, x, tangents or (), contexts, y)
        self.op = op
        self.prep = prep
        self.x = x
        self.xp = prep.xp
        self.device = device_of(x)
        self.y = y
        self.contexts = contexts
        self.fn = Fn(f, _convert_contexts(contexts, self.xp, self.device), y)
        self.seeds = None if tangents is None else self.xp.stack(list(tangents), axis=0)

    # out= checks, all done before computing

    def check_out(self, out: Any, what: str, shape: tuple[int, ...], dtype: Any) -> None:
        """Check one ``out=`` array for a result of this shape and dtype."""
        if getattr(self.prep.plan, "sparse_output", False):
            msg = (
                f"`{self.op.name}` returns a sparse matrix with this backend, which cannot be "
                "written into an array: use AutoSparse(..., output='dense') with out=, or call "
                "without out=."
            )
            raise ArgumentValueError(msg)
        check_out(self.op.name, what, out, xp=self.xp, shape=shape, dtype=dtype, device=self.device)

    def check_out_tuple(self, out: Any, what: str, shape: tuple[int, ...], dtype: Any) -> None:
        """Check ``out=`` for a tuple result with one array per tangent."""
        count = self.seeds.shape[0] if self.seeds is not None else 1
        if not isinstance(out, tuple) or len(out) != count:
            got = f"a tuple of {len(out)}" if isinstance(out, tuple) else type(out).__name__
            msg = f"`{self.op.name}` needs out= to be a tuple of {count} arrays; got {got}."
            raise ArgumentValueError(msg)
        for i, o in enumerate(out):
            self.check_out(o, f"{what} {i}", shape, dtype)

    def out_pair(self, out: Any, count: int) -> tuple[Any, ...]:
        """``out=`` of a value-and variant returning ``count`` derivatives."""
        if not isinstance(out, tuple) or len(out) != count:
            msg = (
                f"`{self.op.name}` value-and variants need out= to be a tuple of {count} "
                f"(one per derivative, the value excluded); got {type(out).__name__}."
            )
            raise ArgumentValueError(msg)
        return out

    @property
    def x_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape)

    @property
    def y_shape(self) -> tuple[int, ...]:
        return tuple(self.prep.y_spec.shape)

    @property
    def y_dtype(self) -> Any:
        return self.prep.y_spec.dtype

    def jacobian_dtype(self) -> Any:
        with precision_scope(self.xp, self.x):  # JAX would canonicalise float64 away
            return self.xp.result_type(self.x.dtype, self.y_dtype)

    # running and delivering

    def run(self, *, value: bool) -> Any:
        """Run the prepared plan; ``value`` asks for the primal value(s) as well."""
        plan = self.prep.plan
        with precision_scope(self.xp, self.x, *self.fn.args):
            if self.seeds is None:
                return _arrays(plan.run(self.fn, self.x, value=value or self.fn.inplace))
            return _arrays(plan.run(self.fn, self.x, self.seeds, value=value or self.fn.inplace))

    def value(self, y: Any) -> Any:
        """The primal value handed to the caller: fresh, or the caller's own ``y`` buffer."""
        if self.y is not None:
            return write_out(self.y, y)
        sources = (self.x, *(a for a in self.fn.args if is_array(a)))
        return fresh(y, self.xp, sources)

    def restore_y(self, y: Any) -> None:
        """After a two-argument call, leave ``f(x)`` in the caller's ``y``."""
        if self.y is not None:
            write_out(self.y, y)

    @staticmethod
    def deliver(result: Any, out: Any) -> Any:
        """``result`` itself, or written into ``out`` (which is returned)."""
        return result if out is None else write_out(out, result)

    def deliver_tuple(self, stacked: Any, out: Any) -> tuple[Any, ...]:
        """A stacked batch as a tuple, or written into the ``out`` tuple."""
        count = stacked.shape[0]
        if out is None:
            return tuple(stacked[i, ...] for i in range(count))
        return tuple(write_out(o, stacked[i, ...]) for i, o in enumerate(out))

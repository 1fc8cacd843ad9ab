"""Preparation objects, their signature checks, and the cache behind unprepared calls.

A :class:`Prep` holds what an operator computed once for a signature (namespace, shape, dtype
and device of every argument): the engine's plan (compiled functions, seeds, colorings, inner
preparations) and what it learned about ``f``'s output. It never changes after preparation,
which is what makes it safe to share between threads.
"""

from __future__ import annotations

import threading
import types
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from ._array import (
    ArraySpec,
    describe_placement,
    is_array,
    namespace_of,
    same_values,
    spec_accepts,
    spec_of,
    spec_traced,
    transformed,
)
from .contexts import Constant, Context
from .errors import PreparationMismatchError

__all__ = [
    "CACHE_BYTES",
    "Prep",
    "PrepCache",
    "Signature",
    "call_signature",
    "footprint",
    "signature_accepts",
    "traced_signature",
]

#: What a call looks like: specs of x, of each tangent, of each context, and of y.
Signature = tuple[ArraySpec, tuple[ArraySpec, ...], tuple[Any, ...], ArraySpec | None]


def _context_spec(context: Context) -> Any:
    value = context.value
    kind = type(context)
    if is_array(value):
        return (kind, spec_of(value))
    return (kind, type(value))


def call_signature(x: Any, tangents: tuple[Any, ...], contexts: tuple[Context, ...], y: Any) -> Any:
    """The :data:`Signature` of a call (hashable)."""
    return (
        spec_of(x),
        tuple(spec_of(t) for t in tangents),
        tuple(_context_spec(c) for c in contexts),
        None if y is None else spec_of(y),
    )


def signature_accepts(expected: Any, given: Any) -> bool:
    """Whether a call's signature (or any part of one) may use a preparation made for
    ``expected``: equal, or equal but for JAX tracers standing where JAX arrays of the same
    shape and dtype were prepared (or the reverse), see
    :func:`~differentiation_interface._array.spec_accepts`. Equality is tested first, so
    calls on the prepared kind of arrays pay nothing more."""
    if expected == given:
        return True
    if isinstance(expected, ArraySpec) and isinstance(given, ArraySpec):
        return spec_accepts(expected, given)
    if (
        type(expected) is tuple
        and type(given) is tuple
        and len(expected) == len(given)
        and not isinstance(expected, ArraySpec)
        and not isinstance(given, ArraySpec)
    ):
        return all(signature_accepts(a, b) for a, b in zip(expected, given, strict=True))
    return False


def traced_signature(signature: Any) -> bool:
    """Whether a signature describes a JAX tracer anywhere: a preparation made for it holds
    the caller's trace (tracers, programs traced for it) and is valid inside it alone."""
    if isinstance(signature, ArraySpec):
        return spec_traced(signature)
    if type(signature) is tuple:
        return any(traced_signature(part) for part in signature)
    return False


def _same_function(f: Any, g: Any) -> bool:
    if f is g:
        return True
    try:
        return bool(f == g)  # bound methods are new objects at every attribute access
    except Exception:  # noqa: BLE001 - a callable with an exotic __eq__ is simply different
        return False


def _describe(spec: Any) -> str:
    if spec is None:
        return "nothing"
    if isinstance(spec, ArraySpec):
        return spec.describe()
    kind, inner = spec
    what = inner.describe() if isinstance(inner, ArraySpec) else f"a {inner.__name__}"
    return f"{kind.__name__}({what})"


def _sharding_rows(name: str, a: Any, b: Any) -> list[tuple[str, bool, str, str]]:
    """A row naming how two arrays are cut over devices, when that is what differs."""
    if not (isinstance(a, ArraySpec) and isinstance(b, ArraySpec)) or a.device == b.device:
        return []
    if a[:3] != b[:3] or not any(
        len(getattr(d, "device_set", ())) > 1 for d in (a.device, b.device)
    ):
        return []
    return [(f"{name} sharding", False, describe_placement(a.device), describe_placement(b.device))]


def _equal_values(a: Any, b: Any) -> bool:
    if is_array(a) and is_array(b):  # NaN equals NaN: the same point may hold NaN
        return namespace_of(a) is namespace_of(b) and same_values(a, b)
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - incomparable values are different
        return False


class Prep:
    """The result of a ``prepare_*`` function: reusable work for one signature.

    Pass it back with ``prep=`` to the operator it was prepared for. It may be reused with
    other values of ``x``, tangents and contexts of the same namespace, shape, dtype and
    device, with the same ``f`` and backend.

    Attributes
    ----------
    operator : str
        Name of the operator it was prepared for (``"gradient"``, ...).
    backend : AbstractBackend
        The backend selector.
    strict : bool
        Whether every prepared call checks its arguments against the preparation.
    same_point : bool
        Whether it was prepared for repeated calls at one ``x`` (and constant contexts).

    Notes
    -----
    **Thread safety.** A prep is immutable after preparation: the engine's plan holds only
    read-only data (seeds, compiled functions, step rules) and allocates every buffer per
    call. One prep may therefore be used by several threads at once. What ``f`` itself does
    (for instance writing into a shared ``Cache``) is the caller's responsibility: give each
    thread its own ``Cache`` array.

    Engine-specific information (for instance ``sparsity``, ``colors`` and ``ncolors`` of a
    sparse preparation) is available as attributes of the prep.

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> f = lambda x: (x**2).sum()
    >>> prep = di.prepare_gradient(f, di.AutoFiniteDiff(), np.zeros(3))
    >>> prep.operator
    'gradient'
    >>> np.allclose(di.gradient(f, di.AutoFiniteDiff(), np.ones(3), prep=prep), 2.0)
    True
    """

    __slots__ = (
        "_point",
        "_sharded",
        "backend",
        "express",
        "express1",
        "f",
        "fn",
        "operator",
        "plan",
        "quick_out",
        "quick_shapes",
        "quick_tangents",
        "quick_x",
        "same_point",
        "signature",
        "single",
        "sparse_result",
        "strict",
        "witness",
        "x64",
        "xp",
        "y_spec",
    )

    def __init__(
        self,
        *,
        operator: str,
        f: Callable[..., Any],
        backend: Any,
        signature: Any,
        plan: Any,
        xp: Any,
        y_spec: ArraySpec,
        strict: bool,
        fn: Any = None,
        x64: Any = None,
        point: tuple[Any, tuple[Context, ...]] | None = None,
        quick_x: ArraySpec | None = None,
        quick_tangents: tuple[int, ArraySpec] | None = None,
        quick_out: ArraySpec | None = None,
        quick_shapes: tuple[tuple[int, tuple[int, ...]], ...] = (),
        sparse_result: bool = False,
    ) -> None:
        self.operator = operator
        self.f = f
        self.backend = backend
        self.signature = signature
        self.plan = plan
        self.xp = xp
        self.y_spec = y_spec
        self.strict = strict
        self.same_point = point is not None
        self._point = point
        # x's placement if x is spread over several devices (a JAX sharding): even a
        # non-strict prep refuses another, since its programs were compiled for that one.
        x_device = (
            signature[0].device if signature and isinstance(signature[0], ArraySpec) else None
        )
        self._sharded = x_device if len(getattr(x_device, "device_set", ())) > 1 else None
        self.x64 = x64  # JAX's 64-bit switch if calls must run in 64-bit mode, else None
        self.fn = fn
        # Specs of x and of the tangents for the quick tier of calls with no contexts or y
        # (the common case, where checking costs a few attribute comparisons), with the
        # device replaced by a cheaper "placement" key; None if calls need the full check.
        self.quick_x = quick_x
        self.quick_tangents = quick_tangents
        self.quick_out = quick_out  # what out= of the plain variant must be, for the quick tier
        # (index in the plan's results, shape) of the results that follow f(x)'s shape, for
        # x of the quick tier's shape: checked after every quick run (f may change its shape)
        self.quick_shapes = quick_shapes
        self.sparse_result = sparse_result  # the result is a sparse matrix: no out=
        # The plan takes one tangent unstacked (``plan.run_single``: JAX plans prepared
        # with one, torch plans of numpy and torch callers): calls with one stack nothing.
        self.single = bool(getattr(plan, "single", False))
        # The express tier of a prepared call (see operators._fastpath): a callable
        # (op, f, backend, x) giving the result, or None when it cannot serve the call.
        self.express: Any = None
        # Its twin for one tangent (prep.single plans): (op, f, backend, x, t) gives the
        # result for t alone, or None.
        self.express1: Any = None
        # For the cache of unprepared calls, when the engine traces f: the state f read
        # besides its arguments (a _freshness.Witness), re-checked before every reuse.
        self.witness: Any = None

    def __repr__(self) -> str:
        kind = "same-point " if self.same_point else ""
        return f"<{kind}{self.operator} preparation for {self.backend!r}>"

    def __getattr__(self, name: str) -> Any:
        # Engine-specific introspection (e.g. sparsity patterns) lives on the plan.
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return getattr(object.__getattribute__(self, "plan"), name)
        except AttributeError:
            msg = f"{type(self).__name__!r} object has no attribute {name!r}"
            raise AttributeError(msg) from None

    def check(
        self,
        operator: str,
        f: Any,
        backend: Any,
        x: Any,
        tangents: tuple[Any, ...],
        contexts: tuple[Context, ...],
        y: Any,
    ) -> None:
        """Raise :class:`PreparationMismatchError` unless the call matches the preparation."""
        if operator != self.operator:
            msg = (
                f"`{operator}` was given a preparation made by `prepare_{self.operator}`; "
                f"use `prepare_{operator}` instead."
            )
            raise PreparationMismatchError(msg)
        if not self.strict:
            if self._sharded is not None and spec_of(x).device != self._sharded:
                signature = call_signature(x, tangents, contexts, y)
                raise PreparationMismatchError(
                    self._report(operator, f, backend, signature, x, contexts)
                )
            return
        signature = call_signature(x, tangents, contexts, y)
        same_point_ok = self._point is None or self._same_point(x, contexts)
        if (
            signature_accepts(self.signature, signature)
            and same_point_ok
            and backend == self.backend
            and _same_function(f, self.f)
        ):
            return
        raise PreparationMismatchError(self._report(operator, f, backend, signature, x, contexts))

    def _same_point(self, x: Any, contexts: tuple[Context, ...]) -> bool:
        assert self._point is not None
        x0, contexts0 = self._point
        if transformed(x) or any(transformed(c.value) for c in contexts):
            msg = (
                f"`{self.operator}` was given a same-point preparation and an x (or a "
                "constant) traced by a transformation (jit, vmap, grad, scan): its values are "
                "not known until the program runs, so they cannot be checked to be the "
                "preparation point. Prepare with the plain `prepare_"
                f"{self.operator}` to call inside a transformation."
            )
            raise PreparationMismatchError(msg)
        if not _equal_values(x, x0):
            return False
        return all(
            _equal_values(c.value, c0.value)
            for c, c0 in zip(contexts, contexts0, strict=False)
            if isinstance(c, Constant)
        )

    def _report(
        self,
        operator: str,
        f: Any,
        backend: Any,
        signature: Any,
        x: Any,
        contexts: tuple[Context, ...],
    ) -> str:
        rows: list[tuple[str, bool, str, str]] = []
        same_f = _same_function(f, self.f)
        rows.append(("f", same_f, repr(self.f), repr(f)))
        rows.append(("backend", backend == self.backend, repr(self.backend), repr(backend)))
        (x0, t0, c0, y0), (x1, t1, c1, y1) = self.signature, signature
        rows.append(("x", signature_accepts(x0, x1), _describe(x0), _describe(x1)))
        rows.extend(_sharding_rows("x", x0, x1))
        if self._point is not None and x0 == x1 and not _equal_values(x, self._point[0]):
            rows.append(("x values", False, "the preparation point", "another point"))
        if t0 or t1:
            rows.append(
                ("tangents", len(t0) == len(t1), f"{len(t0)} tangent(s)", f"{len(t1)} tangent(s)")
            )
            for i, (a, b) in enumerate(zip(t0, t1, strict=False)):
                rows.append((f"tangent {i}", signature_accepts(a, b), _describe(a), _describe(b)))
                rows.extend(_sharding_rows(f"tangent {i}", a, b))
        rows.append(
            ("contexts", len(c0) == len(c1), f"{len(c0)} context(s)", f"{len(c1)} context(s)")
        )
        rows.extend(
            (f"context {i}", signature_accepts(a, b), _describe(a), _describe(b))
            for i, (a, b) in enumerate(zip(c0, c1, strict=False))
        )
        if self._point is not None and c0 == c1 and not self._same_point(self._point[0], contexts):
            rows.append(("constant values", False, "the preparation values", "other values"))
        if y0 is not None or y1 is not None:
            rows.append(("y", signature_accepts(y0, y1), _describe(y0), _describe(y1)))
        lines = [f"`{operator}` was called with arguments that do not match its preparation:"]
        for name, ok, before, now in rows:
            if ok:
                lines.append(f"  [ok]       {name}: {now}")
            else:
                lines.append(f"  [mismatch] {name}: prepared with {before}; called with {now}")
        lines.append(
            f"Prepare again for these arguments, or pass strict=False to "
            f"`prepare_{self.operator}` to skip this check at your own risk."
        )
        return "\n".join(lines)


# Not looked into: code, classes, modules (their arrays are not the prep's).
_OPAQUE = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType)


def footprint(obj: Any, *, depth: int = 6) -> int:
    """Bytes of the arrays an object holds (a plan, a prep): its attributes, containers and
    array buffers, each counted once. Compiled programs and closures are not counted."""
    seen: set[int] = set()
    total = 0
    todo = [(obj, 0)]
    while todo:
        item, level = todo.pop()
        if id(item) in seen or level > depth or isinstance(item, _OPAQUE):
            continue
        seen.add(id(item))
        if is_array(item):
            total += int(getattr(item, "nbytes", 0) or 0)
        elif isinstance(item, (bytes, bytearray)):
            total += len(item)
        elif isinstance(item, (tuple, list, set, frozenset)):
            todo.extend((v, level + 1) for v in item)
        elif isinstance(item, dict):
            todo.extend((v, level + 1) for v in item.values())
        else:
            own = getattr(item, "__dict__", None)
            if own is not None:
                todo.extend((v, level + 1) for v in own.values())
            for name in getattr(type(item), "__slots__", ()):
                value = getattr(item, name, None)
                if value is not None:
                    todo.append((value, level + 1))
    return total


#: Bytes of arrays the cache of unprepared calls may hold (besides its newest entry).
CACHE_BYTES = 256 * 2**20


class PrepCache:
    """Thread-safe LRU cache of preparations for unprepared calls.

    Keyed on the operator, ``f``, the backend and the call signature, so an unprepared call
    with the same function and argument kinds reuses everything (no re-trace, no re-jit).
    Unhashable functions are prepared afresh at every call. Bounded by count (``maxsize``)
    and by the bytes of the arrays its preparations hold (``max_bytes``, see
    :func:`footprint`): the least recently used entries go first, the newest always stays.
    """

    def __init__(self, maxsize: int = 128, max_bytes: int = CACHE_BYTES) -> None:
        self._entries: OrderedDict[Any, Prep] = OrderedDict()
        self._sizes: dict[Any, int] = {}
        self._bytes = 0
        self._lock = threading.Lock()
        self.maxsize = maxsize
        self.max_bytes = max_bytes

    def get(self, key: Any) -> Prep | None:
        """The cached prep for ``key``, or ``None``."""
        try:
            with self._lock:
                prep = self._entries.get(key)
                if prep is not None:
                    self._entries.move_to_end(key)
                return prep
        except TypeError:  # unhashable f or context value type
            return None

    def put(self, key: Any, prep: Prep) -> list[Prep]:
        """Remember ``prep`` under ``key``; returns the entries dropped to stay in bounds
        (least recently used first)."""
        size = footprint(prep.plan) + (0 if prep.witness is None else prep.witness.nbytes)
        dropped: list[Prep] = []
        try:
            with self._lock:
                if key in self._entries:
                    dropped.append(self._entries[key])
                    self._bytes -= self._sizes[key]
                self._entries[key] = prep
                self._sizes[key] = size
                self._bytes += size
                self._entries.move_to_end(key)
                while len(self._entries) > 1 and (
                    len(self._entries) > self.maxsize or self._bytes > self.max_bytes
                ):
                    old, entry = self._entries.popitem(last=False)
                    self._bytes -= self._sizes.pop(old)
                    dropped.append(entry)
        except TypeError:  # unhashable f or context value type
            pass
        return dropped

    def clear(self) -> None:
        """Forget every cached preparation."""
        with self._lock:
            self._entries.clear()
            self._sizes.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        """Bytes of arrays held by the cached preparations (see :func:`footprint`)."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

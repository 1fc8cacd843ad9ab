"""Structured arguments (pytrees) in every operator: the raveled problem.

A call whose ``x``, output, tangents, ``y=``, ``out=`` or context values are pytrees is
turned into a call on arrays, which every engine already handles:

* ``x`` (and each tangent like it) is raveled into one 1-D array (:class:`Layout`: the
  leaves in the library's order, C order within each, the leaves' result dtype);
* ``f`` becomes :class:`Raveled`, a function of the raveled ``x`` that rebuilds the tree
  (each leaf with its shape and dtype, by slicing and casting, which every engine
  differentiates), calls ``f`` and ravels its output tree (an array output is left as it
  is, so its shape survives);
* a context whose value is a tree of arrays is passed as one context per leaf, rebuilt
  into the tree for ``f`` (contexts may change between calls: nothing is baked in);
* results are rebuilt into trees by the operator table's rules: like ``x``, like ``f(x)``,
  or matrices over the raveled variables (``jacobian``, ``hessian``).

The preparation (:class:`TreePrep`) holds the preparation of the raveled problem and the
layouts; its signature covers every tree's structure and every leaf, and a mismatch report
names the leaf by its path (``x['w']``). Arrays in, arrays out never come here.
"""

from __future__ import annotations

import math
from typing import Any

from .._array import (
    ArraySpec,
    check_out,
    device_of,
    dtype_in,
    dtype_name,
    eps_of,
    is_array,
    is_eager_and_writable,
    is_floating_dtype,
    namespace_of,
    placement,
    precision_scope,
    real_dtype,
    same_values,
    spec_accepts,
    spec_of,
    write_out,
)
from .._tree import LEAF, TreeDef, flatten, is_tree, join, paths, split, unflatten
from ..backends import check_inplace
from ..contexts import Constant, Context
from ..errors import (
    ArgumentTypeError,
    ArgumentValueError,
    FunctionOutputError,
    PreparationMismatchError,
    UnsupportedOperationError,
)
from ..prep import Prep, signature_accepts
from ._table import OperatorSpec, Result
from ._tree_native import LeafGuard, prepare_native_gradient
from ._validate import check_contexts

__all__ = ["Layout", "Raveled", "TreePrep", "is_structured"]


def is_structured(x: Any, tangents: Any, contexts: tuple[Any, ...], y: Any) -> bool:
    """Whether a call has a pytree as ``x``, a tangent, ``y=`` or a context value (the speed
    tiers serve plain calls before this is asked; an output pytree is found at preparation)."""
    if (not is_array(x) and is_tree(x)) or (y is not None and not is_array(y) and is_tree(y)):
        return True
    if isinstance(tangents, tuple) and any(not is_array(t) and is_tree(t) for t in tangents):
        return True
    return any(_tree_value(c.value) for c in contexts if isinstance(c, Context))


def _tree_value(value: Any) -> bool:
    """A context value handled leaf by leaf: a container of arrays (anything else, a number or
    an object, is passed to ``f`` as it is)."""
    if is_array(value) or not is_tree(value):
        return False
    try:
        leaves, _ = flatten(value)
    except ArgumentTypeError:
        return False
    return bool(leaves)


# --- layouts ----------------------------------------------------------------------------------


class Layout:
    """One tree's structure and leaves, and its raveled form.

    Attributes
    ----------
    treedef : TreeDef
        The structure (``LEAF`` for a plain array, which is never raveled).
    specs : tuple of ArraySpec
        Each leaf's type, shape, dtype and device, in order.
    dtype : dtype
        The raveled array's dtype (the leaves' result type).
    """

    __slots__ = ("_in", "dtype", "shapes", "sizes", "specs", "treedef", "xp")

    def __init__(self, treedef: TreeDef, leaves: list[Any]) -> None:
        self.treedef = treedef
        self.specs = tuple(spec_of(leaf) for leaf in leaves)
        self.shapes = tuple(s.shape for s in self.specs)
        self.sizes = tuple(math.prod(s) for s in self.shapes)
        self.xp: Any = namespace_of(leaves[0])  # Layout.of refuses trees without leaves
        with precision_scope(self.xp, *leaves):  # JAX would see float64 as float32
            self.dtype = self.xp.result_type(*(s.dtype for s in self.specs))
        # (leaf dtypes, raveled dtype) in each namespace the layout meets: the caller's, and
        # the engines' inside f (torch, JAX, autograd's, the sparsity tracer's)
        self._in: dict[Any, tuple[tuple[Any, ...], Any]] = {
            self.xp: (tuple(s.dtype for s in self.specs), self.dtype)
        }

    @classmethod
    def of(cls, tree: Any, what: str) -> Layout:
        leaves, treedef = flatten(tree, what)
        if not leaves:
            msg = f"{what} has no array leaf: there is nothing to differentiate."
            raise ArgumentTypeError(msg)
        return cls(treedef, leaves)

    @property
    def size(self) -> int:
        """Length of the raveled array."""
        return sum(self.sizes)

    def lowest_precision(self) -> str | None:
        """The name of the least precise real dtype of the leaves, when they differ."""
        names = {dtype_name(real_dtype(self.xp, s.dtype)) for s in self.specs}
        if len(names) < 2:
            return None
        return min(names, key=lambda name: eps_rank(self.xp, name))

    def dtypes_in(self, xp: Any) -> tuple[tuple[Any, ...], Any]:
        """The leaves' dtypes and the raveled dtype as dtypes of namespace ``xp``."""
        found = self._in.get(xp)
        if found is None:
            leaf_dtypes = tuple(dtype_in(xp, s.dtype) for s in self.specs)
            found = self._in[xp] = (leaf_dtypes, dtype_in(xp, self.dtype))
        return found

    def ravel(self, tree: Any) -> Any:
        """A tree of this layout as its raveled array (an array ``LEAF`` as it is)."""
        if self.treedef is LEAF:
            return tree
        leaves, _ = flatten(tree)
        xp = namespace_of(leaves[0])
        return join(xp, leaves, self.dtypes_in(xp)[1])

    def unravel(self, flat: Any) -> Any:
        """The tree of this layout from a raveled array (any namespace, traced included)."""
        if self.treedef is LEAF:
            return flat
        leaf_dtypes = self.dtypes_in(namespace_of(flat))[0]
        return unflatten(self.treedef, split(flat, self.sizes, self.shapes, leaf_dtypes))

    def like(self, tree: Any, what: str, kind: str) -> list[Any]:
        """The leaves of ``tree``, which must have this structure and these leaf specs
        (``kind`` words the message: "like x"); a mismatch names the first leaf's path."""
        leaves, treedef = flatten(tree, what)
        if treedef != self.treedef:
            msg = (
                f"{what} must have the structure of {kind} "
                f"({_structure(self.treedef)}); got {_structure(treedef)}."
            )
            raise ArgumentValueError(msg)
        for path, leaf, spec in zip(paths(treedef, what), leaves, self.specs, strict=True):
            got = spec_of(leaf)
            if not spec_accepts(spec, got):  # a JAX tracer may stand for a JAX array
                msg = f"{path} must be like {kind} ({spec.describe()}); got {got.describe()}."
                raise ArgumentValueError(msg)
        return leaves


def eps_rank(xp: Any, name: str) -> float:
    """Sort key: the least precise dtype (largest epsilon) first."""
    return -eps_of(xp, getattr(xp, name))


def _structure(treedef: TreeDef) -> str:
    return "an array" if treedef is LEAF else f"a tree of {len(paths(treedef))} leaves"


# --- f on raveled arguments ------------------------------------------------------------------


class ContextLayout:
    """How the contexts of the raveled problem map back to the caller's: a tree-valued
    context becomes one context per leaf."""

    __slots__ = ("counts", "treedefs")

    def __init__(self, contexts: tuple[Context, ...]) -> None:
        self.treedefs: list[TreeDef | None] = []
        self.counts: list[int] = []
        for c in contexts:
            if _tree_value(c.value):
                leaves, treedef = flatten(c.value)
                self.treedefs.append(treedef)
                self.counts.append(len(leaves))
            else:
                self.treedefs.append(None)
                self.counts.append(1)

    @property
    def trivial(self) -> bool:
        return all(t is None for t in self.treedefs)

    def split(self, contexts: tuple[Context, ...]) -> tuple[Context, ...]:
        """The raveled problem's contexts (leaves of tree values, each in its wrapper)."""
        if self.trivial:
            return contexts
        out: list[Context] = []
        for c, treedef in zip(contexts, self.treedefs, strict=True):
            if treedef is None:
                out.append(c)
                continue
            leaves, got = flatten(c.value)
            if got != treedef:
                msg = "a context's tree structure differs from the preparation's."
                raise PreparationMismatchError(msg)
            out.extend(type(c)(leaf) for leaf in leaves)
        return tuple(out)

    def join(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        """The caller's context values from the raveled problem's (inside ``f``)."""
        if self.trivial:
            return args
        out = []
        k = 0
        for treedef, count in zip(self.treedefs, self.counts, strict=True):
            if treedef is None:
                out.append(args[k])
            else:
                out.append(unflatten(treedef, args[k : k + count]))
            k += count
        return tuple(out)


class Raveled:
    """``f`` as the engines see it: a function of the raveled ``x`` (and raveled contexts)
    returning the raveled output; a two-argument ``f`` is called on fresh output leaves of
    ``x``'s namespace, so the engines see an out-of-place function."""

    __slots__ = ("contexts", "f", "precision", "x", "y", "y_buffer")

    def __init__(
        self,
        f: Any,
        x: Layout,
        y: Layout,
        contexts: ContextLayout,
        y_buffer: Layout | None,
    ) -> None:
        self.f = f
        self.x = x
        self.y = y
        self.contexts = contexts
        self.y_buffer = y_buffer
        self.precision = x.lowest_precision()

    def __call__(self, x_flat: Any, *args: Any) -> Any:
        x = self.x.unravel(x_flat)
        values = self.contexts.join(args)
        if self.y_buffer is None:
            out = self.f(x, *values)
        else:
            xp = namespace_of(x_flat)
            device = device_of(x_flat)
            dtypes = self.y_buffer.dtypes_in(xp)[0]  # the engine's namespace's dtypes
            leaves = [
                xp.zeros(spec.shape, dtype=dtype, device=device)
                for spec, dtype in zip(self.y_buffer.specs, dtypes, strict=True)
            ]
            buffer = unflatten(self.y_buffer.treedef, leaves)
            self.f(buffer, x, *values)
            out = buffer
        if self.y.treedef is LEAF:
            return out
        leaves, treedef = flatten(out, "f(x)")
        if treedef != self.y.treedef:
            msg = (
                "f returned a tree of another structure than at preparation "
                f"({_structure(treedef)}, was {_structure(self.y.treedef)})."
            )
            raise FunctionOutputError(msg)
        xp = namespace_of(leaves[0])
        return join(xp, leaves, self.y.dtypes_in(xp)[1])

    def __repr__(self) -> str:
        return f"<{self.f!r} on raveled arguments>"


# --- preparation ------------------------------------------------------------------------------


class TreePrep(Prep):
    """A preparation for pytree arguments: the raveled problem's preparation and the layouts.

    Public attributes are those of :class:`~differentiation_interface.Prep`; the raveled
    problem's preparation is ``inner`` (its engine-specific attributes, such as a sparse
    preparation's ``sparsity``, are reachable from the tree prep too).
    """

    __slots__ = (
        "contexts_layout",
        "guard",
        "inner",
        "native",
        "raveled",
        "tree_express",
        "tree_signature",
        "twin",
        "x_layout",
        "y_layout",
    )
    inner: Any  # the raveled problem's preparation, or None with a native plan
    native: Any  # the engine's plan on the leaves themselves (LeavesGradientPlan), or None
    guard: Any  # the native plan's checks of the tree (a LeafGuard), or None
    tree_express: Any  # the native plan's own checked call on the tree (JAX), or None
    twin: Any  # the raveled route's preparation, for calls a native plan declines, or None
    raveled: Raveled
    x_layout: Layout
    y_layout: Layout
    contexts_layout: ContextLayout
    tree_signature: Any

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(object.__getattribute__(self, "inner"), name)


def tree_signature(x: Any, tangents: tuple[Any, ...], contexts: tuple[Context, ...], y: Any) -> Any:
    """Structures and leaf specs of every argument (hashable): the key of unprepared calls
    and what a strict prepared call is checked against."""
    return (
        _tree_specs(x, "x"),
        tuple(_tree_specs(t, f"tangent {i}") for i, t in enumerate(tangents)),
        context_signature(contexts),
        None if y is None else _tree_specs(y, "y"),
    )


def context_signature(contexts: tuple[Context, ...]) -> tuple[Any, ...]:
    """Each context's kind and its value's structure and leaf specs (or type)."""
    return tuple(
        (type(c), _tree_specs(c.value, f"context {i}"))
        if is_array(c.value) or _tree_value(c.value)
        else (type(c), type(c.value))
        for i, c in enumerate(contexts)
    )


def _tree_specs(tree: Any, what: str) -> tuple[TreeDef, tuple[Any, ...]]:
    leaves, treedef = flatten(tree, what)
    return treedef, tuple(
        ArraySpec(type(leaf), tuple(leaf.shape), leaf.dtype, placement(leaf)) for leaf in leaves
    )


def mismatch_report(prep: TreePrep, operator: str, f: Any, backend: Any, signature: Any) -> str:
    """Which argument, and which leaf of it, differs from the preparation."""
    rows = [
        ("f", f is prep.f or f == prep.f, repr(prep.f), repr(f)),
        ("backend", backend == prep.backend, repr(prep.backend), repr(backend)),
    ]
    (x0, t0, c0, y0), (x1, t1, c1, y1) = prep.tree_signature, signature
    rows.extend(_tree_rows("x", x0, x1))
    if t0 or t1:
        rows.append(("tangents", len(t0) == len(t1), f"{len(t0)}", f"{len(t1)}"))
        for i, (a, b) in enumerate(zip(t0, t1, strict=False)):
            rows.extend(_tree_rows(f"tangent {i}", a, b))
    rows.append(("contexts", len(c0) == len(c1), f"{len(c0)}", f"{len(c1)}"))
    for i, (a, b) in enumerate(zip(c0, c1, strict=False)):
        if isinstance(a[1], tuple) and isinstance(b[1], tuple):
            rows.extend(_tree_rows(f"context {i}", a[1], b[1]))
        else:
            rows.append((f"context {i}", a == b, repr(a[1]), repr(b[1])))
    if y0 is not None or y1 is not None:
        rows.extend(_tree_rows("y", y0, y1))
    lines = [f"`{operator}` was called with arguments that do not match its preparation:"]
    for name, ok, before, now in rows:
        if ok:
            lines.append(f"  [ok]       {name}")
        else:
            lines.append(f"  [mismatch] {name}: prepared with {before}; called with {now}")
    lines.append(
        f"Prepare again for these arguments, or pass strict=False to "
        f"`prepare_{prep.operator}` to skip this check at your own risk."
    )
    return "\n".join(lines)


def _tree_rows(name: str, before: Any, now: Any) -> list[tuple[str, bool, str, str]]:
    if signature_accepts(before, now):
        return [(name, True, "", "")]
    if before is None or now is None or before[0] != now[0]:
        b = "nothing" if before is None else _structure(before[0])
        n = "nothing" if now is None else _structure(now[0])
        return [(name, False, b, n)]
    rows = []
    for path, a, b in zip(paths(before[0], name), before[1], now[1], strict=True):
        if not signature_accepts(a, b):
            rows.append((path, False, _describe(a), _describe(b)))
    return rows


def _describe(spec: Any) -> str:
    kind, shape, dtype, where = spec
    return f"{kind.__name__}, shape {shape}, dtype {dtype}, device {where}"


# --- the entry points ------------------------------------------------------------------------


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
    output: Any = None,
    native: bool = True,
) -> TreePrep:
    """Prepare ``op`` for pytree arguments (or an ``f`` returning a pytree, whose value at
    ``x`` is ``output`` when the plain path found it); ``native=False`` takes the raveled
    route even where the engine differentiates the leaves themselves."""

    if op.scalar_input and not is_array(x):
        msg = (
            f"`{op.name}` differentiates with respect to a 0-d array x; got a "
            f"{type(x).__name__}. Use `pushforward` or `jacobian` for structured x."
        )
        raise ArgumentTypeError(msg)
    x_layout = _x_layout(op, x)
    with precision_scope(x_layout.xp, *flatten(x)[0]):  # JAX keeps float64 leaves
        return _prepare(
            op, f, backend, x, x_layout, tangents, contexts, y, strict, same_point, output, native
        )


def _prepare(
    op: OperatorSpec,
    f: Any,
    backend: Any,
    x: Any,
    x_layout: Layout,
    tangents: tuple[Any, ...] | None,
    contexts: tuple[Any, ...],
    y: Any,
    strict: bool,
    same_point: bool,
    output: Any,
    native_ok: bool,
) -> TreePrep:
    from . import _call

    check_contexts(op.name, contexts)
    y_buffer = None
    if y is not None:
        if not check_inplace(backend):
            msg = (
                f"`{op.name}` with a two-argument function f(y, x) is not supported by "
                f"{backend!r}, which cannot differentiate through mutation. Write f to "
                "return its output (y = f(x)) and call without y=."
            )
            raise UnsupportedOperationError(msg)
        y_buffer = Layout.of(y, "y")
    context_layout = ContextLayout(contexts)
    flat_contexts = context_layout.split(contexts)
    if output is None:
        output = _evaluate(op, f, x_layout, x, context_layout, flat_contexts, y_buffer)
    y_layout = _y_layout(op, output)
    guard = native = None
    if (
        native_ok
        and op.name == "gradient"
        and y is None
        and not same_point
        and x_layout.treedef is not LEAF
    ):
        leaves, treedef = flatten(x)
        guard = LeafGuard(treedef, leaves, contexts)
        native = prepare_native_gradient(f, backend, leaves, guard, contexts, output)
    if native is not None:
        prep = TreePrep(
            operator=op.name,
            f=f,
            backend=backend,
            signature=None,
            plan=native,
            xp=x_layout.xp,
            y_spec=spec_of(output),
            strict=strict,
        )
        prep.native, prep.inner, prep.guard, prep.twin = native, None, guard, None
        prep.tree_express = getattr(native, "express", None) or _leaves_express(guard, native)
        prep.x_layout, prep.y_layout, prep.contexts_layout = x_layout, y_layout, context_layout
        prep.tree_signature = tree_signature(x, (), contexts, None)
        return prep
    raveled = Raveled(f, x_layout, y_layout, context_layout, y_buffer)
    x_flat = x_layout.ravel(x)
    flat_tangents = None if tangents is None else _flat_tangents(op, x_layout, y_layout, tangents)
    inner = _call.prepare(
        op,
        raveled,
        backend,
        x_flat,
        flat_tangents,
        flat_contexts,
        None,
        strict=False,
        same_point=same_point,
    )
    prep = TreePrep(
        operator=op.name,
        f=f,
        backend=backend,
        signature=inner.signature,
        plan=inner.plan,
        xp=inner.xp,
        y_spec=inner.y_spec,
        strict=strict,
        sparse_result=inner.sparse_result,
    )
    prep.same_point = same_point
    prep.inner, prep.native, prep.guard, prep.tree_express = inner, None, None, None
    prep.twin = None
    prep.raveled = raveled
    prep.x_layout, prep.y_layout, prep.contexts_layout = x_layout, y_layout, context_layout
    prep.tree_signature = tree_signature(x, tangents or (), contexts, y)
    return prep


def _x_layout(op: OperatorSpec, x: Any) -> Layout:
    layout = Layout.of(x, "x")
    for path, spec in zip(paths(layout.treedef, "x"), layout.specs, strict=True):
        if not is_floating_dtype(layout.xp, spec.dtype):
            msg = (
                f"`{op.name}` can only differentiate with respect to real or complex "
                f"floating arrays; {path} has dtype {spec.dtype}. Convert it first, e.g. "
                "xp.astype(leaf, xp.float64)."
            )
            raise ArgumentTypeError(msg)
    return layout


def _y_layout(op: OperatorSpec, output: Any) -> Layout:
    if op.scalar_output and not is_array(output):
        msg = (
            f"`{op.name}` needs f to return a 0-d (scalar) array; it returned a "
            f"{type(output).__name__}. Use `jacobian` (or `pullback`) for structured outputs."
        )
        raise FunctionOutputError(msg)
    try:
        layout = Layout.of(output, "f(x)")
    except ArgumentTypeError as err:  # the output is f's fault, not the caller's
        raise FunctionOutputError(str(err)) from None
    for path, spec in zip(paths(layout.treedef, "f(x)"), layout.specs, strict=True):
        if not is_floating_dtype(layout.xp, spec.dtype):
            msg = (
                f"`{op.name}` needs f to return floating arrays; {path} has dtype "
                f"{spec.dtype}, whose derivative is not defined."
            )
            raise FunctionOutputError(msg)
    return layout


def _evaluate(
    op: OperatorSpec,
    f: Any,
    x_layout: Layout,
    x: Any,
    contexts: ContextLayout,
    flat_contexts: tuple[Context, ...],
    y_buffer: Layout | None,
) -> Any:
    """``f`` at ``x`` once, on a private copy of x's leaves (an ``f`` writing into them is
    refused, the caller's arrays never change)."""
    if x_layout.treedef is LEAF:
        point_flat = x_layout.xp.astype(x, x.dtype, copy=True)
    else:
        point_flat = x_layout.ravel(x)  # a fresh array
    point = x_layout.unravel(point_flat)
    values = contexts.join(tuple(c.value for c in flat_contexts))
    if y_buffer is None:
        output = f(point, *values)
    else:
        xp, device = x_layout.xp, device_of(point_flat)
        buffer = unflatten(
            y_buffer.treedef,
            [xp.zeros(s.shape, dtype=s.dtype, device=device) for s in y_buffer.specs],
        )
        returned = f(buffer, point, *values)
        if returned is not None:
            msg = (
                f"`{op.name}`: a two-argument function f(y, x) must write into y and return "
                f"None; it returned a {type(returned).__name__}."
            )
            raise FunctionOutputError(msg)
        output = buffer
    if is_eager_and_writable(point_flat) and not same_values(point_flat, x_layout.ravel(x)):
        msg = (
            f"`{op.name}`: f wrote into its argument x (a leaf of x changed when f was "
            "evaluated). Differentiation evaluates f at many points derived from x, so f "
            "must not modify x in place: compute on copies inside f."
        )
        raise FunctionOutputError(msg)
    return output


def _flat_tangents(
    op: OperatorSpec, x_layout: Layout, y_layout: Layout, tangents: Any
) -> tuple[Any, ...]:
    """Each tangent (like x) or cotangent (like f(x)) raveled, after checking it leaf by
    leaf against the preparation's layout."""
    if not isinstance(tangents, tuple):
        kind = "cotangents" if op.seeds == "y" else "tangents"
        msg = (
            f"`{op.name}` takes its {kind} as a tuple of pytrees like "
            f"{'f(x)' if op.seeds == 'y' else 'x'}; got {type(tangents).__name__}."
        )
        raise ArgumentTypeError(msg)
    layout, like = (x_layout, "x") if op.seeds == "x" else (y_layout, "f(x)")
    kind = "tangent" if op.seeds == "x" else "cotangent"
    out = []
    for i, t in enumerate(tangents):
        layout.like(t, f"{kind} {i}", like)
        out.append(layout.ravel(t))
    return tuple(out)


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
) -> Any:
    """An operator call with pytree arguments (see the module docstring)."""
    from . import _call

    if type(prep) is TreePrep and prep.native is not None and tangents is None and y is None:
        if out is None and not value:
            result = express_call(op.name, prep, f, backend, x, contexts)
            if result is not None:
                return result
        # a gradient on the leaves: taken from the tree once, checked in a few list comparisons
        guard = prep.guard
        leaves, treedef = guard.leaves(x)
        if prep.operator == op.name and (
            _native_matches(prep, f, backend, treedef, leaves, contexts)
            if prep.strict
            else guard.arrays(leaves)
        ):
            return _native_call(op, prep, f, backend, x, leaves, treedef, contexts, out, value)
    if isinstance(prep, TreePrep):
        _check(op, prep, f, backend, x, tangents, contexts, y)
    elif prep is None:
        signature = tree_signature(x, tangents or (), contexts, y)
        prep = _call.cached(
            op,
            f,
            backend,
            signature,
            lambda: prepare(op, f, backend, x, tangents, contexts, y, strict=False),
        )
    elif isinstance(prep, Prep):
        msg = (
            f"`{op.name}` was given a preparation made for plain arrays, but is called with "
            "structured (pytree) arguments: prepare with these arguments."
        )
        raise PreparationMismatchError(msg)
    else:
        msg = f"`{op.name}` takes prep= from `prepare_{op.name}`; got {type(prep).__name__}."
        raise ArgumentTypeError(msg)
    assert isinstance(prep, TreePrep)
    if prep.native is not None:
        leaves, treedef = flatten(x)
        return _native_call(op, prep, f, backend, x, leaves, treedef, contexts, out, value)
    with precision_scope(prep.x_layout.xp, *flatten(x)[0]):  # JAX keeps float64 leaves
        return _call_prepared(op, backend, x, tangents, contexts, y, prep, out, value)


def _call_prepared(
    op: OperatorSpec,
    backend: Any,
    x: Any,
    tangents: Any,
    contexts: tuple[Any, ...],
    y: Any,
    prep: TreePrep,
    out: Any,
    value: bool,
) -> Any:
    from . import _call

    count = 1 if tangents is None else len(tangents)
    targets = None if out is None else _tree_outs(op, prep, count, out, value=value)
    x_flat = prep.x_layout.ravel(x)
    flat_tangents = (
        None if tangents is None else _flat_tangents(op, prep.x_layout, prep.y_layout, tangents)
    )
    flat_contexts = prep.contexts_layout.split(contexts)
    want_value = value or y is not None
    results = _call.call(
        op,
        prep.raveled,
        backend,
        x_flat,
        flat_tangents,
        flat_contexts,
        None,
        prep.inner,
        None,
        value=want_value,
    )
    if not want_value:
        results = (results,)
    derivatives = results[1:] if want_value and op.primal else results
    if not value:
        derivatives = derivatives[-1:]
    specs = op.results[-len(derivatives) :]
    rebuilt = tuple(_rebuild(prep, s, r) for s, r in zip(specs, derivatives, strict=True))
    if targets is not None:
        chosen = targets[-len(rebuilt) :]  # the plain variant returns the last result only
        rebuilt = tuple(_write(t, r) for t, r in zip(chosen, rebuilt, strict=True))
    primal = None
    if want_value and op.primal:
        primal = prep.y_layout.unravel(results[0])
        if y is not None:
            _write(y, primal)
            primal = y
    if not value:
        return rebuilt[-1]
    if not op.primal:
        return rebuilt
    return (primal, *rebuilt)


def _constant_values(contexts: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The values of ``Constant`` contexts (what a native plan was prepared with), or None."""
    values = []
    for c in contexts:
        if type(c) is not Constant:
            return None
        values.append(c.value)
    return tuple(values)


def _native_call(
    op: OperatorSpec,
    prep: TreePrep,
    f: Any,
    backend: Any,
    x: Any,
    leaves: list[Any],
    treedef: TreeDef,
    contexts: tuple[Any, ...],
    out: Any,
    value: bool,
) -> Any:
    """A gradient on the leaves themselves (the strict check already ran)."""
    targets = None if out is None else _tree_outs(op, prep, 1, out, value=value)
    found = prep.native.run(leaves, tuple(c.value for c in contexts), value=value)
    if found is None:  # declined by the engine: the raveled route serves this call
        raveled = _raveled_twin(op, prep, f, backend, x, contexts)
        with precision_scope(raveled.x_layout.xp, *leaves):
            return _call_prepared(op, backend, x, None, contexts, None, raveled, out, value)
    y, grads = found
    guard = prep.guard
    grad = guard.rebuild(grads) if treedef is guard.treedef else unflatten(treedef, grads)
    if targets is not None:
        grad = _write(targets[-1], grad)
    return (y, grad) if value else grad


def express_call(
    name: str, prep: TreePrep, f: Any, backend: Any, x: Any, contexts: tuple[Any, ...]
) -> Any:
    """The plain result of a prepared native tree call through the engine's own check of the
    tree (JAX's executable, torch's tensor guards), or ``None`` when it does not serve the
    call (the full call then checks and reports). The operator calls it first."""
    express = prep.tree_express
    if (
        express is None
        or prep.operator != name
        or (prep.strict and not (f is prep.f and backend is prep.backend))
    ):
        return None
    args = _constant_values(contexts)
    return None if args is None else express(x, args)


def _leaves_express(guard: Any, native: Any) -> Any:
    """``express(x, args)`` from a native plan's ``express_leaves`` (checked on the leaves,
    torch's tensor guards), or ``None`` where it has none."""
    run = getattr(native, "express_leaves", None)
    if run is None:
        return None

    def express(x: Any, args: tuple[Any, ...]) -> Any:
        leaves, treedef = guard.leaves(x)
        if treedef is not guard.treedef:
            return None
        grads = run(leaves, args)
        return None if grads is None else guard.rebuild(grads)

    return express


def _raveled_twin(
    op: OperatorSpec, prep: TreePrep, f: Any, backend: Any, x: Any, contexts: tuple[Any, ...]
) -> TreePrep:
    """The raveled route's preparation beside a native one, made on first need and kept."""
    twin: TreePrep | None = prep.twin
    if twin is None:
        twin = prepare(op, f, backend, x, None, contexts, None, strict=False, native=False)
        prep.twin = twin
    return twin


def _check(
    op: OperatorSpec,
    prep: TreePrep,
    f: Any,
    backend: Any,
    x: Any,
    tangents: Any,
    contexts: tuple[Any, ...],
    y: Any,
) -> None:
    if op.name != prep.operator:
        msg = (
            f"`{op.name}` was given a preparation made by `prepare_{prep.operator}`; "
            f"use `prepare_{op.name}` instead."
        )
        raise PreparationMismatchError(msg)
    if not prep.strict:
        return
    signature = tree_signature(x, tangents or (), contexts, y)
    same_f = f is prep.f or _equal(f, prep.f)
    if (
        not signature_accepts(prep.tree_signature, signature)  # JAX tracers stand for arrays
        or not same_f
        or backend != prep.backend
    ):
        raise PreparationMismatchError(mismatch_report(prep, op.name, f, backend, signature))


def _native_matches(
    prep: TreePrep, f: Any, backend: Any, treedef: TreeDef, leaves: list[Any], contexts: Any
) -> bool:
    """The strict check of a native plan's call (a mismatch goes on to the full signature
    and its report)."""
    if not (f is prep.f or _equal(f, prep.f)) or not (
        backend is prep.backend or backend == prep.backend
    ):
        return False
    if not prep.guard.matches(treedef, leaves, prep.native.leaf_check):
        return False
    if not contexts:
        return True
    same = prep.guard.contexts_match(contexts)
    return bool(context_signature(contexts) == prep.tree_signature[2]) if same is None else same


def _equal(f: Any, g: Any) -> bool:
    try:
        return bool(f == g)
    except Exception:  # noqa: BLE001 - exotic __eq__: different
        return False


def _rebuild(prep: TreePrep, spec: Result, result: Any) -> Any:
    """A result of the raveled problem as the caller's: a tree like x or like f(x), or a
    matrix over the raveled variables; a tuple for per-tangent results."""
    if spec.per_tangent:
        return tuple(_rebuild_one(prep, spec, r) for r in result)
    return _rebuild_one(prep, spec, result)


def _rebuild_one(prep: TreePrep, spec: Result, result: Any) -> Any:
    if spec.shape == "x":
        return prep.x_layout.unravel(result)
    if spec.shape == "y":
        return prep.y_layout.unravel(result)
    return result  # Jacobians and Hessians: over the raveled variables


def _tree_outs(
    op: OperatorSpec, prep: TreePrep, count: int, out: Any, *, value: bool
) -> tuple[Any, ...]:
    """The out= targets, checked leaf by leaf before anything is computed."""
    from ._call import _out_targets, _refuse_sparse_out

    if prep.sparse_result:
        _refuse_sparse_out(op)
    targets = _out_targets(op, out, value=value)
    for spec, target in zip(op.results, targets, strict=True):
        if target is None:
            continue
        items = target if spec.per_tangent else (target,)
        if spec.per_tangent and (not isinstance(target, tuple) or len(target) != count):
            msg = f"`{op.name}` needs out= to be a tuple of {count} pytrees for {spec.what}."
            raise ArgumentValueError(msg)
        for item in items:
            _check_out_tree(op, prep, spec, item)
    return targets


def _check_out_tree(op: OperatorSpec, prep: TreePrep, spec: Result, target: Any) -> None:
    if spec.shape in ("x", "y"):
        layout, like = (prep.x_layout, "x") if spec.shape == "x" else (prep.y_layout, "f(x)")
        leaves = layout.like(target, "out=", like)
        for leaf, leaf_spec in zip(leaves, layout.specs, strict=True):
            check_out(
                op.name,
                spec.what,
                leaf,
                xp=namespace_of(leaf),
                shape=leaf_spec.shape,
                dtype=leaf_spec.dtype,
                device=leaf_spec.device,
            )
        return
    n = prep.x_layout.size
    m = prep.y_layout.size if spec.shape == "jacobian" else n
    dtype = prep.inner.xp.result_type(prep.x_layout.dtype, prep.y_layout.dtype)
    if spec.shape == "hessian":
        dtype = prep.x_layout.dtype
    check_out(
        op.name,
        spec.what,
        target,
        xp=prep.inner.xp,
        shape=(m, n),
        dtype=dtype,
        device=prep.x_layout.specs[0].device,
    )


def _write(target: Any, result: Any) -> Any:
    """``result`` written into ``target`` (same structure, checked before computing), leaf by
    leaf; returns ``target``."""
    targets, _ = flatten(target)
    results, _ = flatten(result)
    for t, r in zip(targets, results, strict=True):
        write_out(t, r)
    return target

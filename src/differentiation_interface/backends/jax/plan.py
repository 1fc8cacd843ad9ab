"""The machinery every JAX plan shares: preparation facts and the prepared-call path.

A plan owns two jitted variants (:func:`~.trace.jit`): ``plain`` returns the derivative
alone, ``with_value`` the operator's full tuple of results (a bare array is cheaper to
return than a tuple). Preparation compiles ``plain`` by running it once on the preparation's
arguments; ``with_value`` compiles on its first call. A call then costs the JAX dispatch of
the compiled function, the route of the caller's arrays in and out (:mod:`.io`) and,
only when the thread is not in 64-bit mode already, entering it. A prepared call of ``x``
alone is less: one dispatch of the executable's C++ entry point, which checks ``x`` itself
(:meth:`JAXPlan.make_express`).

Plans are immutable after preparation (``jax.jit`` objects are thread-safe and the 64-bit
scope is thread-local), so one prep may serve several threads at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from ..._array import (
    ArraySpec,
    in_precision,
    in_x64,
    is_64bit,
    is_array,
    layout_for,
    sharding_of,
    x64_switch,
)
from ...errors import UnsupportedOperationError
from .._base import Engine, ExpressPlan, Fn, collecting_aux, offer_aux
from .io import CallerIO, io_for, single_device_sharding
from .trace import (
    Layout,
    compiled_call,
    compiler_options,
    constrain,
    jit,
    nested,
    refuses_defaults,
    reraise,
)

__all__ = ["JAXPlan", "Never", "Setup", "fill_arrays", "prepare", "split_arrays"]


class _Slot:
    """Where an array stood in a partly static structure (see :func:`split_arrays`)."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


def split_arrays(tree: Any) -> tuple[Any, list[Any]]:
    """``(template, arrays)``: the arrays of a structure of containers (JAX can return only
    arrays from a program), and the structure with each array replaced by its slot."""
    arrays: list[Any] = []

    def walk(node: Any) -> Any:
        if is_array(node) or isinstance(node, jax.core.Tracer):
            arrays.append(node)
            return _Slot(len(arrays) - 1)
        if isinstance(node, tuple) and hasattr(node, "_fields"):
            return type(node)(*(walk(v) for v in node))
        if isinstance(node, (tuple, list)):
            return type(node)(walk(v) for v in node)
        if isinstance(node, dict):
            return type(node)((k, walk(v)) for k, v in node.items())
        return node

    return walk(tree), arrays


def fill_arrays(template: Any, arrays: tuple[Any, ...]) -> Any:
    """The structure :func:`split_arrays` took apart, with these arrays in its slots."""
    if isinstance(template, _Slot):
        return arrays[template.index]
    if isinstance(template, tuple) and hasattr(template, "_fields"):
        return type(template)(*(fill_arrays(v, arrays) for v in template))
    if isinstance(template, (tuple, list)):
        return type(template)(fill_arrays(v, arrays) for v in template)
    if isinstance(template, dict):
        return type(template)((k, fill_arrays(v, arrays)) for k, v in template.items())
    return template


#: JAX's thread-local 64-bit state (``X64.value`` reads it), resolved once for the process.
X64: Any = x64_switch()


def _complex(dtype: np.dtype[Any]) -> bool:
    return dtype.kind == "c"


class Setup:
    """What preparation learns about one call signature (built inside the precision scope).

    Attributes
    ----------
    op : str
        Operator name, for messages.
    io : CallerIO
        Route of the caller's arrays into JAX and back.
    x64 : bool
        Whether any input (``x``, tangents, ``f(x)``, array contexts) is 64-bit.
    layout : Layout
        How each context reaches the jitted function.
    sharding : jax.sharding.Sharding or None
        ``out_shardings`` keeping results on a committed JAX ``x``'s device.
    places : dict
        For an ``x`` sharded over several devices, the shardings of ``x`` and ``f(x)``
        (keys ``"x"``, ``"y"``) that results like them get (:meth:`like`); else empty.
    g : callable
        ``g(x, *dynamic_contexts)``: ``f`` with its contexts in jitted-function form.
    x_shape, y_shape : tuple of int
        Shapes of ``x`` and ``f(x)``.
    x_dtype, y_dtype, jac_dtype : numpy.dtype
        Dtypes of results like ``x``, like ``f(x)``, and of Jacobians.
    x_complex, y_complex : bool
        Whether ``x`` / ``f(x)`` are complex.
    n, m : int
        Sizes of ``x`` and ``f(x)``.
    batch : int
        Most basis seeds pushed in one ``vmap`` (memory bound).
    unstacked : bool
        Whether calls give the one tangent without its batch axis (``Fn.unstacked``).
    jx, jseeds, jdyn
        The preparation's arguments in JAX form, to compile the plan by running it once.
    options : dict or None
        XLA compiler options of every program of the plan (``jit(..., options)``): the
        selector's, else the CPU defaults if ``defaults`` is true, else none.
    """

    def __init__(
        self,
        engine: Engine,
        op: str,
        fn: Fn,
        x: Any,
        seeds: Any,
        y: Any,
        *,
        x64: bool,
        defaults: bool = True,
    ) -> None:
        self.op = op
        self.io: CallerIO = io_for(x)
        self.x_type = type(x)
        self.x64 = x64
        self.layout = Layout(fn.contexts, self.io)
        self.sharding = single_device_sharding(x)
        self.places: dict[str, tuple[Any, tuple[int, ...]]] = {}
        x_sharding = sharding_of(x)
        if x_sharding is not None:  # results keep the layouts of x and f(x)
            self.places["x"] = (x_sharding, tuple(x.shape))
            y_sharding = sharding_of(y)
            if y_sharding is not None:
                self.places["y"] = (y_sharding, tuple(y.shape))
        f, layout = fn.f, self.layout
        self.g: Callable[..., Any] = (
            (lambda x, *dyn: f(x, *layout.full(dyn))) if layout.caches else f
        )
        self.x_shape, self.y_shape = tuple(x.shape), tuple(y.shape)
        self.n, self.m = math.prod(self.x_shape), math.prod(self.y_shape)
        self.x_dtype, self.y_dtype = self.io.dtype(x), self.io.dtype(y)
        self.jac_dtype = np.result_type(self.x_dtype, self.y_dtype)
        self.x_complex, self.y_complex = _complex(self.x_dtype), _complex(self.y_dtype)
        self.batch = engine.max_batch(max(self.n, self.m, 1), x)
        self.jx = self.io.put(x)
        self.jseeds = None if seeds is None else self.io.put(seeds)
        self.jdyn = layout.dynamic(fn.args, self.io)
        self.has_aux = fn.has_aux
        self.unstacked = fn.unstacked  # calls give the one tangent unstacked (Fn)
        chosen = getattr(engine.backend, "compiler_options", None)
        self.options = compiler_options(chosen, self.jx) if defaults or chosen else None

    def like(self, a: Any, kind: str) -> Any:
        """Inside a trace: a result like ``x`` (``kind="x"``) or like ``f(x)`` (``"y"``),
        alone or stacked along a leading axis, laid out as that array is over its devices
        (nothing for arrays on one device: no cost)."""
        place = self.places.get(kind)
        if place is None:
            return a
        sharding, shape = place
        return constrain(a, layout_for(sharding, shape, tuple(a.shape)))


def prepare(
    plan_class: Callable[..., Any], engine: Engine, op: str, fn: Fn, x: Any, seeds: Any, y: Any
) -> Any:
    """Build ``plan_class(setup)`` for this signature, inside the right precision scope."""
    if fn.inplace:  # the call path refuses these first; kept for direct engine use
        msg = (
            f"`{op}` with AutoJAX cannot differentiate a two-argument function f(y, x): JAX "
            "arrays are immutable. Write f to return its output and call without y=."
        )
        raise UnsupportedOperationError(msg)
    arrays = [x, y, *(a for a in fn.args if is_array(a))]
    if seeds is not None:
        arrays.append(seeds)
    x64 = any(is_64bit(a) for a in arrays)

    defaults = getattr(plan_class, "cpu_defaults", True)

    def build() -> Any:
        setup = Setup(engine, op, fn, x, seeds, y, x64=x64, defaults=defaults)
        try:
            return plan_class(setup)
        except jax.errors.JaxRuntimeError as err:
            if not refuses_defaults(err, setup.options):
                raise
        return plan_class(Setup(engine, op, fn, x, seeds, y, x64=x64, defaults=False))

    return in_precision(x64, build)


def _placement(where: Any) -> tuple[list[Any], Callable[[Any], bool]]:
    """``(known, placed)``: ``placed(a)`` tells whether JAX array ``a`` lies where the
    preparation's ``x`` did (``where``, its sharding); ``known[0]`` is the last sharding object
    found equal, which the express closures test by identity first (results of one
    computation share theirs; comparing shardings with ``==`` is slow)."""
    known = [where]

    def placed(a: Any) -> bool:
        here = a._sharding
        if here != where:
            return False
        known[0] = here
        return True

    return known, placed


def _one_tangent(built: Callable[..., Any], *, value: bool) -> Callable[..., Any]:
    """``built`` (a program over stacked tangents ``(x, tx, *dyn)``) for one tangent ``t``
    without the batch axis, in and out (inside the jit: XLA drops the axis, no copy)."""

    def program(x: Any, t: Any, *dyn: Any) -> Any:
        out = built(x, t[None], *dyn)
        return (*out[:-1], out[-1][0]) if value else out[0]

    return program


class Never:
    """A type no array has: plans whose calls cannot take the express tier compare to it."""


class JAXPlan(ExpressPlan):
    """Base of the JAX plans: two jitted variants and the prepared-call path.

    Subclasses define :meth:`build` (the traced computation), set ``lead`` (the number of
    leading array arguments: ``x``, then tangents or cotangents if any) and ``slots`` (how
    many results the operator returns: the derivative last, preceded by the value and, for
    second order, the first derivative). The plain variant returns the bare derivative,
    the value variant the full tuple.
    """

    lead = 1
    slots = 2
    #: The value variant returning ``f``'s auxiliary output too (plans of ``has_aux``
    #: functions), and what of that output is not an array (fixed when it was traced).
    with_aux: Any = None
    aux_template: Any = None
    #: Whether the plan compiles with ``trace.CPU_DEFAULTS`` when the selector names no
    #: options (a plan whose programs measured slower with them opts out).
    cpu_defaults = True
    #: The results are the compiled program's own output buffers, held by nobody else (the
    #: call path may give a batch of one's buffer to its entry: ``_array.unstack``).
    owns_results = True
    #: Prepared for one tangent: :meth:`run_single` takes it unstacked and returns its
    #: result unstacked (see ``__init__``); the call path then stacks nothing.
    single = False

    def __init__(self, s: Setup) -> None:
        self.op = s.op
        self.io = s.io
        self.x_type = s.x_type
        self.x64 = s.x64
        self.layout = s.layout
        self.nones: tuple[None, ...] = (None,) * (self.slots - 1)
        self.plain = jit(self.build(s, value=False), self.lead, s.layout, s.sharding, s.options)
        self.with_value = jit(self.build(s, value=True), self.lead, s.layout, s.sharding, s.options)
        # One tangent from the operator layer (the common case): stacking it and unstacking
        # its result are two eager programs (10 us at n = 10) and a copy of it (0.4 ms at
        # 4 MB), so the plan compiles programs taking and returning it unstacked, where the
        # batch axis of one is XLA's to remove. The stacked programs stay, traced on first
        # use (a non-strict preparation given several tangents). Not for results laid out
        # over devices; not for plans of other users, which stack (Fn.unstacked).
        self.single = (
            self.lead == 2
            and s.unstacked
            and s.jseeds is not None
            and s.jseeds.shape[0] == 1
            and not s.places
            and not s.has_aux
        )
        if self.single:
            self.plain1 = jit(
                _one_tangent(self.build(s, value=False), value=False),
                2,
                s.layout,
                s.sharding,
                s.options,
            )
            self.with_value1 = jit(
                _one_tangent(self.build(s, value=True), value=True),
                2,
                s.layout,
                s.sharding,
                s.options,
            )
        # The plain call (see run_arrays) serves numpy and JAX callers: no conversion in, and
        # ``np.array`` (a writable copy) or nothing on the way out.
        self.direct_type: type = (
            s.x_type if s.io.kind in ("numpy", "jax") and s.io.identity else Never
        )
        self.back1: Any = np.array if s.io.kind == "numpy" else None
        # The call path runs plans for JAX callers inside their precision scope already
        # (64-bit iff x or an array context is, which for JAX callers is exactly when this
        # plan needs it); numpy callers are not in one, so their plans check and enter it.
        self.check_x64 = s.x64 and s.io.kind != "jax"
        lead = (s.jx,) if self.lead == 1 else (s.jx, s.jseeds)
        try:  # compile now: prepared calls never trace
            if self.single and s.jseeds is not None:
                self.plain1(s.jx, s.jseeds[0], *s.jdyn)
            else:
                self.plain(*lead, *s.jdyn)
            if s.has_aux:
                self.with_aux = jit(
                    self._aux_program(s), self.lead, s.layout, s.sharding, s.options
                )
                self.with_aux(*lead, *s.jdyn)
        except (TypeError, IndexError) as err:
            reraise(s.op, err)
        # The executable's own checking entry point, for the express tier (below):
        # numpy or JAX callers, x alone, no contexts.
        self.checked_call: Any = (
            compiled_call(self.plain, s.jx)
            if self.lead == 1 and self.direct_type is not Never and not s.layout.kinds
            else None
        )
        # The same for the one-tangent program: x and its tangent alone (make_express1).
        self.checked_call1: Any = (
            compiled_call(self.plain1, s.jx, s.jseeds[0])
            if self.single
            and s.jseeds is not None
            and self.direct_type is not Never
            and not s.layout.kinds
            else None
        )

    def make_express(
        self, operator: str, f: Any, backend: Any, like: ArraySpec
    ) -> Callable[[str, Any, Any, Any], Any] | None:
        """The prepared call as one checked dispatch of the compiled executable.

        The executable's C++ entry point (:func:`~.trace.compiled_call`) checks the
        type, shape, dtype and sharding of ``x`` itself, raising ``TypeError`` or
        ``ValueError`` on a mismatch, so the closure tests only what it cannot see: the
        operator, ``f``, backend and array type, and, for JAX callers, that ``x`` lives
        where the preparation's did (an uncommitted array on another device would be moved
        silently). The sharding test is an identity test against the last sharding object
        found equal: results of one computation share it. For numpy callers a float64 plan
        needs the thread in 64-bit mode (outside it JAX sees float64 numpy as float32), which
        the closure switches on for the call (:func:`~differentiation_interface._array.in_x64`).
        """
        call = self.checked_call
        if call is None:
            return None
        kind: Any = like.type  # Any: narrowing x to `type` would hide its attributes
        if self.io.kind == "numpy":
            switch = X64 if self.x64 else None

            # written out, as in make_express1: a shared runner (one more frame, *args)
            # measured 3-4 % of this call, the library's hottest
            def fast_numpy(op_name: str, f_: Any, backend_: Any, x: Any) -> Any:
                if type(x) is not kind or f_ is not f or backend_ is not backend:
                    return None
                if op_name != operator:
                    return None
                try:  # np.array: a writable copy of JAX's read-only buffer
                    if switch is None or switch.value:
                        return np.array(call(x))
                    return np.array(in_x64(call, x))
                except (TypeError, ValueError):  # not the prepared kind: the full call reports
                    return None

            return fast_numpy
        if not hasattr(kind, "_sharding"):
            return None
        known, placed = _placement(like.device)

        def fast(op_name: str, f_: Any, backend_: Any, x: Any) -> Any:
            if type(x) is not kind or f_ is not f or backend_ is not backend or op_name != operator:
                return None
            if x._sharding is not known[0] and not placed(x):
                return None
            try:
                return call(x)
            except (TypeError, ValueError):  # not the prepared kind: the full call reports
                return None

        return fast

    def make_express1(
        self, operator: str, f: Any, backend: Any, like: ArraySpec
    ) -> Callable[[str, Any, Any, Any, Any], Any] | None:
        """:meth:`make_express` for the one-tangent program: ``(op, f, backend, x, t)``
        gives the result for ``t`` (no batch axis), the executable's C++ entry point
        checking both arrays; ``t`` must live where ``x`` does."""
        call = self.checked_call1
        if call is None:
            return None
        kind: Any = like.type
        if self.io.kind == "numpy":
            switch = X64 if self.x64 else None

            def fast_numpy(op_name: str, f_: Any, backend_: Any, x: Any, t: Any) -> Any:
                if type(x) is not kind or type(t) is not kind or op_name != operator:
                    return None
                if f_ is not f or backend_ is not backend:
                    return None
                try:  # as make_express's (written out there for speed)
                    if switch is None or switch.value:
                        return np.array(call(x, t))
                    return np.array(in_x64(call, x, t))
                except (TypeError, ValueError):
                    return None

            return fast_numpy
        if not hasattr(kind, "_sharding"):
            return None
        known, placed = _placement(like.device)

        def fast(op_name: str, f_: Any, backend_: Any, x: Any, t: Any) -> Any:
            if type(x) is not kind or type(t) is not kind or op_name != operator:
                return None
            if f_ is not f or backend_ is not backend:
                return None
            if x._sharding is not known[0] and not placed(x):
                return None
            if t._sharding is not known[0] and not placed(t):
                return None
            try:
                return call(x, t)
            except (TypeError, ValueError):  # not the prepared kind: the full call reports
                return None

        return fast

    def _aux_program(self, s: Setup) -> Callable[..., Any]:
        """The value variant and ``f``'s auxiliary output at ``x``, in one program: ``f`` is
        traced once more outside the derivative's transformations for it (XLA computes the
        shared part once). Non-array parts of the output are kept from the trace."""
        built, g, lead = self.build(s, value=True), s.g, self.lead

        def program(*args: Any) -> Any:
            with collecting_aux(discard=True):  # offers under jvp/vjp/vmap are not values
                out = built(*args)
            with collecting_aux(traced=True) as box:
                g(args[0], *args[lead:])
            self.aux_template, arrays = split_arrays(box.aux)
            return out, arrays

        return program

    def build(self, s: Setup, *, value: bool) -> Callable[..., Any]:
        """The function to jit: ``fun(*lead, *dynamic_contexts)``.

        It returns the derivative alone if ``value`` is false, else the tuple of results
        (``None`` where the operator has no such result).
        """
        raise NotImplementedError

    def run_x(self, fn: Fn, x: Any, *, value: bool) -> Any:
        """``run`` of plans whose only array argument is ``x``."""
        if self.with_aux is not None and fn.has_aux:
            return self.execute_aux(x, (x,), fn.args)
        return self.run_arrays(value, x, (x,), fn.args)

    def run_seeds(self, fn: Fn, x: Any, seeds: Any, *, value: bool) -> Any:
        """``run`` of plans taking ``x`` and stacked tangents or cotangents."""
        if self.with_aux is not None and fn.has_aux:
            return self.execute_aux(x, (x, seeds), fn.args)
        return self.run_arrays(value, x, (x, seeds), fn.args)

    def run_single(self, fn: Fn, x: Any, t: Any, *, value: bool) -> Any:
        """``run`` of a :attr:`single` plan for its one tangent or cotangent ``t``, given
        and returned without the batch axis."""
        return self.run_arrays(value, x, (x, t), fn.args, True)

    def run_host1(self, x: Any, t: Any) -> Any:
        """The one-tangent program of a :attr:`single` plan prepared on JAX arrays, called
        on numpy arrays of the same kind (shape and dtype), which its dispatch moves in: a
        numpy result. What :meth:`run_single` does for them, without its route through
        the caller conversions (a cross-engine bridge's hot path, :mod:`..compose`)."""
        if self.x64 and not X64.value:
            return in_x64(self.run_host1, x, t)
        try:
            d = self.plain1(x, t)
        except (TypeError, IndexError) as err:
            reraise(self.op, err)
        return np.array(d)  # a writable copy of JAX's read-only buffer

    def execute_aux(self, x: Any, lead: tuple[Any, ...], args: tuple[Any, ...]) -> Any:
        """The value variant, offering ``f``'s auxiliary output (computed by the same
        program) to the call's collection."""
        if self.x64 and not X64.value:
            return in_x64(self.execute_aux, x, lead, args)
        io = self.io if type(x) is self.x_type else io_for(x)
        if not io.identity:
            lead = tuple([io.put(a) for a in lead])
        if args:
            lead = (*lead, *self.layout.dynamic(args, io))
        try:
            try:
                d, arrays = self.with_aux(*lead)
            except ValueError as err:  # called inside a trace: the option-free twin
                d, arrays = nested(self.with_aux, err)(*lead)
        except (TypeError, IndexError) as err:
            reraise(self.op, err)
        offer_aux(fill_arrays(self.aux_template, io.back(tuple(arrays), x)))
        return io.back(d, x)

    def run_arrays(
        self,
        value: bool,
        x: Any,
        lead: tuple[Any, ...],
        args: tuple[Any, ...],
        one: bool = False,
    ) -> Any:
        """One compiled call and a copy for numpy (JAX's host buffers are read-only) when
        ``x`` is numpy or JAX, with no contexts, no value, in the right precision; else
        :meth:`execute`, which converts, enters the precision and passes contexts. ``one``:
        the single-tangent programs (:meth:`run_single`)."""
        if (
            type(x) is self.direct_type
            and not value
            and not args
            and (not self.check_x64 or X64.value)
        ):
            plain = self.plain1 if one else self.plain
            try:
                d = plain(*lead)
            except (TypeError, IndexError) as err:
                reraise(self.op, err)
            except ValueError as err:  # tangents traced by the caller's jit
                d = nested(plain, err)(*lead)
            return (*self.nones, d if self.back1 is None else self.back1(d))
        return self.execute(value, x, lead, args, one)

    def execute(
        self, value: bool, x: Any, lead: tuple[Any, ...], args: tuple[Any, ...], one: bool = False
    ) -> Any:
        """Run the variant for ``value`` on caller arrays; results in the caller's namespace."""
        if self.x64 and not X64.value:  # entered once; the recursive call goes on below
            return in_x64(self.execute, value, x, lead, args, one)
        io = self.io if type(x) is self.x_type else io_for(x)
        if not io.identity:
            lead = tuple([io.put(a) for a in lead])
        if args:
            lead = (*lead, *self.layout.dynamic(args, io))
        if one:
            program = self.with_value1 if value else self.plain1
        else:
            program = self.with_value if value else self.plain
        try:
            try:
                d = program(*lead)
            except ValueError as err:  # called inside a trace: the option-free twin
                d = nested(program, err)(*lead)
        except (TypeError, IndexError) as err:  # a new static context value was traced
            reraise(self.op, err)
        return io.back(d if value else (*self.nones, d), x)

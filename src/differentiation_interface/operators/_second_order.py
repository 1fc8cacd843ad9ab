"""Second order by composition: an outer engine differentiates what an inner engine computes.

Hessian-vector products come in the modes of DifferentiationInterface.jl, chosen from the
engines' traits:

* **forward over reverse** (outer forward): the outer pushforward of the inner gradient. With
  a forward-only inner engine this is forward over forward, since the inner gradient is then
  itself derived from pushforwards.
* **reverse over forward** (outer reverse, inner forward): the outer gradient of the inner
  directional derivative ``x -> <grad f(x), t>``, one tangent at a time.
* **reverse over reverse** (both reverse): the outer pullback of the inner gradient
  (the Hessian is symmetric, so this is also ``H t``).

Hessians are batched Hessian-vector products over the basis; second derivatives are
derivatives of derivatives. Derived functions are passed to the outer engine as ``Fn``
objects whose contexts are the original ones (plus the tangent, for reverse over forward), so
a compiling outer engine traces them as arguments instead of baking them in.
"""

from __future__ import annotations

import importlib
import math
import threading
from typing import Any

from .._array import (
    basis_chunk,
    chunking,
    convert,
    device_for,
    device_of,
    differentiated_by,
    is_complex_dtype,
    namespace_of,
)
from ..adtypes import AutoFiniteDiff
from ..backends import Engine, Fn, engine_for
from ..backends._base import HessianPlan, HVPPlan, SecondDerivativePlan
from ..contexts import Constant
from ..errors import UnsupportedOperationError
from . import _dispatch

__all__ = [
    "HVPForwardOverReverse",
    "HVPReverseOverForward",
    "HVPReverseOverReverse",
    "HessianViaHVP",
    "SecondDerivativeNested",
    "SecondOrderEngine",
    "hvp_fallback",
]


class SecondOrderEngine(Engine):
    """Engine of :class:`~differentiation_interface.SecondOrder`: two engines composed.

    First-order operators use the inner engine; second-order operators go through the
    fallbacks with ``outer`` differentiating ``inner``.
    """

    def __init__(self, backend: Any) -> None:
        super().__init__(backend)
        self._outer = engine_for(backend.outer)
        self._inner = engine_for(backend.inner)
        self.forward = self._inner.forward  # type: ignore[misc]
        self.reverse = self._inner.reverse  # type: ignore[misc]
        self.traces = self._outer.traces or self._inner.traces
        self.point_local = self._outer.point_local or self._inner.point_local

    @property
    def outer(self) -> Engine:
        return self._outer

    @property
    def inner(self) -> Engine:
        return self._inner

    def max_batch(self, size: int, like: Any = None) -> int:
        return self._outer.max_batch(size, like)

    def prepare_pushforward(self, fn: Fn, x: Any, tx: Any, *, y: Any, same_point: bool) -> Any:
        return _dispatch.build_plan("pushforward", self._inner, fn, x, tx, y, same_point=same_point)

    def prepare_pullback(self, fn: Fn, x: Any, ty: Any, *, y: Any, same_point: bool) -> Any:
        return _dispatch.build_plan("pullback", self._inner, fn, x, ty, y, same_point=same_point)

    def prepare_derivative(self, fn: Fn, x: Any, *, y: Any) -> Any:
        return _dispatch.build_plan("derivative", self._inner, fn, x, None, y)

    def prepare_gradient(self, fn: Fn, x: Any, *, y: Any) -> Any:
        return _dispatch.build_plan("gradient", self._inner, fn, x, None, y)

    def prepare_jacobian(self, fn: Fn, x: Any, *, y: Any) -> Any:
        return _dispatch.build_plan("jacobian", self._inner, fn, x, None, y)

    # Second order: two backends of one engine (AutoJAX forward over AutoJAX reverse, ...)
    # are served by that engine's native second order, which composes its own modes inside
    # one compiled or taped computation. Two different AD engines cannot trace each other:
    # the outer one runs its own second order on f bridged to the inner one
    # (DifferentiateWith's machinery, see _Crossing). Pairs with finite differences go
    # through the generic composition (finite differences run natively on any engine's
    # arrays, and evaluate any engine's function).

    def _same_engine(self) -> Engine | None:
        return self._outer if type(self._outer) is type(self._inner) else None

    def _crossing(self, x: Any) -> str | None:
        """How a pair of two AD engines serves ``x``: ``"bridge"``, or ``"inner"`` for
        complex ``x`` (the bridges carry real arrays; the inner engine's own second order
        follows the library's complex conventions); ``None`` for other pairs."""
        fd = (AutoFiniteDiff,)
        if (
            type(self._outer) is type(self._inner)
            or isinstance(self._outer.backend, fd)
            or isinstance(self._inner.backend, fd)
        ):
            return None
        return "inner" if is_complex_dtype(namespace_of(x), x.dtype) else "bridge"

    def _cross_plan(self, op: str, fn: Fn, x: Any, seeds: Any, y: Any, same_point: bool) -> Any:
        if self._crossing(x) == "inner":
            return _dispatch.build_plan(op, self._inner, fn, x, seeds, y, same_point=same_point)
        return _Crossing(op, self, fn, x, seeds, y, same_point=same_point)

    def prepare_second_derivative(self, fn: Fn, x: Any, *, y: Any) -> Any:
        if self._crossing(x):
            return self._cross_plan("second_derivative", fn, x, None, y, False)
        engine = self._same_engine()
        return None if engine is None else engine.prepare_second_derivative(fn, x, y=y)

    def prepare_hvp(self, fn: Fn, x: Any, tx: Any, *, y: Any, same_point: bool) -> Any:
        if self._crossing(x):
            return self._cross_plan("hvp", fn, x, tx, y, same_point)
        engine = self._same_engine()
        if engine is None:
            return None
        return engine.prepare_hvp(fn, x, tx, y=y, same_point=same_point)

    def prepare_hessian(self, fn: Fn, x: Any, *, y: Any) -> Any:
        if self._crossing(x):
            return self._cross_plan("hessian", fn, x, None, y, False)
        engine = self._same_engine()
        return None if engine is None else engine.prepare_hessian(fn, x, y=y)


#: The bridge of cross-engine pairs, loaded by name: ``compose`` sits above ``operators``.
_BRIDGE = "differentiation_interface.compose._second_order:bridged"


class _Crossing:
    """A second-order plan of ``outer`` on ``f`` bridged to ``inner``.

    ``outer`` traces ``f``; every derivative of ``f`` it asks for (pullback, pushforward,
    and the Hessian-vector product that differentiates a gradient again) is computed by
    ``inner`` on concrete arrays of the caller's namespace. The plan is the outer engine's
    own (native or fallback) second-order plan, run on the bridged function.
    """

    def __init__(
        self,
        op: str,
        engine: SecondOrderEngine,
        fn: Fn,
        x: Any,
        seeds: Any,
        y: Any,
        *,
        same_point: bool = False,
    ) -> None:
        module_name, _, name = _BRIDGE.partition(":")
        make = getattr(importlib.import_module(module_name), name)
        kinds = tuple(type(c) for c in fn.contexts)
        self.f = make(fn.f, engine.inner.backend, namespace_of(x), device_of(x), kinds)
        self.operator = op
        outer = engine.outer
        self.plan = _dispatch.build_plan(
            op, outer, self._bridged(fn), x, seeds, y, same_point=same_point
        )

    def _bridged(self, fn: Fn) -> Fn:
        return Fn(self.f, fn.contexts, fn.y, batchable=False)

    def run(self, fn: Fn, x: Any, *args: Any, value: bool) -> Any:
        return self.plan.run(self._bridged(fn), x, *args, value=value)


class _Inner:
    """The inner plan of a composition, prepared again for each kind of array it receives.

    Outer engines that compute in their own namespace (PyTorch, JAX) call the derived
    function with their own arrays — tensors, tracers — not with the caller's arrays the
    inner plan was prepared for. Plans may hold seeds and buffers of the preparation's
    namespace, so the inner operator is prepared once per kind (type, shape, dtype) of ``x``
    it sees, on first use, without value-dependent probing (traced arrays have no values).
    """

    def __init__(self, op: str, engine: Engine, fn: Fn, x: Any, seeds: Any, y: Any) -> None:
        self.op, self.engine, self.seeds = op, engine, seeds
        self.plans = {_kind(x): _dispatch.build_plan(op, engine, fn, x, seeds, y)}
        self.lock = threading.Lock()

    def plan(self, fn: Fn, x: Any) -> Any:
        key = _kind(x)
        plan = self.plans.get(key)
        if plan is None:
            xp = namespace_of(x)
            seeds = None if self.seeds is None else convert(self.seeds, xp, device_of(x))
            # Arrays traced by an outer engine have no values to probe batchability with.
            traced = Fn(fn.f, fn.contexts, fn.y, batchable=False)
            plan = _dispatch.build_plan(self.op, self.engine, traced, x, seeds, fn(x))
            if differentiated_by(x) == "jax":
                return plan  # built from this trace's staged values: valid in this trace only
            with self.lock:
                plan = self.plans.setdefault(key, plan)
        return plan

    def run(self, fn: Fn, x: Any, *args: Any, value: bool) -> Any:
        return self.plan(fn, x).run(fn, x, *args, value=value)


def _kind(x: Any) -> tuple[Any, ...]:
    return (type(x), tuple(x.shape), str(x.dtype))


def _derived(fn: Fn, compute: Any, extra: tuple[Any, ...] = ()) -> Fn:
    """``fn``'s derivative as a function of ``x`` and the same contexts (plus ``extra``).

    ``compute(inner_fn, x, *extra_values)`` evaluates the inner derivative; the outer engine
    calls the result with its own versions of ``x`` and of the context values.
    """
    n_extra = len(extra)

    def derivative(x: Any, *args: Any) -> Any:
        return compute(fn.rebind(args[n_extra:]), x, *args[:n_extra])

    return Fn(derivative, (*extra, *fn.contexts), batchable=False)


class HVPForwardOverReverse(HVPPlan):
    """``H t`` as the outer pushforward of the inner gradient (batched over tangents)."""

    mode = "forward over reverse"

    def __init__(self, outer: Engine, inner: Engine, fn: Fn, x: Any, tx: Any, y: Any) -> None:
        self.gradient = _Inner("gradient", inner, fn, x, None, y)
        grad_fn = self._grad_fn(fn)
        g0 = grad_fn(x)
        self.outer = _dispatch.build_plan("pushforward", outer, grad_fn, x, tx, g0)

    def _grad_fn(self, fn: Fn) -> Fn:
        return _derived(fn, lambda inner_fn, x: self.gradient.run(inner_fn, x, value=False)[1])

    def run(self, fn: Fn, x: Any, tx: Any, *, value: bool) -> tuple[Any, Any]:
        return self.outer.run(self._grad_fn(fn), x, tx, value=value)  # type: ignore[no-any-return]


class HVPReverseOverReverse(HVPForwardOverReverse):
    """``H t`` as the outer pullback of the inner gradient (``H`` is symmetric)."""

    mode = "reverse over reverse"

    def __init__(self, outer: Engine, inner: Engine, fn: Fn, x: Any, tx: Any, y: Any) -> None:
        self.gradient = _Inner("gradient", inner, fn, x, None, y)
        grad_fn = self._grad_fn(fn)
        g0 = grad_fn(x)
        self.outer = _dispatch.build_plan("pullback", outer, grad_fn, x, tx, g0)


class HVPReverseOverForward(HVPPlan):
    """``H t`` as the outer gradient of ``x -> <grad f(x), t>``, one tangent at a time."""

    mode = "reverse over forward"

    def __init__(self, outer: Engine, inner: Engine, fn: Fn, x: Any, tx: Any, y: Any) -> None:
        self.pushforward = _Inner("pushforward", inner, fn, x, tx[:1, ...], y)
        directional = self._directional_fn(fn, tx[0, ...])
        self.outer = _dispatch.build_plan("gradient", outer, directional, x, None, directional(x))
        self.gradient = _dispatch.build_plan("gradient", outer, fn, x, None, y)

    def _directional_fn(self, fn: Fn, t: Any) -> Fn:
        def directional(inner_fn: Fn, x: Any, t: Any) -> Any:
            xp = namespace_of(t)
            return self.pushforward.run(inner_fn, x, xp.expand_dims(t, axis=0), value=False)[1][0]

        return _derived(fn, directional, (Constant(t),))

    def run(self, fn: Fn, x: Any, tx: Any, *, value: bool) -> tuple[Any, Any]:
        xp = namespace_of(x)
        columns = [
            self.outer.run(self._directional_fn(fn, tx[b, ...]), x, value=False)[1]
            for b in range(tx.shape[0])
        ]
        grad = self.gradient.run(fn, x, value=False)[1] if value else None
        return grad, xp.stack(columns, axis=0)


def hvp_fallback(outer: Engine, inner: Engine, fn: Fn, x: Any, tx: Any, y: Any) -> HVPPlan:
    """The Hessian-vector-product plan for this pair of engines (mode from their traits)."""
    if outer.forward:
        return HVPForwardOverReverse(outer, inner, fn, x, tx, y)
    if inner.forward:
        return HVPReverseOverForward(outer, inner, fn, x, tx, y)
    return HVPReverseOverReverse(outer, inner, fn, x, tx, y)


class HessianViaHVP(HessianPlan):
    """Hessian from batched Hessian-vector products over the basis of ``x``."""

    def __init__(self, outer: Engine, inner: Engine, fn: Fn, x: Any, y: Any) -> None:
        xp = namespace_of(x)
        if is_complex_dtype(xp, x.dtype):
            msg = (
                "`hessian` of a function of a complex x is not defined as a complex matrix; "
                "use `hvp` (real-linear in the tangent), or differentiate with respect to "
                "the real and imaginary parts stacked in a real array."
            )
            raise UnsupportedOperationError(msg)
        self.n = math.prod(x.shape)
        self.batch, self.nchunks = chunking(self.n, outer.max_batch(self.n, x))
        self.hvp = None
        if self.n:
            device = device_for(x, (self.batch, self.n))
            seeds = xp.reshape(
                xp.zeros((self.batch, self.n), dtype=x.dtype, device=device),
                (self.batch, *x.shape),
            )
            self.hvp = _dispatch.build_plan("hvp", _Pair(outer, inner), fn, x, seeds, y)
        self.gradient = _dispatch.build_plan("gradient", inner, fn, x, None, y)

    def run(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, Any, Any]:
        xp, device = namespace_of(x), device_for(x, (self.batch, self.n))
        parts = []
        for chunk in range(self.nchunks):
            seeds = basis_chunk(xp, tuple(x.shape), chunk * self.batch, self.batch, x.dtype, device)
            _, tg = self.hvp.run(fn, x, seeds, value=False)  # type: ignore[union-attr]
            parts.append(xp.reshape(tg, (self.batch, self.n)))
        if parts:
            hess = (
                xp.concat(parts, axis=0)[: self.n, ...]
                if len(parts) > 1
                else parts[0][: self.n, ...]
            )
        else:
            hess = xp.zeros((0, 0), dtype=x.dtype, device=device)
        y, grad = self.gradient.run(fn, x, value=True) if value else (None, None)
        return y, grad, xp.astype(hess, x.dtype, copy=True)


class SecondDerivativeNested(SecondDerivativePlan):
    """Second derivative as the outer derivative of the inner derivative."""

    def __init__(self, outer: Engine, inner: Engine, fn: Fn, x: Any, y: Any) -> None:
        self.derivative = _Inner("derivative", inner, fn, x, None, y)
        der_fn = self._der_fn(fn)
        self.outer = _dispatch.build_plan("derivative", outer, der_fn, x, None, der_fn(x))

    def _der_fn(self, fn: Fn) -> Fn:
        return _derived(fn, lambda inner_fn, x: self.derivative.run(inner_fn, x, value=False)[1])

    def run(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, Any, Any]:
        der, der2 = self.outer.run(self._der_fn(fn), x, value=value)
        return (fn(x) if value else None), der, der2


class _Pair(Engine):
    """A plain view of (outer, inner) so the Hessian's hvp plan uses exactly that pair."""

    def __init__(self, outer: Engine, inner: Engine) -> None:
        super().__init__(outer.backend)
        self._outer, self._inner = outer, inner
        self.forward = outer.forward  # type: ignore[misc]
        self.reverse = outer.reverse  # type: ignore[misc]
        self.traces = outer.traces or inner.traces

    @property
    def outer(self) -> Engine:
        return self._outer

    @property
    def inner(self) -> Engine:
        return self._inner

    def prepare_hvp(self, fn: Fn, x: Any, tx: Any, *, y: Any, same_point: bool) -> Any:
        if self._outer is self._inner:
            return self._outer.prepare_hvp(fn, x, tx, y=y, same_point=same_point)
        return None

"""Sharded JAX arrays with engines that compute in the caller's namespace.

The JAX engine compiles its programs for the shardings of ``x`` and ``f(x)``
(``Engine.shards``). Every other engine given a JAX ``x`` spread over several devices —
finite differences, ``SecondOrder`` compositions, ``AutoSparse``'s assembly — computes with
``jax.numpy`` operations on it, and its plan is wrapped here at preparation:

* **explicit mesh axes** (``jax.make_mesh``'s default) put shardings into the types, and
  refuse the broadcasts a difference quotient is made of (a step per direction against a
  value sharded along ``f(x)``'s axis). The plan is prepared and run on the *same buffers*
  relabeled onto the twin of ``x``'s mesh with automatic axes (no copy: same devices, same
  layout), where XLA chooses the layouts of intermediate arrays, and results are relabeled
  back;
* **results** like ``x`` get ``x``'s sharding, results like ``f(x)`` get ``f(x)``'s (stacked
  per tangent: cut the same way along the trailing axes), Jacobians and Hessians the layout
  the computation gave them, on ``x``'s mesh. Resharding moves pieces between the devices
  (an all-to-all at worst), never everything onto one.

Single-device calls never reach this module (``sharding_of`` is ``None``), and a wrapped plan
is not an express plan: sharded calls take the quick tier.
"""

from __future__ import annotations

import sys
from typing import Any

from .._array import layout_for, place_like, sharding_of
from ..backends import Engine, Fn
from ..errors import UnsupportedOperationError
from ._dispatch import build_plan
from ._table import OperatorSpec

__all__ = ["ShardedPlan", "build"]

_MIXED_MESHES = "Mesh for all inputs should be equal"


class _Relabel:
    """Arrays of a mesh with explicit axes to its twin with automatic axes, and back."""

    def __init__(self, mesh: Any, auto: Any) -> None:
        self.mesh, self.auto = mesh, auto

    @staticmethod
    def of(sharding: Any) -> _Relabel | None:
        jax = sys.modules["jax"]
        mesh = getattr(sharding, "mesh", None)
        explicit = getattr(jax.sharding.AxisType, "Explicit", None)
        if not isinstance(mesh, jax.sharding.Mesh) or explicit not in mesh.axis_types:
            return None
        auto = jax.sharding.Mesh(
            mesh.devices,
            mesh.axis_names,
            axis_types=(jax.sharding.AxisType.Auto,) * len(mesh.axis_names),
        )
        return _Relabel(mesh, auto)

    def _move(self, a: Any, source: Any, target: Any) -> Any:
        jax = sys.modules["jax"]
        if not isinstance(a, jax.Array) or isinstance(a, jax.core.Tracer):
            return a
        sharding = a.sharding
        if getattr(sharding, "mesh", None) != source:
            return a
        return jax.device_put(a, jax.sharding.NamedSharding(target, sharding.spec))

    def to_auto(self, a: Any) -> Any:
        return self._move(a, self.mesh, self.auto)

    def back(self, a: Any) -> Any:
        jax = sys.modules["jax"]
        return jax.tree.map(lambda leaf: self._move(leaf, self.auto, self.mesh), a)

    def fn(self, fn: Fn) -> Fn:
        if not fn.contexts:
            return fn
        contexts = tuple(type(c)(self.to_auto(c.value)) for c in fn.contexts)
        return Fn(fn.f, contexts, fn.y, batchable=fn.batchable)


def _mixed(op: str, engine: Engine, err: Exception) -> UnsupportedOperationError:
    msg = (
        f"`{op}` with {engine.backend!r} on an x sharded over a mesh with explicit axes "
        "computes on the same buffers relabeled onto that mesh with automatic axes, and f "
        "combined x with an array of the explicit mesh that it does not receive as an "
        "argument (a closure). Pass such arrays as di.Constant(...) contexts (they are "
        "relabeled too), build the mesh with axis_types=(jax.sharding.AxisType.Auto, ...), "
        "or use AutoJAX(), which compiles for explicit shardings."
    )
    return UnsupportedOperationError(msg)


def build(
    op: OperatorSpec,
    engine: Engine,
    fn: Fn,
    x: Any,
    seeds: Any,
    y: Any,
    *,
    same_point: bool,
) -> ShardedPlan:
    """The engine's plan for a sharded JAX ``x``, wrapped (see the module docstring)."""
    relabel = _Relabel.of(x.sharding)
    x_in, seeds_in, fn_in, y_in = x, seeds, fn, y
    if relabel is not None:
        x_in, y_in, fn_in = relabel.to_auto(x), relabel.to_auto(y), relabel.fn(fn)
        seeds_in = None if seeds is None else relabel.to_auto(seeds)
    try:
        plan = build_plan(op.name, engine, fn_in, x_in, seeds_in, y_in, same_point=same_point)
    except ValueError as err:
        if relabel is not None and _MIXED_MESHES in str(err):
            raise _mixed(op.name, engine, err) from err
        raise
    return ShardedPlan(op, engine, plan, x, y, relabel)


class ShardedPlan:
    """An engine's plan run on a sharded JAX ``x``, its results laid out as the operator
    table says (see the module docstring)."""

    def __init__(
        self, op: OperatorSpec, engine: Engine, plan: Any, x: Any, y: Any, relabel: Any
    ) -> None:
        self.op, self.engine, self.plan, self.relabel = op, engine, plan, relabel
        self.x_place = (x.sharding, tuple(x.shape))
        y_sharding = sharding_of(y)
        self.y_place = None if y_sharding is None else (y_sharding, tuple(y.shape))
        kinds = ["y"] if op.primal else []
        self.kinds = tuple(kinds + [r.shape for r in op.results])

    def __getattr__(self, name: str) -> Any:  # the plan's introspection (sparsity, colors)
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(object.__getattribute__(self, "plan"), name)

    def run(self, fn: Fn, x: Any, *args: Any, value: bool) -> Any:
        relabel = self.relabel
        if relabel is not None:
            x, fn = relabel.to_auto(x), relabel.fn(fn)
            args = tuple(relabel.to_auto(a) for a in args)
        try:
            out = self.plan.run(fn, x, *args, value=value)
        except ValueError as err:
            if relabel is not None and _MIXED_MESHES in str(err):
                raise _mixed(self.op.name, self.engine, err) from err
            raise
        return tuple(self._place(kind, a) for kind, a in zip(self.kinds, out, strict=False))

    def _place(self, kind: str, a: Any) -> Any:
        if a is None:
            return None
        place = self.x_place if kind == "x" else self.y_place if kind == "y" else None
        if place is None or not hasattr(a, "sharding"):
            return a if self.relabel is None else self.relabel.back(a)
        sharding, shape = place
        return place_like(a, layout_for(sharding, shape, tuple(a.shape)))

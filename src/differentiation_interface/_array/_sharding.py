"""Arrays that live on several devices: JAX arrays sharded over a mesh, or over processes.

A sharded JAX array's placement (``array_api_compat.device``, what a preparation's
signature records) is its *sharding*: the devices and how the array is cut over them. Two
arrays computed from one another are on the same devices but often cut differently (the
scalar ``sum(x)`` is replicated where ``x`` is split), so checks of *where* an array lives
compare device sets (:func:`same_devices`), while preparations compare shardings, since a
program is compiled for one layout.

New arrays made for a sharded ``x`` (seeds, steps, zeros) must not be built on one device:
:func:`device_for` gives the sharding to create them with, cut like ``x`` along ``x``'s own
dimensions and replicated along the others. :func:`place_like` reshards a result onto a
given layout (an all-to-all at worst, never a gather onto one device).

Every function starts with a type or identity test, so single-device arrays cost nothing
more: they are never sharded.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from ._namespace import device_of

__all__ = [
    "describe_placement",
    "device_for",
    "is_sharded",
    "layout_for",
    "place_like",
    "replicated_for",
    "same_devices",
    "sharding_of",
]


def sharding_of(a: Any) -> Any:
    """The sharding of a concrete JAX array spread over more than one device, else ``None``
    (tracers too: where a caller's trace places them is not known until it runs)."""
    jax = sys.modules.get("jax")
    if jax is None or not isinstance(a, jax.Array) or isinstance(a, jax.core.Tracer):
        return None
    sharding = a.sharding
    return sharding if len(sharding.device_set) > 1 else None


def is_sharded(a: Any) -> bool:
    """Whether ``a`` is a JAX array spread over more than one device."""
    return sharding_of(a) is not None


def _devices(place: Any) -> Any:
    """The device set of a JAX sharding, or ``None`` for anything else."""
    jax = sys.modules.get("jax")
    if jax is None or not isinstance(place, jax.sharding.Sharding):
        return None
    return place.device_set


def same_devices(a: Any, b: Any) -> bool:
    """Whether two placements (``array_api_compat.device`` of two arrays) are the same
    devices: equal, or two JAX shardings over one device set (cut differently)."""
    if a is b or a == b:
        return True
    da = _devices(a)
    return da is not None and da == _devices(b)


def describe_placement(place: Any) -> str:
    """A placement for messages: a sharding's mesh and partition spec, or the device."""
    mesh, spec = getattr(place, "mesh", None), getattr(place, "spec", None)
    if mesh is not None and spec is not None:
        axes = ", ".join(f"{name!r}: {size}" for name, size in mesh.shape.items())
        return f"sharding {spec} over a mesh {{{axes}}}"
    devices = _devices(place)
    if devices is not None and len(devices) > 1:
        return f"{type(place).__name__} over {len(devices)} devices"
    return f"device {place}"


def _mesh_of(sharding: Any) -> Any:
    jax = sys.modules["jax"]
    mesh = getattr(sharding, "mesh", None)
    if isinstance(mesh, jax.sharding.Mesh):
        return mesh
    devices = sorted(sharding.device_set, key=lambda d: (d.process_index, d.id))
    return jax.sharding.Mesh(np.array(devices), ("_di",))


def device_for(x: Any, shape: tuple[int, ...]) -> Any:
    """What to pass as ``device=`` to create an array of ``shape`` for ``x``.

    ``array_api_compat.device(x)`` for an array on one device; for a sharded JAX ``x``,
    ``x``'s sharding if ``shape`` is ``x``'s, else a sharding over ``x``'s mesh cut like
    ``x`` along trailing dimensions equal to ``x``'s shape and replicated along the others
    (see :func:`layout_for`): never one device."""
    if type(x) is np.ndarray:
        return "cpu"
    sharding = sharding_of(x)
    if sharding is None:
        return device_of(x)
    return layout_for(sharding, tuple(x.shape), tuple(shape))


def replicated_for(x: Any) -> Any:
    """What to pass as ``device=`` for arrays every device of ``x`` needs whole (indices,
    small constants): ``x``'s device, or for a sharded JAX ``x`` the replicated sharding
    over its mesh."""
    if type(x) is np.ndarray:
        return "cpu"
    sharding = sharding_of(x)
    if sharding is None:
        return device_of(x)
    return layout_for(sharding, None, ())


def layout_for(sharding: Any, x_shape: tuple[int, ...] | None, shape: tuple[int, ...]) -> Any:
    """:func:`device_for` from ``x``'s sharding and shape (``None``: not known, every
    dimension replicated)."""
    if x_shape is not None and shape == x_shape:
        return sharding
    jax = sys.modules["jax"]
    P = jax.sharding.PartitionSpec
    mesh = _mesh_of(sharding)
    spec = getattr(sharding, "spec", None)
    lead = -1 if x_shape is None else len(shape) - len(x_shape)
    if spec is not None and x_shape is not None and lead >= 0 and shape[lead:] == x_shape:
        padded = (*tuple(spec), *([None] * (len(x_shape) - len(spec))))
        return jax.sharding.NamedSharding(mesh, P(*([None] * lead), *padded))
    return jax.sharding.NamedSharding(mesh, P())


def place_like(a: Any, sharding: Any) -> Any:
    """``a`` resharded onto ``sharding`` (``a`` itself when it is laid out so already)."""
    here = getattr(a, "sharding", None)
    if here is None or here is sharding or here == sharding:
        return a
    jax = sys.modules["jax"]
    if isinstance(a, jax.core.Tracer):
        return jax.lax.with_sharding_constraint(a, sharding)
    return jax.device_put(a, sharding)

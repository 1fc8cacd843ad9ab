"""Native tree gradients: the engine differentiates with respect to the leaves themselves.

Engines that take pytrees natively (JAX's ``grad`` of the tree, torch's tape over many
tensors, autograd's containers) get the gradient of a structured ``x`` without the raveled
problem's copies. Their prepared calls are checked by a :class:`LeafGuard`: the leaves'
types, shapes, dtypes and placements compared as lists (the attribute reads run in C, about
0.1 µs per leaf, where a Python loop over :func:`~differentiation_interface._array.placement`
costs five times that). A guard that does not match sends the call to the full check, which
says what differs, leaf by leaf.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any

import numpy as np

from .._array import is_array, placement
from .._tree import LEAF, TreeDef, flatten, unflatten
from ..contexts import Cache, Constant, Context

__all__ = ["LeafGuard", "prepare_native_gradient"]

_shape = attrgetter("shape")
_dtype = attrgetter("dtype")


def _flat_dict_keys(treedef: TreeDef) -> tuple[Any, ...] | None:
    """The sorted keys of a plain ``dict`` of arrays (the parameters of most models)."""
    if treedef is LEAF or treedef[0] != "dict" or treedef[1] is not dict:
        return None
    return treedef[2] if all(child is LEAF for child in treedef[3]) else None


def _where(leaf: Any) -> Any:
    """How to read a leaf's placement, cheaply: ``None`` for numpy (the CPU), the sharding
    of JAX arrays, the device attribute of torch, CuPy and array-api-strict arrays."""
    if type(leaf) is np.ndarray:
        return None
    if getattr(leaf, "sharding", None) is not None:
        return attrgetter("sharding")
    device = getattr(leaf, "device", None)
    if device is not None and not callable(device):
        return attrgetter("device")
    return placement


class LeafGuard:
    """The tree a native plan was prepared for, checked in a few list comparisons.

    Parameters
    ----------
    treedef : TreeDef
        The structure of ``x``.
    leaves : list of arrays
        Its leaves at preparation.
    contexts : tuple of Context
        The contexts at preparation (plain-array ``Constant`` values get the same checks).
    """

    __slots__ = (
        "context_dtypes",
        "context_kinds",
        "context_places",
        "context_shapes",
        "dtypes",
        "keys",
        "places",
        "shapes",
        "treedef",
        "types",
        "where",
    )

    def __init__(self, treedef: TreeDef, leaves: list[Any], contexts: tuple[Any, ...]) -> None:
        self.treedef = treedef
        self.keys = _flat_dict_keys(treedef)
        self.types, self.shapes, self.dtypes, self.where, self.places = _specs(leaves)
        self.context_kinds: list[Any] | None = None
        if all(type(c) is Constant and is_array(c.value) for c in contexts):
            values = [c.value for c in contexts]
            self.context_kinds, self.context_shapes, self.context_dtypes, _, _ = _specs(values)
            self.context_places = [placement(v) for v in values]

    def leaves(self, x: Any) -> tuple[list[Any], TreeDef]:
        """``flatten(x)``, without the walk for a plain dict with the prepared keys."""
        keys = self.keys
        if keys is not None and type(x) is dict and len(x) == len(keys):
            try:
                return [x[k] for k in keys], self.treedef
            except KeyError:
                pass  # other keys: the full flatten and the full check say which
        return flatten(x)

    def rebuild(self, leaves: list[Any]) -> Any:
        """The tree of this structure with these leaves."""
        keys = self.keys
        if keys is not None:
            return dict(zip(keys, leaves, strict=True))
        return unflatten(self.treedef, leaves)

    def arrays(self, leaves: list[Any]) -> bool:
        """Whether the leaves are arrays of the prepared types (what a non-strict call
        checks before handing them to the engine)."""
        return list(map(type, leaves)) == self.types

    def matches(self, treedef: TreeDef, leaves: list[Any], exact: Any = None) -> bool:
        """Whether structure, types, shapes, dtypes and placements are the prepared ones;
        ``exact`` is the engine's own faster check, if it has one (its ``False`` is not
        final: it may look at more than these, such as strides)."""
        if treedef is not self.treedef and treedef != self.treedef:
            return False
        if exact is not None and exact(leaves):
            return True
        if list(map(type, leaves)) != self.types:  # first: anything else may lack a shape
            return False
        if list(map(_shape, leaves)) != self.shapes or list(map(_dtype, leaves)) != self.dtypes:
            return False
        where = self.where
        return where is None or list(map(where, leaves)) == self.places

    def contexts_match(self, contexts: tuple[Any, ...]) -> bool | None:
        """Whether plain-array contexts are like the prepared ones; ``None`` when the
        contexts are of another kind (the full context signature decides)."""
        kinds = self.context_kinds
        if kinds is None or len(contexts) != len(kinds):
            return None
        values = []
        for c in contexts:
            if type(c) is not Constant:
                return None
            values.append(c.value)
        if list(map(type, values)) != kinds:
            return False
        return (
            list(map(_shape, values)) == self.context_shapes
            and list(map(_dtype, values)) == self.context_dtypes
            and [placement(v) for v in values] == self.context_places
        )


def _specs(arrays: list[Any]) -> tuple[list[Any], list[Any], list[Any], Any, list[Any] | None]:
    types = [type(a) for a in arrays]
    shapes = [tuple(a.shape) for a in arrays]
    dtypes = [a.dtype for a in arrays]
    where = _where(arrays[0]) if arrays else None
    places = None if where is None else [where(a) for a in arrays]
    return types, shapes, dtypes, where, places


def prepare_native_gradient(
    f: Any,
    backend: Any,
    leaves: list[Any],
    guard: LeafGuard,
    contexts: tuple[Context, ...],
    output: Any,
) -> Any:
    """The engine's gradient on the leaves of ``x`` themselves, where it offers one (JAX,
    torch's tape, autograd's containers), or ``None``: no raveling copy per call."""
    from ..backends import engine_for

    if getattr(f, "has_aux", False) or any(isinstance(c, Cache) for c in contexts):
        return None
    return engine_for(backend).prepare_leaves_gradient(
        f, leaves, guard.rebuild, tuple(c.value for c in contexts), output
    )

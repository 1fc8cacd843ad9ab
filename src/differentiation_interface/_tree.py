"""Structured arguments (pytrees): flattening, paths, and :func:`ravel`.

A pytree is an array (a leaf) or a container of pytrees: ``tuple``, ``list``, ``dict``,
namedtuples, ``None`` (an empty subtree) and, once JAX is loaded, any node
``jax.tree_util`` knows (flax structs, equinox modules, ...). The **leaf order** is one rule
for every engine, JAX's: depth first, dict entries in sorted key order, sequences in order.

A :data:`TreeDef` is the hashable structure of a tree without its leaves, so it can be part
of a preparation's signature; :func:`paths` names each leaf for messages (``x['w']``,
``x[1]``). A plain array is the one-leaf tree :data:`LEAF`, and every function here returns
at once for it, so that the machinery costs nothing on plain arrays.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._array import device_of, dtype_in, is_array, namespace_name, namespace_of
from .errors import ArgumentTypeError

__all__ = [
    "LEAF",
    "TreeDef",
    "flatten",
    "is_tree",
    "leaf_count",
    "paths",
    "ravel",
    "unflatten",
]

#: The structure of a tree: ``LEAF`` (an array), or ``(kind, node, keys, children)`` with
#: ``kind`` one of "none", "tuple", "list", "dict", "named", "jax" (hashable).
TreeDef = Any
LEAF: TreeDef = "*"
_NONE: TreeDef = ("none", None, (), ())


def is_tree(obj: Any) -> bool:
    """Whether ``obj`` is a structured argument rather than one array (containers only;
    anything else is left to the array checks, which say what is wrong with it)."""
    if isinstance(obj, (tuple, list, dict)) or obj is None:
        return True
    return _jax_node(obj) is not None


def _jax_node(obj: Any) -> Any:
    """The one-level JAX structure of a custom pytree node, if JAX is loaded and knows it."""
    if is_array(obj) or isinstance(obj, (int, float, complex, str, bytes, np.generic)):
        return None
    tree_util = sys.modules.get("jax.tree_util")
    if tree_util is None:
        return None
    structure = tree_util.tree_structure(obj, is_leaf=lambda node: node is not obj)
    if structure.num_leaves == 1 and structure.num_nodes == 1:
        return None  # JAX sees a leaf: not a container it knows
    return structure


def flatten(tree: Any, what: str = "x") -> tuple[list[Any], TreeDef]:
    """``(leaves, treedef)`` in the library's leaf order.

    Raises :class:`~differentiation_interface.ArgumentTypeError` naming the path (rooted at
    ``what``) of a leaf that is not an array, of a dict whose keys cannot be sorted, or of a
    leaf from another namespace than the first one.
    """
    if is_array(tree) and not isinstance(tree, np.generic):
        return [tree], LEAF
    leaves: list[Any] = []
    try:
        treedef = _flatten(tree, leaves)
    except _BadNode as bad:
        raise ArgumentTypeError(bad.message(what)) from None
    if len(leaves) > 1:
        first = type(leaves[0])
        xp = namespace_of(leaves[0])
        for k, leaf in enumerate(leaves):
            if type(leaf) is not first and namespace_of(leaf) is not xp:  # types decide first
                path = paths(treedef, what)[k]
                msg = (
                    f"{path} is a {namespace_name(namespace_of(leaf))} array, but the first "
                    f"leaf of {what} is a {namespace_name(xp)} array: the leaves of one tree "
                    "must share one namespace. Convert them first."
                )
                raise ArgumentTypeError(msg)
    return leaves, treedef


class _BadNode(Exception):  # noqa: N818 - internal signal, turned into ArgumentTypeError
    """A node that is neither an array nor a known container; collects its path on the way
    out of the recursion (paths are only built for messages)."""

    def __init__(self, node: Any, reason: str) -> None:
        super().__init__(reason)
        self.node = node
        self.reason = reason
        self.keys: list[str] = []

    def message(self, root: str) -> str:
        path = root + "".join(reversed(self.keys))
        return self.reason.format(path=path, root=root)


def _flatten(node: Any, leaves: list[Any]) -> TreeDef:
    if isinstance(node, np.generic):  # numpy arithmetic makes 0-d arrays scalars
        leaves.append(np.asarray(node))
        return LEAF
    if is_array(node):
        leaves.append(node)
        return LEAF
    if node is None:
        return _NONE
    if isinstance(node, tuple) and hasattr(node, "_fields"):  # a namedtuple
        fields = tuple(node._fields)
        return ("named", type(node), fields, _children(node, fields, leaves, attribute=True))
    if isinstance(node, (tuple, list)):
        children = _children(node, range(len(node)), leaves)
        return ("tuple" if isinstance(node, tuple) else "list", type(node), (), children)
    if isinstance(node, dict):
        try:
            keys = tuple(sorted(node))
        except TypeError:
            kinds = ", ".join(sorted({type(k).__name__ for k in node}))
            reason = (
                "{path} is a dict whose keys cannot be sorted (" + kinds + "): the leaf "
                "order sorts dict keys (JAX's rule). Use keys of one sortable type."
            )
            raise _BadNode(node, reason) from None
        return ("dict", type(node), keys, _children([node[k] for k in keys], keys, leaves))
    structure = _jax_node(node)
    if structure is not None:
        inner = structure.flatten_up_to(node)
        return ("jax", structure, (), _children(inner, range(len(inner)), leaves))
    reason = (
        "{path} is a " + type(node).__name__ + ", not an array: the leaves of {root} must "
        "be arrays of one namespace (0-d arrays for numbers, e.g. np.asarray(1.0)), in "
        "tuples, lists, dicts or namedtuples (None is an empty subtree)."
    )
    raise _BadNode(node, reason)


def _children(
    values: Any, keys: Any, leaves: list[Any], *, attribute: bool = False
) -> tuple[TreeDef, ...]:
    out = []
    for key, value in zip(keys, values, strict=True):
        try:
            out.append(_flatten(value, leaves))
        except _BadNode as bad:
            bad.keys.append(f".{key}" if attribute else f"[{key!r}]")
            raise
    return tuple(out)


def unflatten(treedef: TreeDef, leaves: Sequence[Any]) -> Any:
    """The tree of this structure with these leaves (in the library's order)."""
    if treedef is LEAF:
        return leaves[0]
    it = iter(leaves)
    tree = _build(treedef, it)
    return tree


def _build(treedef: TreeDef, it: Any) -> Any:
    if treedef is LEAF:
        return next(it)
    kind, node, keys, children = treedef
    if kind == "none":
        return None
    built = [_build(c, it) for c in children]
    if kind == "tuple":
        return tuple(built) if node is tuple else node(built)
    if kind == "list":
        return built if node is list else node(built)
    if kind == "named":
        return node(*built)
    if kind == "dict":
        out = dict(zip(keys, built, strict=True))
        return out if node is dict else node(out)
    return node.unflatten(built)  # a JAX node


def paths(treedef: TreeDef, root: str = "x") -> list[str]:
    """The path of every leaf, in order (``x['w']``, ``x[1]``, ``x.field``)."""
    out: list[str] = []
    _paths(treedef, root, out)
    return out


def _paths(treedef: TreeDef, path: str, out: list[str]) -> None:
    if treedef is LEAF:
        out.append(path)
        return
    kind, _, keys, children = treedef
    for i, child in enumerate(children):
        if kind == "dict":
            _paths(child, f"{path}[{keys[i]!r}]", out)
        elif kind == "named":
            _paths(child, f"{path}.{keys[i]}", out)
        else:
            _paths(child, f"{path}[{i}]", out)


def leaf_count(treedef: TreeDef) -> int:
    """How many leaves a tree of this structure has."""
    if treedef is LEAF:
        return 1
    return sum(leaf_count(c) for c in treedef[3])


def ravel(tree: Any) -> tuple[Any, Callable[[Any], Any]]:
    """A pytree as one 1-D array, and the function rebuilding the tree from such an array.

    Parameters
    ----------
    tree : pytree of arrays
        Arrays of one namespace and device (0-d allowed) in tuples, lists, dicts,
        namedtuples (``None`` is an empty subtree).

    Returns
    -------
    flat : array
        1-D, in the leaves' namespace and device, of the leaves' result dtype; each leaf in
        C order, leaves in the library's order (depth first, dict keys sorted).
    unravel : callable
        ``unravel(flat)`` rebuilds the tree, each leaf with its shape and dtype (it works on
        any array of that size and namespace, traced ones included).

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> params = {"w": np.ones((2, 2)), "b": np.zeros(2, dtype=np.float32)}
    >>> flat, unravel = di.ravel(params)
    >>> flat.shape, flat.dtype                   # b first: dict keys are sorted
    ((6,), dtype('float64'))
    >>> back = unravel(flat)
    >>> back["b"].dtype, back["w"].shape
    (dtype('float32'), (2, 2))
    """
    leaves, treedef = flatten(tree)
    if not leaves:
        msg = "ravel needs a tree with at least one array leaf; this one has none."
        raise ArgumentTypeError(msg)
    xp = namespace_of(leaves[0])
    device = device_of(leaves[0])
    for path, leaf in zip(paths(treedef), leaves, strict=True):
        if device_of(leaf) != device:
            msg = (
                f"{path} is on device {device_of(leaf)}, the first leaf on {device}: ravel "
                "joins the leaves into one array, so they must share one device."
            )
            raise ArgumentTypeError(msg)
    shapes = tuple(tuple(leaf.shape) for leaf in leaves)
    dtypes = tuple(leaf.dtype for leaf in leaves)
    dtype = xp.result_type(*dtypes)
    flat = join(xp, leaves, dtype)
    sizes = tuple(math.prod(s) for s in shapes)

    def unravel(array: Any) -> Any:
        ns = namespace_of(array)
        own = dtypes if ns is xp else tuple(dtype_in(ns, d) for d in dtypes)
        return unflatten(treedef, split(array, sizes, shapes, own))

    return flat, unravel


def join(xp: Any, leaves: Sequence[Any], dtype: Any) -> Any:
    """The leaves raveled (C order) and concatenated into one 1-D array of ``dtype``."""
    parts = [xp.reshape(xp.astype(leaf, dtype, copy=False), (-1,)) for leaf in leaves]
    if len(parts) == 1:
        return xp.asarray(parts[0], copy=True)
    return xp.concat(parts, axis=0)


def split(
    flat: Any, sizes: Sequence[int], shapes: Sequence[tuple[int, ...]], dtypes: Sequence[Any]
) -> list[Any]:
    """The leaves of a raveled tree: consecutive slices of ``flat``, reshaped and cast to
    ``dtypes`` (dtypes of ``flat``'s namespace, see :func:`~._array.dtype_in`)."""
    xp = namespace_of(flat)
    out = []
    start = 0
    for size, shape, dtype in zip(sizes, shapes, dtypes, strict=True):
        part = xp.reshape(flat[start : start + size], shape)
        out.append(part if part.dtype == dtype else xp.astype(part, dtype))
        start += size
    return out

"""The testing companion's view of pytrees: leaves with their paths, mapped and paired.

Scenarios, results and references may be pytrees (nested tuples, lists, dicts, namedtuples
of arrays; ``None`` is an empty subtree). This module is the one place the companion looks
inside them, and it does so through the library's own flattener
(:mod:`differentiation_interface._tree`), so the leaf order and the paths (``result 0['w']``,
``x[1].m``) are the library's.

A *sparse matrix* (scipy, JAX BCOO, torch sparse, cupyx) is always taken as one leaf, so that a
sparse Jacobian is compared with its dense reference rather than taken apart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._array import is_array, namespace_of, precision_scope
from .._tree import LEAF, TreeDef, flatten, paths, unflatten
from ..errors import ArgumentTypeError

__all__ = [
    "StructureMismatchError",
    "array_leaves",
    "dense",
    "is_sparse",
    "map_leaves",
    "paired_leaves",
]


class StructureMismatchError(Exception):
    """A result whose tree structure differs from its reference's; the message names the
    first differing path."""


def _densified(a: Any) -> Any:
    """A sparse matrix as a dense array; anything else as it is."""
    for method in ("toarray", "todense", "to_dense"):
        convert = getattr(a, method, None)
        if convert is not None and not hasattr(a, "__array_namespace__"):
            data = getattr(a, "data", None)
            if is_array(data):
                with precision_scope(namespace_of(data), data):
                    return convert()
            return convert()
    if getattr(a, "layout", None) is not None and str(a.layout) != "torch.strided":
        return a.todense()
    return a


def dense(a: Any) -> Any:
    """Sparse matrices of any ecosystem (scipy, torch, JAX BCOO, cupyx) as dense arrays,
    also as leaves of a tree (anything else is returned as it is).

    A float64 JAX BCOO is densified in JAX's 64-bit mode: outside it, ``todense`` would give
    float32 (what a JAX user does too: ``with jax.enable_x64(True): J.todense()``).
    """
    densified = _densified(a)
    if densified is not a or is_array(a):
        return densified
    found = array_leaves(a, "tree")
    if found is None:
        return a
    leaves, treedef = found
    new = [_densified(leaf) for leaf in leaves]
    if all(n is leaf for n, leaf in zip(new, leaves, strict=True)):
        return a  # nothing sparse: the tree itself
    return unflatten(treedef, new)


def is_sparse(a: Any) -> bool:
    """Whether ``a`` itself is a sparse matrix of some ecosystem."""
    return _densified(a) is not a


def array_leaves(tree: Any, root: str) -> tuple[list[Any], TreeDef] | None:
    """``(leaves, treedef)`` of a tree of arrays (an array is a one-leaf tree), or ``None``
    for anything else: a number, an object, a sparse matrix, a container holding those."""
    if is_sparse(tree):
        return None
    try:
        return flatten(tree, root)
    except ArgumentTypeError:
        return None


def map_leaves(fn: Callable[[Any], Any], tree: Any) -> Any:
    """``tree`` with ``fn`` applied to every leaf (same structure); anything that is not a
    tree of arrays (a number, an object) is returned as it is."""
    found = array_leaves(tree, "tree")
    if found is None:
        return tree
    leaves, treedef = found
    return unflatten(treedef, [fn(leaf) for leaf in leaves])


def paired_leaves(result: Any, reference: Any, root: str) -> list[tuple[str, Any, Any]]:
    """``(path, result leaf, reference leaf)`` for every leaf of the reference.

    A sparse result or reference is one leaf. Raises :class:`StructureMismatchError` naming
    the first path where ``result`` differs in structure from ``reference``, or the node of
    ``result`` that is not an array.
    """
    if is_sparse(result) or is_sparse(reference):
        return [(root, result, reference)]
    want, want_def = flatten(reference, root)
    try:
        got, got_def = flatten(result, root)
    except ArgumentTypeError as err:
        raise StructureMismatchError(str(err).partition(":")[0]) from None
    if got_def != want_def:
        problem = _difference(got_def, want_def, root)
        raise StructureMismatchError(problem or f"{root} differs in structure from the reference")
    return list(zip(paths(want_def, root), got, want, strict=True))


def _difference(got: TreeDef, want: TreeDef, path: str) -> str | None:
    """The first place where two structures differ, in words (``None`` when equal)."""
    if got == want:
        return None
    if got is LEAF or want is LEAF or got[:2] != want[:2]:
        return f"{path} is {_node(got)}, expected {_node(want)}"
    kind, _, keys, children = want
    got_keys, got_children = got[2], got[3]
    if kind == "dict":
        missing = [k for k in keys if k not in got_keys]
        extra = [k for k in got_keys if k not in keys]
        if missing:
            return f"{path}[{missing[0]!r}] is missing (the result has keys {list(got_keys)})"
        if extra:
            return f"{path}[{extra[0]!r}] is not in the reference (keys {list(keys)})"
    if len(got_children) != len(children):
        return f"{path} has {len(got_children)} entries, expected {len(children)}"
    for i, (g, w) in enumerate(zip(got_children, children, strict=True)):
        if kind == "dict":
            child = f"{path}[{keys[i]!r}]"
        elif kind == "named":
            child = f"{path}.{keys[i]}"
        else:
            child = f"{path}[{i}]"
        found = _difference(g, w, child)
        if found is not None:
            return found
    return None


def _node(treedef: TreeDef) -> str:
    """A structure's top node in words: "an array", "a dict", "a tuple of 2", "None"."""
    if treedef is LEAF:
        return "an array"
    kind, node, keys, children = treedef
    if kind == "none":
        return "None"
    if kind == "dict":
        return f"a dict with keys {list(keys)}"
    if kind == "named":
        return f"a {node.__name__}"
    if kind in ("tuple", "list"):
        return f"a {node.__name__} of {len(children)}"
    return f"a {node}"  # a JAX node: its PyTreeDef

"""scipy's flat float64 numpy vectors, and the caller's arrays they stand for.

scipy's solvers work on 1-D float64 numpy vectors; a caller's ``x0`` may be a torch tensor on
a GPU, a float32 JAX array of shape ``(3, 4)`` or a dict of arrays. A :class:`FlatLayout`,
built once from ``x0`` (or from an output of ``f``), converts in both directions with one
conversion per call: flat vector -> ``x0``'s dtype, namespace, device, shape and structure,
and back. numpy float64 vectors pass through without a copy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .._array import (
    device_of,
    dtype_name,
    from_numpy,
    host_bridge,
    is_complex_dtype,
    is_floating_dtype,
    is_numpy_namespace,
    namespace_of,
    to_numpy,
)
from .._tree import LEAF, flatten, split, unflatten
from ..errors import ArgumentTypeError, ArgumentValueError

__all__ = ["FlatLayout", "as_float64"]


_FLOAT64 = np.dtype(np.float64)  # numpy's one native float64 dtype: ``is`` is the check


def as_float64(
    a: Any, to_host: Callable[[Any], np.ndarray[Any, Any]] = to_numpy, writable: bool = True
) -> np.ndarray[Any, Any]:
    """``a`` (an array of any namespace) as a 1-D float64 numpy array, writable unless
    ``writable=False``; copies only when needed (another dtype, another device, a read-only
    buffer). ``to_host`` is the conversion to numpy (a layout's
    :func:`~.._array.host_bridge` one)."""
    out = to_host(a).reshape(-1)
    if out.dtype is not _FLOAT64 or (writable and not out.flags.writeable):
        out = np.array(out, dtype=np.float64)
    return out


class FlatLayout:
    """How a tree of arrays maps to a flat float64 numpy vector (``ravel``'s leaf order).

    Parameters
    ----------
    tree : array or pytree of arrays
        ``x0`` (or an output of ``f``): its namespace, device, dtypes, shapes and structure.
    owner : str
        The adapter, for messages (``"Objective"``).
    what : str
        The argument's name, for messages (``"x0"``).
    """

    def __init__(self, tree: Any, owner: str, what: str) -> None:
        leaves, treedef = flatten(tree, what)
        if not leaves:
            msg = f"{owner} needs {what} with at least one array; it has none."
            raise ArgumentTypeError(msg)
        self.owner = owner
        self.what = what
        self.xp = namespace_of(leaves[0])
        self.device = device_of(leaves[0])
        self.treedef = treedef
        self.shapes = tuple(tuple(int(d) for d in leaf.shape) for leaf in leaves)
        self.sizes = tuple(math.prod(s) for s in self.shapes)
        self.size = sum(self.sizes)
        self.dtypes = tuple(leaf.dtype for leaf in leaves)
        self.joined = self.xp.result_type(*self.dtypes) if len(leaves) > 1 else self.dtypes[0]
        self.np_dtype = np.dtype(dtype_name(self.joined))
        # numpy, one leaf: scipy's vector is handed over as a view (a float64 one uncopied).
        self.numpy_leaf = treedef is LEAF and is_numpy_namespace(self.xp)
        # scipy's own kind of vector: handed over, and results taken back, as they are
        self.float64_vector = (
            self.numpy_leaf and self.np_dtype == np.float64 and len(self.shapes[0]) == 1
        )
        self.vector_shape = (self.size,)
        # one array: the conversions of every call, chosen once
        self._into: Callable[[np.ndarray[Any, Any]], Any] | None = None
        self._out_of: Callable[[Any], np.ndarray[Any, Any]] | None = None
        if treedef is LEAF:
            self._into, self._out_of = host_bridge(leaves[0])

    def check_floating(self) -> None:
        """Raise unless every leaf is real floating (scipy's solvers work on real vectors)."""
        for dtype in self.dtypes:
            if is_complex_dtype(self.xp, dtype):
                msg = (
                    f"{self.owner} works on scipy's real float64 vectors, but {self.what} has "
                    f"complex dtype {dtype_name(dtype)}. Pass the real and imaginary parts as "
                    "two real arrays (a tuple is a pytree) and combine them inside f."
                )
                raise ArgumentTypeError(msg)
            if not is_floating_dtype(self.xp, dtype):
                msg = (
                    f"{self.owner} differentiates with respect to {self.what}, which must be "
                    f"a real floating array (or pytree of them); it has dtype "
                    f"{dtype_name(dtype)}. Convert it first, e.g. x0.astype(float64)."
                )
                raise ArgumentTypeError(msg)

    def flat_size_check(self, v: np.ndarray[Any, Any], name: str) -> None:
        """Raise :class:`ArgumentValueError` unless ``v`` has this layout's size."""
        if v.size != self.size:
            msg = (
                f"{self.owner}: {name} must be a vector of size {self.size} (the number of "
                f"entries of {self.what}); it has shape {v.shape}."
            )
            raise ArgumentValueError(msg)

    def unflatten(self, v: Any, name: str = "x") -> Any:
        """scipy's vector ``v`` (any real dtype, shape ``(n,)`` or ``(n, 1)``) as arrays of
        this layout: its dtype, namespace, device, shapes and structure."""
        if (
            self.float64_vector
            and type(v) is np.ndarray
            and v.dtype is _FLOAT64
            and v.shape == self.vector_shape
        ):
            return v
        if type(v) is np.ndarray and v.dtype is self.np_dtype and v.shape == self.vector_shape:
            flat = v  # scipy's own vector in x0's dtype: the hot path
        else:
            flat = np.asarray(v)
            self.flat_size_check(flat, name)
            if flat.dtype != self.np_dtype:  # scipy probes with int8; float32 x0, float64 x
                flat = flat.astype(self.np_dtype)
            flat = flat.reshape(-1)
        if self.numpy_leaf:
            return flat.reshape(self.shapes[0])
        if self._into is not None:
            shape = self.shapes[0]
            joined = self._into(flat)
            return joined if len(shape) == 1 else self.xp.reshape(joined, shape)
        joined = from_numpy(flat, self.xp, self.device)
        return unflatten(self.treedef, split(joined, self.sizes, self.shapes, self.dtypes))

    def flatten(self, tree: Any, writable: bool = True) -> np.ndarray[Any, Any]:
        """Arrays of this layout (a result like ``x``) as a flat float64 numpy vector,
        writable unless ``writable=False`` (a caller that copies anyway)."""
        if self.float64_vector and type(tree) is np.ndarray and tree.dtype is _FLOAT64:
            return tree if not writable or tree.flags.writeable else tree.copy()
        if self._out_of is not None:
            return as_float64(tree, self._out_of, writable)
        leaves, _ = flatten(tree, self.what)
        return np.concatenate([as_float64(leaf) for leaf in leaves])

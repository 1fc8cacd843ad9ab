"""The gradient with respect to a pytree, on the tree itself.

JAX differentiates containers natively: ``jax.grad`` of ``f(tree, *args)``, jitted once,
takes and returns the tree without joining its leaves into one array (what the raveled
problem of the pytree layer would do at every call). A prepared call goes through the
executable's C++ entry point (:func:`~.trace.compiled_call`), which flattens the tree and
checks its structure and every leaf's type, shape, dtype and sharding itself, raising on a
mismatch, so the express call costs what ``jax.jit(jax.grad(f))`` costs. Used for numpy and
JAX leaves of real dtypes; anything else takes the raveled route.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from ..._array import in_precision, in_x64, is_64bit, is_complex_dtype, namespace_of, x64_switch
from .._base import LeavesGradientPlan
from .trace import compiled_call

__all__ = ["JAXTreeGradient", "leaves_gradient"]


def _plain_leaf(a: Any) -> bool:
    if type(a) is np.ndarray:
        return True
    return isinstance(a, jax.Array) and not isinstance(a, jax.core.Tracer)


def leaves_gradient(
    f: Callable[..., Any],
    leaves: list[Any],
    rebuild: Callable[[list[Any]], Any],
    args: tuple[Any, ...],
    y: Any,
) -> JAXTreeGradient | None:
    """The plan, or ``None`` for leaves or contexts this route does not take."""
    if not all(_plain_leaf(a) for a in leaves) or len({type(a) for a in leaves}) != 1:
        return None
    if any(is_complex_dtype(namespace_of(a), a.dtype) for a in leaves):
        return None  # the library's complex convention is the raveled route's
    try:
        return JAXTreeGradient(f, rebuild(leaves), rebuild, args)
    except TypeError:  # a context jit cannot take (a string, an object)
        return None


class JAXTreeGradient(LeavesGradientPlan):
    """``jit(grad)`` and ``jit(value_and_grad)`` of ``f`` over the tree."""

    def __init__(
        self,
        f: Callable[..., Any],
        tree: Any,
        rebuild: Callable[[list[Any]], Any],
        args: tuple[Any, ...],
    ) -> None:
        leaves = jax.tree_util.tree_leaves(tree)
        self.rebuild = rebuild
        self.x64 = any(is_64bit(a) for a in leaves) or any(
            is_64bit(a) for a in jax.tree_util.tree_leaves(args)
        )
        self.numpy = type(leaves[0]) is np.ndarray
        self.plain = jax.jit(jax.grad(f))
        self.with_value = jax.jit(jax.value_and_grad(f))
        in_precision(self.x64, self.plain, tree, *args)  # compile now
        checked = in_precision(self.x64, compiled_call, self.plain, tree, *args)
        self.checked: Any = checked
        self.switch = x64_switch() if self.x64 and self.numpy else None

    def run(self, leaves: list[Any], args: tuple[Any, ...], *, value: bool) -> tuple[Any, Any]:
        tree = self.rebuild(leaves)
        if value:
            y, grads = in_precision(self.x64, self.with_value, tree, *args)
        else:
            y, grads = None, in_precision(self.x64, self.plain, tree, *args)
        out = jax.tree_util.tree_leaves(grads)
        if self.numpy:  # JAX's host buffers are read-only: writable copies
            out = [np.array(g) for g in out]
            y = None if y is None else np.array(y)
        return y, out

    def express(self, tree: Any, args: tuple[Any, ...]) -> Any:
        """The gradient tree, or ``None`` when the executable refuses the arguments (they
        differ from the prepared ones: the full call reports how)."""
        call = self.checked
        if call is None:
            return None
        try:
            if self.switch is not None and not self.switch.value:  # numpy float64: 64-bit
                grads = in_x64(call, tree, *args)
            else:
                grads = call(tree, *args)
        except (TypeError, ValueError):
            return None
        if self.numpy:
            return jax.tree_util.tree_map(np.array, grads)
        return grads

"""The gradient with respect to a pytree's leaves, on the leaves themselves.

The autograd tape differentiates with respect to many tensors at once:
``torch.autograd.grad(f(rebuild(leaves)), leaves)`` needs no raveling (what the pytree
layer's raveled problem would copy at every call). Used for numpy and torch leaves of real
dtypes; anything else takes the raveled route. An output connected to none of the leaves
raises :class:`~differentiation_interface.DisconnectedGraphError` (unless
``AutoTorch(allow_unused=True)``), as :mod:`.misuse` does for arrays.

A call whose results must stay on the caller's graph (a leaf or a context requires grad, or
a ``torch.func`` transform wraps one) is declined: the raveled route serves it attached.
Prepared calls on tensors are checked by torch's own tensor guards (the C++ checks
``torch.compile`` runs on its inputs: type, shape, strides, dtype, device, requires_grad,
dispatch keys), about 0.1 µs per leaf where reading the attributes from Python costs 0.4 µs;
a leaf the guards reject (a transposed view, say) is only checked the generic way.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import torch

from .._base import LeavesGradientPlan
from .io import back, checked, leaves_on_graph, put
from .misuse import disconnected

__all__ = ["TorchLeavesGradient", "leaves_gradient"]


def leaves_gradient(
    f: Callable[..., Any],
    leaves: list[Any],
    rebuild: Callable[[list[Any]], Any],
    args: tuple[Any, ...],
    y: Any,
    *,
    allow_unused: bool,
) -> TorchLeavesGradient | None:
    """The plan, or ``None`` for leaves this route does not take."""
    kinds = {type(a) for a in leaves}
    if len(kinds) != 1 or not (kinds <= {np.ndarray} or kinds <= {torch.Tensor}):
        return None
    if any(put(a).is_complex() for a in leaves):
        return None  # the library's complex convention is the raveled route's
    if any(isinstance(a, torch.Tensor) and (a.is_meta or a.requires_grad) for a in leaves):
        return None  # composition through the caller's graph is the raveled route's
    plan = TorchLeavesGradient(f, rebuild, allow_unused=allow_unused)
    if kinds == {torch.Tensor}:
        plan.leaf_check = _tensor_guards(leaves)
        if all(type(a) is torch.Tensor and not a.requires_grad for a in args):
            check = _tensor_guards([*leaves, *args])  # leaves and contexts: one C++ check
            if check is not None:
                plan.express_leaves = partial(plan.express_run, check)
    return plan


def _tensor_guards(leaves: list[Any]) -> Any:
    """``check(leaves) -> bool`` by torch's C++ tensor guards, or ``None`` where this torch
    has none of the private API it is (then the generic check runs alone)."""
    try:
        from torch._C._dynamo.guards import TensorGuards

        sizes: Any = [list(a.size()) for a in leaves]  # the stub's element type is too narrow
        strides: Any = [list(a.stride()) for a in leaves]
        guards = TensorGuards(*leaves, dynamic_dims_sizes=sizes, dynamic_dims_strides=strides)
        if not guards.check(*leaves):
            return None
    except Exception:  # noqa: BLE001 - a private API: any failure means "not available"
        return None
    count = len(leaves)

    def check(given: list[Any]) -> bool:
        return len(given) == count and bool(guards.check(*given))

    return check


def _context(value: Any) -> Any:
    if isinstance(value, (np.ndarray, np.generic, torch.Tensor)):
        return put(value)
    if isinstance(value, dict):
        return {k: _context(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(_context(v) for v in value)
    return value


class TorchLeavesGradient(LeavesGradientPlan):
    """One recorded forward pass and one backward pass over every leaf."""

    #: ``express_leaves(leaves, args) -> gradient leaves or None``: the prepared call on
    #: plain tensors, checked by one tensor guard over the leaves and the context tensors
    #: (set by :func:`leaves_gradient` where they are all plain tensors).
    express_leaves: Any = None

    def express_run(
        self, check: Callable[[list[Any]], bool], leaves: list[Any], args: tuple[Any, ...]
    ) -> list[Any] | None:
        """The gradient leaves if ``check`` accepts the leaves and contexts (type, shape,
        strides, dtype, device, no grad required, no ``torch.func`` wrapper) and torch records
        here; else ``None`` (the full call serves it)."""
        # grad mode is off under inference mode too: both go the full way
        if not torch.is_grad_enabled() or not check([*leaves, *args]):
            return None
        return self._tape([a.detach().requires_grad_(True) for a in leaves], args)[1]

    def _tape(self, ts: list[Any], args: tuple[Any, ...]) -> tuple[Any, list[Any]]:
        """``(f(x), gradient leaves)``: one recorded forward pass on the leaf tensors ``ts``
        (grad mode on), one backward pass; zeros for a leaf ``f`` does not use, and
        :class:`~differentiation_interface.DisconnectedGraphError` when it uses none
        (unless ``allow_unused``)."""
        y = checked(self.f(self.rebuild(ts), *args))
        grads = torch.autograd.grad(y, ts, allow_unused=True) if y.requires_grad else ()
        unused = [i for i, g in enumerate(grads) if g is None] if grads else list(range(len(ts)))
        if not unused:
            return y, list(grads)  # the tape's fresh tensors, handed out as they are
        if not self.allow_unused and len(unused) == len(ts):
            raise disconnected(self.operator)
        out: list[Any] = list(grads) if grads else [None] * len(ts)
        for i in unused:
            out[i] = torch.zeros_like(ts[i])
        return y, out

    def __init__(
        self, f: Callable[..., Any], rebuild: Callable[[list[Any]], Any], *, allow_unused: bool
    ) -> None:
        self.f = f
        self.rebuild = rebuild
        self.allow_unused = allow_unused

    def run(
        self, leaves: list[Any], args: tuple[Any, ...], *, value: bool
    ) -> tuple[Any, Any] | None:
        if torch.is_inference_mode_enabled():  # torch records nothing there
            with torch.inference_mode(False):
                return self.run(leaves, args, value=value)
        if type(leaves[0]) is torch.Tensor:  # checked at preparation: plain tensors
            if leaves_on_graph(leaves, args):
                return None  # the raveled route keeps the results on the caller's graph
            ts = [a.detach().requires_grad_(True) for a in leaves]
        else:
            ts = [put(a).requires_grad_(True) for a in leaves]  # new tensor objects
        if args:
            args = tuple(map(_context, args))
        if torch.is_grad_enabled():  # entering enable_grad costs more than asking
            y, out = self._tape(ts, args)
        else:
            with torch.enable_grad():
                y, out = self._tape(ts, args)
        if type(leaves[0]) is np.ndarray:  # the tape's fresh tensors, viewed
            out = [g.numpy() for g in out]
        return (back(y.detach(), leaves[0], ts) if value else None), out

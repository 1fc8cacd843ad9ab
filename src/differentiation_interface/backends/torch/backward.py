"""One backward pass through torch's autograd engine, without ``torch.autograd.grad``'s wrapper.

On small problems ``torch.autograd.grad`` spends as much time in Python as the engine
spends differentiating: it normalises its arguments to tuples, looks for
``__torch_function__`` overrides, builds and checks the implicit ``ones_like`` seed, copies
the context variables for autograd's device threads and checks its debug logger (measured
in ``docs/backends/torch.md``: a small forward and backward pass through the engine itself
costs well under what it costs through ``torch.autograd.grad``).

:func:`backward` calls the engine entry point that ``torch.autograd.grad`` ends in
(``Variable._execution_engine.run_backward``) when none of that work has an effect: plain
tensors on the CPU (so no device thread runs the pass), no torch function mode or tensor
subclass, torch's autograd debug logging off, one seed (not batched). Everything else, and a
torch without that entry point, goes through ``torch.autograd.grad``, so behaviour does not
depend on which route ran.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch.overrides import has_torch_function

__all__ = ["backward"]

Tensor = torch.Tensor

try:  # a private entry point: feature-detected, with the public function as the fallback
    _RUN_BACKWARD: Any = torch.autograd.Variable._execution_engine.run_backward
except AttributeError:  # pragma: no cover - depends on the torch version
    _RUN_BACKWARD = None

# torch attaches logging hooks to the graph when this logger is at DEBUG (TORCH_LOGS).
_AUTOGRAD_LOG = logging.getLogger("torch.autograd.graph")

# The implicit seed of a scalar output, per dtype (``torch.ones`` per call would cost a
# sizeable share of a small backward pass).
_ONES: dict[torch.dtype, Tensor] = {}


def _unit(y: Tensor) -> Tensor | None:
    """The seed ``1`` for a real 0-d CPU ``y``, or None if ``y`` needs the general route."""
    if y.dim() != 0 or not y.dtype.is_floating_point:  # complex y needs an explicit seed
        return None
    one = _ONES.get(y.dtype)
    if one is None:
        one = _ONES[y.dtype] = torch.ones((), dtype=y.dtype)
    return one


def _given(seed: Tensor | None) -> Tensor | None:
    """A caller's seed the engine may take as it is (a plain CPU tensor), else None."""
    return seed if type(seed) is Tensor and seed.is_cpu else None


def backward(
    y: Tensor,
    xr: Tensor,
    seed: Tensor | None = None,
    *,
    retain: bool = False,
    create: bool = False,
) -> Tensor | None:
    """``J^H seed`` of ``y`` with respect to ``xr`` (``seed=None``: a real scalar ``y``).

    ``y`` must require grad. Returns None where ``y`` does not depend on ``xr``, as
    ``torch.autograd.grad(..., allow_unused=True)`` does.
    """
    if (
        _RUN_BACKWARD is not None
        and type(y) is Tensor
        and type(xr) is Tensor
        and y.is_cpu
        and xr.is_cpu
        and not has_torch_function((y, xr))
        and not _AUTOGRAD_LOG.isEnabledFor(logging.DEBUG)
    ):
        shared = seed is None  # the implicit seed 1 of a scalar y, from the cache
        used = _unit(y) if shared else _given(seed)
        if used is not None and used.shape == y.shape:
            pulled: Tensor | None = _RUN_BACKWARD(
                (y,), (used,), retain or create, create, (xr,), True, accumulate_grad=False
            )[0]
            # y = xr hands the seed itself back: never give out the shared one
            if shared and pulled is not None and pulled.data_ptr() == used.data_ptr():
                return pulled.clone()
            return pulled
    (g,) = torch.autograd.grad(
        y, xr, seed, retain_graph=retain or create, create_graph=create, allow_unused=True
    )
    return g

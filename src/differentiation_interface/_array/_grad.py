"""Constants chosen from a differentiated input: values with derivative tracking removed.

An algorithm that derives a *choice* from its input (a finite-difference step from ``|x|``)
must not let an AD engine differentiating that input see the choice as a function of it: the
engine would add the derivative of the choice to the derivative of the result (for a
difference quotient, a catastrophic cancellation of two ``1 / h`` terms). :func:`constant`
returns such a value detached from every engine that tracks it: ``Tensor.detach`` (the torch
tape, forward-mode duals and ``torch.func`` transforms), ``jax.lax.stop_gradient`` (JAX
tracers) or autograd's ``getval`` (HIPS autograd boxes). Only already-imported packages are
used (``sys.modules``): an array of that package is in hand.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from ._tracing import differentiated_by

__all__ = ["constant"]


def constant(a: Any) -> Any:
    """``a``'s value, detached from any AD engine differentiating it (``a`` itself if none).

    Parameters
    ----------
    a : array
        An array of any namespace.

    Returns
    -------
    array
        ``a`` when no engine tracks it (numpy arrays cost one type check), else the same
        values in the same namespace with derivative zero for that engine.
    """
    if type(a) is np.ndarray:
        return a
    owner = differentiated_by(a)
    if owner is None:  # a torch tensor on a tape is not tracked while grad mode is off
        return a.detach() if getattr(a, "requires_grad", False) is True else a
    if owner == "torch":
        return a.detach()
    if owner == "jax":
        return sys.modules["jax"].lax.stop_gradient(a)
    return sys.modules["autograd.tracer"].getval(a)

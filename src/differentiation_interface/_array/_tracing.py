"""Arrays that another AD engine is differentiating, and the guard every engine applies.

An engine that converts its inputs to its own namespace (through numpy or DLPack) drops
whatever derivative information the input carried: a torch tensor on the autograd tape, a
JAX tracer, an autograd box. Inside a composition such as ``SecondOrder(AutoTorch(),
AutoJAX())`` the outer engine would then see a constant and return zeros — a silently wrong
second derivative. Engines therefore refuse arrays another engine is differentiating, with
an error naming the alternatives (the same engine outside and inside, or finite
differences, which run natively within any engine). Only already-imported packages are
consulted (``sys.modules``): nothing is imported.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from ..errors import UnsupportedOperationError

__all__ = ["differentiated_by", "refuse_foreign", "transformed"]


def _torch_tracked(t: Any) -> bool:
    torch = sys.modules["torch"]
    functorch = getattr(torch._C, "_functorch", None)
    wrapped = functorch is not None and functorch.is_functorch_wrapped_tensor(t)
    if wrapped:
        return True
    if not torch.is_grad_enabled():
        return False
    if t.requires_grad:
        return True
    forward_ad = torch.autograd.forward_ad
    level = getattr(forward_ad, "_current_level", -1)
    return bool(level >= 0 and forward_ad.unpack_dual(t).tangent is not None)


def differentiated_by(a: Any) -> str | None:
    """``"torch"``, ``"jax"`` or ``"autograd"`` if that engine is differentiating ``a``."""
    if type(a) is np.ndarray:
        return None
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(a, torch.Tensor):
        return "torch" if _torch_tracked(a) else None
    jax = sys.modules.get("jax")
    if jax is not None and isinstance(a, jax.core.Tracer):
        return "jax"
    if type(a).__name__ == "ArrayBox" and type(a).__module__.startswith("autograd"):
        return "autograd"
    return None


def transformed(a: Any) -> bool:
    """Whether ``a`` only exists inside a transformation (a JAX tracer, a torch tensor
    wrapped by ``torch.func``'s vmap or grad): it cannot be handed out as a value."""
    if type(a) is np.ndarray:
        return False
    jax = sys.modules.get("jax")
    if jax is not None and isinstance(a, jax.core.Tracer):
        return True
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(a, torch.Tensor):
        functorch = getattr(torch._C, "_functorch", None)
        return bool(functorch is not None and functorch.is_functorch_wrapped_tensor(a))
    return False


def refuse_foreign(a: Any, engine: str, selector: str) -> None:
    """Raise if an engine other than ``engine`` is differentiating ``a`` (see module doc)."""
    owner = differentiated_by(a)
    if owner is not None and owner != engine:
        msg = (
            f"{selector} received an array that {owner} is differentiating "
            f"({type(a).__name__}): {selector} computes outside {owner}, so the derivative "
            f"would be silently lost. Compose {owner} with itself, or use finite "
            "differences (di.AutoFiniteDiff()), which run natively inside any engine; pass "
            "a detached array if only the values matter."
        )
        raise UnsupportedOperationError(msg)

"""``AutoTorch`` on ``torch.distributed.tensor.DTensor`` inputs: plain autograd on the mesh.

A DTensor's operations are collectives over its ``DeviceMesh``, and torch's autograd
differentiates them (each backward rule is again a DTensor operation), but ``torch.func``
and forward-mode AD do not support DTensor operators (``aten._has_same_storage_numel`` has
no sharding strategy). The plans here therefore use reverse-mode autograd only, in both
modes of the selector, and keep every array a DTensor on ``x``'s mesh:

================== ====================================================================
gradient           one backward pass
pullback           one backward pass per cotangent (the tape is kept between them)
pushforward        the double-backward trick: ``J t = d/du <u, J^T> `` at any ``u``, i.e. a
                   backward pass with ``create_graph`` and one more per tangent
hvp                double backward (reverse over reverse), one per tangent
jacobian, hessian  refused: they would need a dense ``(m, n)`` matrix built from ``n``
                   basis seeds that the mesh does not cut (and ``n`` passes); use
                   ``pullback`` / ``hvp`` along the directions needed
derivative,        refused: a scalar ``x`` is not sharded; call it with a plain tensor
second_derivative
================== ====================================================================

Results like ``x`` (gradients, pullbacks, Hessian-vector products) are redistributed to
``x``'s placements when autograd returns them cut otherwise; nothing is gathered.
"""

from __future__ import annotations

from typing import Any

import torch

from ..._array import is_dtensor
from ...errors import DIError, UnsupportedOperationError
from .._base import Fn, GradientPlan, HVPPlan, PullbackPlan, PushforwardPlan

__all__ = ["prepare_dtensor", "refuse_dtensor_operator"]


def refuse_dtensor_operator(operator: str) -> UnsupportedOperationError:
    """The error for an operator AutoTorch does not compute on DTensors."""
    why = {
        "jacobian": (
            "it would build a dense (m, n) matrix from n basis seeds that the mesh does not "
            "cut, in n backward passes. Use di.pullback (rows) or di.pushforward (columns) "
            "along the directions you need"
        ),
        "hessian": (
            "it would build a dense (n, n) matrix from n basis seeds that the mesh does not "
            "cut, in n double-backward passes. Use di.hvp along the directions you need"
        ),
    }.get(
        operator,
        "x would be a scalar, which a mesh does not cut, and forward-mode AD does not "
        "support DTensors; call it with a plain tensor",
    )
    return UnsupportedOperationError(
        f"`{operator}` with AutoTorch is not available for a torch DTensor x: {why}. "
        "gradient, value_and_gradient, pullback, pushforward and hvp work on DTensors."
    )


def _leaf(x: Any) -> Any:
    return x.detach().requires_grad_(True)


def _like_x(r: Any, x: Any) -> Any:
    """``r`` (a result like ``x``) cut like ``x``, detached."""
    r = r.detach()
    if is_dtensor(r) and tuple(r.placements) != tuple(x.placements):
        r = r.redistribute(x.device_mesh, x.placements)
    return r


def _grad(operator: str, outputs: Any, inputs: Any, seed: Any, **kwargs: Any) -> Any:
    """``torch.autograd.grad``, its errors as library errors (f evaluated fine before)."""
    try:
        (g,) = torch.autograd.grad(outputs, inputs, grad_outputs=seed, **kwargs)
    except DIError:
        raise
    except (RuntimeError, NotImplementedError) as err:
        msg = (
            f"`{operator}` with AutoTorch: torch's autograd could not differentiate f on a "
            f"DTensor x (torch raised {type(err).__name__}: {err}). Some DTensor operators "
            "have no sharding rule for their derivative; di.AutoFiniteDiff() evaluates f "
            "only."
        )
        raise UnsupportedOperationError(msg) from err
    if g is None:
        msg = (
            f"`{operator}` with AutoTorch: f's output does not depend on the DTensor x in "
            "torch's graph (a .detach(), .to_local() or .full_tensor() round trip cuts it)."
        )
        raise UnsupportedOperationError(msg)
    return g


def _stack(results: list[Any]) -> Any:
    return torch.stack(results, dim=0)


class DTensorGradient(GradientPlan):
    def run(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, Any]:
        with torch.enable_grad():
            xl = _leaf(x)
            y = fn(xl)
            g = _grad("gradient", y, xl, None)
        return (y.detach() if value else None), _like_x(g, x)


class DTensorPullback(PullbackPlan):
    def run(self, fn: Fn, x: Any, ty: Any, *, value: bool) -> tuple[Any, Any]:
        with torch.enable_grad():
            xl = _leaf(x)
            y = fn(xl)
            count = ty.shape[0]
            results = [
                _like_x(_grad("pullback", y, xl, ty[k], retain_graph=k + 1 < count), x)
                for k in range(count)
            ]
        return (y.detach() if value else None), _stack(results)


class DTensorPushforward(PushforwardPlan):
    def run(self, fn: Fn, x: Any, tx: Any, *, value: bool) -> tuple[Any, Any]:
        with torch.enable_grad():
            xl = _leaf(x)
            y = fn(xl)
            u = torch.zeros_like(y).requires_grad_(True)
            g = _grad("pushforward", y, xl, u, create_graph=True)
            count = tx.shape[0]
            results = [
                _grad("pushforward", g, u, tx[k], retain_graph=k + 1 < count).detach()
                for k in range(count)
            ]
        return (y.detach() if value else None), _stack(results)


class DTensorHVP(HVPPlan):
    def run(self, fn: Fn, x: Any, tx: Any, *, value: bool) -> tuple[Any, Any]:
        with torch.enable_grad():
            xl = _leaf(x)
            y = fn(xl)
            g = _grad("hvp", y, xl, None, create_graph=True)
            count = tx.shape[0]
            results = [
                _like_x(_grad("hvp", g, xl, tx[k], retain_graph=k + 1 < count), x)
                for k in range(count)
            ]
        return (_like_x(g, x) if value else None), _stack(results)


_PLANS: dict[str, type] = {
    "gradient": DTensorGradient,
    "pullback": DTensorPullback,
    "pushforward": DTensorPushforward,
    "hvp": DTensorHVP,
}


def prepare_dtensor(operator: str, fn: Fn) -> Any:
    """The DTensor plan of ``operator``; raises for the operators it refuses."""
    if fn.inplace:
        msg = (
            f"`{operator}` with AutoTorch: two-argument functions f(y, x) are not supported "
            "for DTensor inputs; write f to return its output."
        )
        raise UnsupportedOperationError(msg)
    plan = _PLANS.get(operator)
    if plan is None:
        raise refuse_dtensor_operator(operator)
    return plan()

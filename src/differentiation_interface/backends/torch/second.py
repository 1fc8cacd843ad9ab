"""Second-order torch plans.

* **reverse mode**: reverse over reverse on the tape. The gradient is recorded with
  ``create_graph=True`` and differentiated again: one product with ``autograd.grad``, several
  (and the Hessian's rows, in chunks of the basis) with one batched backward pass each.
  Measured several times cheaper per product than ``torch.func.jvp(torch.func.grad)``
  (``docs/backends/torch.md``).
* **forward mode**: forward over reverse. One product pushes dual numbers through the tape
  gradient; several products and the Hessian use ``vmap(jvp(torch.func.grad))``
  over the tangents (or chunks of the basis), i.e. ``jacfwd(jacrev)`` with a chunk size, or,
  where vmap cannot batch ``f``, dual numbers through the tape one product at a time
  (:class:`.first.Batching`).
* **second derivative** (0-d ``x``, both modes): ``torch.func.jvp`` of ``torch.func.jvp``,
  which gives ``f``, ``f'`` and ``f''`` in one nested pass.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.autograd.forward_ad as _forward_ad

from .._base import Fn, HessianPlan, HVPPlan, SecondDerivativePlan
from .backward import backward
from .first import (
    FORWARD_LOCK,
    Basis,
    Batching,
    Pair,
    batch_size,
    leaf,
    tape_grad,
    vmapped,
)
from .io import Bound, Fun, back, put, torch_dtype, zeros_like_batch
from .plan import Signature, TorchPlan, views_tangents

__all__ = [
    "TorchHVPForward",
    "TorchHVPReverse",
    "TorchHessianForward",
    "TorchHessianReverse",
    "TorchSecondDerivative",
]

Tensor = torch.Tensor
fwad: Any = _forward_ad  # untyped module: its functions are typed as Any here


def _tape_gradient(func: Fun, xr: Tensor) -> tuple[Tensor, Tensor]:
    """``(f(x), gradient)`` with the gradient itself on the tape (differentiable)."""
    with torch.enable_grad():
        y = func(xr)
        return y, tape_grad(y, xr, create=True)


def _second_pass(g: Tensor, xr: Tensor, seeds: Tensor, *, retain: bool) -> Tensor:
    """``H t`` for stacked ``seeds`` (``(B, *x.shape)``) from a recorded gradient."""
    if not g.requires_grad:  # f is at most linear in x
        return zeros_like_batch(seeds.shape[0], xr)
    if seeds.shape[0] == 1:
        return tape_grad(g, xr, seeds[0], retain=retain).unsqueeze(0)
    return tape_grad(g, xr, seeds, batched=True)


class TorchHVPReverse(TorchPlan, HVPPlan):
    """Reverse over reverse: double backward, batched over the tangents."""

    def __init__(self, fn: Fn, x: Any, y: Any) -> None:
        self.sig = Signature(x, y)
        self.single = views_tangents(x)

    def run(self, fn: Fn, x: Any, tx: Any, *, value: bool) -> tuple[Any, Any]:
        func = self.sig.bind(fn)
        xr = leaf(x)
        t = put(tx)
        _, g = _tape_gradient(func, xr)
        tg = _second_pass(g, xr, t, retain=False)
        sources = (xr, t, *func.tensors)
        return (back(g, x, sources) if value else None), back(tg, x, sources)


class TorchHessianReverse(TorchPlan, HessianPlan):
    """Reverse over reverse: the gradient's rows by batched backward passes over the basis."""

    def __init__(self, fn: Fn, x: Any, y: Any) -> None:
        self.sig = Signature(x, y)
        self.seeds = Basis(self.sig.x_shape, torch_dtype(x), x)

    def run(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, Any, Any]:
        sig, seeds = self.sig, self.seeds
        func = sig.bind(fn)
        xr = leaf(x)
        y, g = _tape_gradient(func, xr)
        parts = [
            _second_pass(g, xr, seeds.chunk(k, xr.device), retain=True).reshape(seeds.batch, sig.n)
            for k in range(seeds.nchunks)
        ]
        hess = seeds.join(parts) if parts else xr.new_zeros((0, 0))
        sources = (xr, *func.tensors, *(seeds.cached or ()))
        if not value:
            return None, None, back(hess, x, sources)
        return back(y, x, sources), back(g, x, sources), back(hess, x, sources)


def _dual_over_tape(func: Fun, xt: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    """``(gradient, H t)``: dual numbers pushed through the tape gradient."""
    with FORWARD_LOCK, fwad.dual_level(), torch.enable_grad():
        xd = fwad.make_dual(xt.detach().requires_grad_(True), t)
        y = func(xd)
        if not y.requires_grad:
            zeros = torch.zeros_like(xt)
            return zeros, zeros.clone()
        g = backward(y, xd, create=True)
        if g is None:
            zeros = torch.zeros_like(xt)
            return zeros, zeros.clone()
        primal, tangent = fwad.unpack_dual(g)
    return primal.detach(), (torch.zeros_like(primal) if tangent is None else tangent.detach())


def _vmap_jvp_grad(func: Fun, xt: Tensor, seeds: Tensor, chunk: int) -> tuple[Tensor, Tensor]:
    """``(gradient, stacked H t_b)`` by ``vmap(jvp(grad))`` (caller holds FORWARD_LOCK)."""
    grad = torch.func.grad(func)

    def one(t: Tensor) -> tuple[Tensor, Tensor]:
        out = torch.func.jvp(grad, (xt,), (t,))
        return out[0], out[1]

    g, tg = vmapped(one, seeds, chunk)
    return g[0], tg


def _hvps(batching: Batching, func: Fun, xt: Tensor, seeds: Tensor, chunk: int) -> Pair:
    """``(gradient, stacked H t_b)``: batched, or one product at a time (see Batching)."""
    return batching.push(
        lambda ts: _vmap_jvp_grad(func, xt, ts, chunk),
        lambda t: _dual_over_tape(func, xt, t),
        seeds,
    )


class TorchHVPForward(TorchPlan, HVPPlan):
    """Forward over reverse: dual numbers through the tape (one), ``vmap(jvp(grad))`` (several)."""

    forward = True

    def __init__(self, fn: Fn, x: Any, y: Any) -> None:
        self.sig = Signature(x, y)
        self.chunk = batch_size(self.sig.n, like=x)
        self.batching = Batching()
        self.single = views_tangents(x)

    def run(self, fn: Fn, x: Any, tx: Any, *, value: bool) -> tuple[Any, Any]:
        func = self.sig.bind(fn)
        xt = put(x)
        t = put(tx)
        if t.shape[0] == 1:
            g, tg1 = _dual_over_tape(func, xt, t[0])
            tg = tg1.unsqueeze(0)
        else:
            g, tg = _hvps(self.batching, func, xt, t, self.chunk)
        sources = (xt, t, *func.tensors)
        return (back(g, x, sources) if value else None), back(tg, x, sources)


class TorchHessianForward(TorchPlan, HessianPlan):
    """Forward over reverse over chunks of the basis: ``jacfwd(jacrev)`` with a chunk size."""

    forward = True

    def __init__(self, fn: Fn, x: Any, y: Any) -> None:
        self.sig = Signature(x, y)
        self.seeds = Basis(self.sig.x_shape, torch_dtype(x), x)
        self.batching = Batching()

    def run(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, Any, Any]:
        sig, seeds = self.sig, self.seeds
        func = sig.bind(fn)
        xt = put(x)
        g: Tensor | None = None
        parts = []
        for k in range(seeds.nchunks):
            g, rows = _hvps(self.batching, func, xt, seeds.chunk(k, xt.device), seeds.batch)
            parts.append(rows.reshape(seeds.batch, sig.n))
        hess = seeds.join(parts) if parts else xt.new_zeros((0, 0))
        sources = (xt, *func.tensors, *(seeds.cached or ()))
        if not value:
            return None, None, back(hess, x, sources)
        y = func(xt)
        if g is None:
            g = torch.zeros_like(xt)
        return back(y, x, sources), back(g, x, sources), back(hess, x, sources)


class TorchSecondDerivative(TorchPlan, SecondDerivativePlan):
    """``f``, ``f'`` and ``f''`` of a function of a 0-d ``x`` by ``jvp(jvp)``."""

    def __init__(self, fn: Fn, x: Any, y: Any) -> None:
        self.sig = Signature(x, y)

    def run(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, Any, Any]:
        func: Bound = self.sig.bind(fn)
        xt = put(x)
        one = torch.ones_like(xt)

        def first(z: Tensor) -> tuple[Tensor, Tensor]:
            out = torch.func.jvp(func, (z,), (one,))
            return out[0], out[1]

        with FORWARD_LOCK:
            nested = torch.func.jvp(first, (xt,), (one,))
        (y, der), (_, der2) = nested[0], nested[1]
        sources = (xt, *func.tensors)
        if not value:
            return None, None, back(der2, x, sources)
        return back(y, x, sources), back(der, x, sources), back(der2, x, sources)

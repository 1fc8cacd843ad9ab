"""Attached runs: results that stay on the caller's graph (API section 11).

When ``x`` or a context is a tensor that requires grad (grad mode on), or one of a caller's
``torch.func`` transform (``grad``, ``vmap``, ``jvp``, ``jacrev``...), a plan's run is served
here instead (:func:`.io.on_graph`, checked by :mod:`.plan`'s wrapper of every ``run``):
nothing is detached and every derivative is built with differentiable operations, so the
caller can differentiate *through* the operator: gradient penalties, meta-learning steps,
implicit differentiation, ``torch.func.grad`` of a function that calls ``di.gradient``.

* The gradient of a tensor ``x`` outside any ``torch.func`` transform (the gradient penalty)
  is one backward pass on the tape with ``create_graph=True``: what
  ``torch.autograd.grad(..., create_graph=True)`` computes, through the engine entry point of
  :mod:`.backward`. ``x`` enters as a view (``x.view_as(x)``), so the derivative is the
  partial one with respect to ``x``, even where a context itself depends on ``x``.
* Everything else uses ``torch.func`` (``jvp``, ``vjp``, ``grad``), whose transforms compose
  with each other and with the tape: tangents and cotangents are batched with ``vmap``, or
  pushed one at a time where ``vmap`` cannot batch ``f`` (the detached plans' rule), over the
  plan's chunks of the basis for Jacobians and Hessians.

Results are the caller's tensors on its graph (never detached); one that *is* an input (an
identity-like ``f``) is copied, differentiably. Which mode the plan was prepared for picks
reverse (``vjp``) or forward (``jvp``) products, as in the detached plans.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch

from ...errors import DIError
from .._base import Fn
from .backward import backward
from .first import FORWARD_LOCK
from .io import Bound, on_graph
from .plan import ATTACHED_RUNS, TorchPlan

__all__ = ["on_graph"]

Tensor = torch.Tensor
_wrapped = torch._C._functorch.is_functorch_wrapped_tensor
_SLOW_BATCHING = "There is a performance drop because we have not yet implemented the batching"


def _bind(plan: TorchPlan, fn: Fn) -> Bound:
    return plan.sig.bind(fn, graph=True)


def _own(t: Tensor, *sources: Any) -> Tensor:
    """``t``, or a differentiable copy where it is an input itself (an identity-like ``f``)."""
    for s in sources:
        if t is s:
            copy: Tensor = t.clone()
            return copy
    return t


def _jvp(func: Callable[[Tensor], Tensor], x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    out = torch.func.jvp(func, (x,), (t,))
    return out[0], out[1]


def _vjp(func: Callable[[Tensor], Tensor], x: Tensor) -> tuple[Tensor, Any]:
    """``(f(x), pull)``: ``pull(w)`` is the tuple ``(J^H w,)``."""
    out = torch.func.vjp(func, x)
    return out[0], out[1]


def _each(one: Callable[[Tensor], Tensor], seeds: Tensor) -> Tensor:
    """``one(seed)`` for each seed stacked along the leading axis: one vmapped pass, or one
    pass per seed where vmap cannot batch ``f`` (the library chose vmap: its warning that an
    operation has no batching rule is silenced, under the forward lock like the plans')."""
    if seeds.shape[0] == 1:
        return one(seeds[0]).unsqueeze(0)
    with FORWARD_LOCK, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_SLOW_BATCHING, category=UserWarning)
        try:
            batched: Tensor = torch.func.vmap(one)(seeds)
            return batched
        except RuntimeError as err:
            if isinstance(err, DIError):
                raise
    return torch.stack([one(seeds[k]) for k in range(seeds.shape[0])])


def _basis_products(plan: Any, one: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """``one`` over the plan's chunks of a basis, as rows ``(basis size, -1)``."""
    seeds = plan.seeds
    parts = [
        _each(one, seeds.chunk(k, x.device)).reshape(seeds.batch, -1) for k in range(seeds.nchunks)
    ]
    joined: Tensor = seeds.join(parts)
    return joined


def _attached(operator: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(run: Callable[..., Any]) -> Callable[..., Any]:
        ATTACHED_RUNS[operator] = run
        return run

    return register


@_attached("pushforward")
def _pushforward(plan: TorchPlan, fn: Fn, x: Tensor, tx: Tensor, *, value: bool) -> Any:
    func = _bind(plan, fn)
    ty = _each(lambda t: _jvp(func, x, t)[1], tx)
    return (func(x) if value else None), _own(ty, x, tx)


@_attached("pullback")
def _pullback(plan: TorchPlan, fn: Fn, x: Tensor, ty: Tensor, *, value: bool) -> Any:
    y, pull = _vjp(_bind(plan, fn), x)
    tx = _each(lambda w: pull(w)[0], ty)
    return (y if value else None), _own(tx, x, ty)


@_attached("derivative")
def _derivative(plan: TorchPlan, fn: Fn, x: Tensor, *, value: bool) -> Any:
    with FORWARD_LOCK:
        y, der = _jvp(_bind(plan, fn), x, torch.ones_like(x))
    return (y if value else None), der


def _plain_tape(x: Tensor, fn: Fn) -> bool:
    """Whether the tape serves this call: no argument of a ``torch.func`` transform."""
    return not _wrapped(x) and not any(isinstance(a, Tensor) and _wrapped(a) for a in fn.args)


@_attached("gradient")
def _gradient(plan: TorchPlan, fn: Fn, x: Tensor, *, value: bool) -> Any:
    func = _bind(plan, fn)
    if _plain_tape(x, fn):  # create_graph on the tape (module doc)
        xr = x.view_as(x) if x.requires_grad else x.detach().requires_grad_(True)
        y = func(xr)
        pulled = backward(y, xr, create=True) if y.requires_grad else None
        grad = torch.zeros_like(x) if pulled is None else pulled
    else:
        y, pull = _vjp(func, x)
        grad = pull(torch.ones_like(y))[0]
    return (y if value else None), _own(grad, x)


@_attached("jacobian")
def _jacobian(plan: Any, fn: Fn, x: Tensor, *, value: bool) -> Any:
    func = _bind(plan, fn)
    if plan.forward:
        with FORWARD_LOCK:
            columns = _basis_products(plan, lambda t: _jvp(func, x, t)[1], x)
        jac = columns.mT
        y = func(x) if value else None
    else:
        y, pull = _vjp(func, x)
        jac = _basis_products(plan, lambda w: pull(w)[0], x)
    return (y if value else None), jac.to(plan.dtype)


def _grad_products(plan: TorchPlan, func: Bound, x: Tensor) -> tuple[Tensor, Any]:
    """``(gradient, product)``: ``product(t)`` is ``H t``, by ``jvp`` of the gradient in
    forward mode, by ``vjp`` of it in reverse mode."""
    grad = torch.func.grad(func)
    if plan.forward:
        return grad(x), lambda t: _jvp(grad, x, t)[1]
    g, pull = _vjp(grad, x)
    return g, lambda t: pull(t)[0]


@_attached("hvp")
def _hvp(plan: TorchPlan, fn: Fn, x: Tensor, tx: Tensor, *, value: bool) -> Any:
    with FORWARD_LOCK:
        g, product = _grad_products(plan, _bind(plan, fn), x)
        tg = _each(product, tx)
    return (g if value else None), _own(tg, x, tx)


@_attached("hessian")
def _hessian(plan: TorchPlan, fn: Fn, x: Tensor, *, value: bool) -> Any:
    func = _bind(plan, fn)
    with FORWARD_LOCK:
        g, product = _grad_products(plan, func, x)
        hess = _basis_products(plan, product, x)
    if not value:
        return None, None, hess
    return func(x), g, hess


@_attached("second_derivative")
def _second_derivative(plan: TorchPlan, fn: Fn, x: Tensor, *, value: bool) -> Any:
    func = _bind(plan, fn)
    one = torch.ones_like(x)
    with FORWARD_LOCK:
        nested = torch.func.jvp(lambda z: _jvp(func, z, one), (x,), (one,))
    (y, der), (_, der2) = nested[0], nested[1]
    if not value:
        return None, None, der2
    return y, der, der2

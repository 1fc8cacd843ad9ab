"""The PyTorch bridge: a function torch cannot trace, made ``torch.autograd.Function`` s.

Four functions carry the :class:`~._rules.Rules` of ``f``: the value, the pushforward
``J(x) t``, the pullback ``J(x)^T u`` and ``hvp`` ``sum_i u_i H_i(x) dx``. Each one's
``backward`` and forward-mode ``jvp`` are again these functions, so ``.backward()``,
``torch.autograd.grad`` (with ``create_graph=True`` for a second derivative),
``torch.func.grad``, ``torch.func.jvp`` and forward AD all cost one backend call per
derivative. ``vmap`` (``torch.func.vmap``) runs point by point. A third derivative raises.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any

import torch
import torch.autograd.forward_ad as _forward_ad

from .._array import namespace_of, small_host_view
from ..errors import UnsupportedOperationError
from ._rules import Rules, to_namespace

__all__ = ["call"]

_TENSOR = object()  # marks where a saved tensor goes back among a call's inputs


def _load_forward_rules() -> None:
    # Forward-mode AD (torch.func.jvp, hessian) imports its decompositions on first use,
    # scripting them with the deprecated torch.jit.script, which warns; the torch engine
    # loads them quietly, and so does this bridge (it may be used without that engine).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.suppress(Exception):  # a private module: if it moves, torch copes
            from torch._decomp import decompositions_for_jvp  # noqa: F401


_load_forward_rules()


def call(rules: Rules, x: Any, ctx: tuple[Any, ...]) -> Any:
    """``f(x, *ctx)`` for a torch ``x`` that torch is differentiating."""
    return _apply(_Value, x, rules, *ctx)


def _back(a: Any, like: Any) -> Any:
    """A rules-namespace result as a torch tensor on ``like``'s device (DLPack; small host
    arrays for a CPU ``like`` through numpy, a copy only of what numpy holds read-only)."""
    if like.is_cpu:
        view = small_host_view(a)
        if view is not None:  # torch aliases only writable memory with positive strides
            if not view.flags.writeable or min(view.strides, default=0) < 0:
                view = view.copy()
            return torch.from_numpy(view)
    out = to_namespace(a, namespace_of(like))
    return out if out.device == like.device else out.to(like.device)


def _refuse(what: str) -> None:
    msg = (
        f"di.DifferentiateWith: torch asked for {what}, a derivative of higher order than "
        "the bridge provides (first derivatives, and the second derivative of a gradient). "
        "Use the backend itself for this derivative, e.g. di.hessian."
    )
    raise UnsupportedOperationError(msg)


class _Bridged(torch.autograd.Function):
    """Shared ``setup_context`` and point-by-point ``vmap``."""

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        if len(inputs) == 2:  # f's value at x without contexts, the common call: (x, rules)
            ctx.save_for_backward(inputs[0])
            ctx.save_for_forward(inputs[0])
            ctx.template = (_TENSOR, inputs[1])
            return
        tensors = [a for a in inputs if isinstance(a, torch.Tensor)]
        ctx.save_for_backward(*tensors)
        ctx.save_for_forward(*tensors)
        # the non-tensor inputs (the rules, non-array contexts), and where the tensors go
        ctx.template = tuple(_TENSOR if isinstance(a, torch.Tensor) else a for a in inputs)

    @classmethod
    def vmap(cls, info: Any, in_dims: tuple[Any, ...], *args: Any) -> Any:
        size = info.batch_size
        moved = [
            a.movedim(d, 0) if d is not None and isinstance(a, torch.Tensor) else a
            for a, d in zip(args, in_dims, strict=True)
        ]

        def item(b: int) -> list[Any]:
            return [
                a[b] if d is not None and isinstance(a, torch.Tensor) else a
                for a, d in zip(moved, in_dims, strict=True)
            ]

        return torch.stack([_apply(cls, *item(b)) for b in range(size)]), 0


def _split(ctx: Any, n: int) -> tuple[list[Any], Rules, tuple[Any, ...]]:
    """``(arrays, rules, contexts)`` of the call, with the saved tensors put back."""
    template, tensors = ctx.template, ctx.saved_tensors
    if len(template) == n + 1 and len(tensors) == n:  # n arrays, the rules, no contexts
        return list(tensors), template[n], ()
    saved = iter(tensors)
    inputs = [next(saved) if a is _TENSOR else a for a in ctx.template]
    return inputs[:n], inputs[n], tuple(inputs[n + 1 :])


class _Value(_Bridged):
    @staticmethod
    def forward(x: Any, rules: Rules, *ctx: Any) -> Any:
        return _back(rules.value(x.detach(), _plain(ctx)), x)

    @staticmethod
    def backward(ctx: Any, gy: Any) -> Any:
        (x,), rules, extra = _split(ctx, 1)
        return (_apply(_Pullback, x, gy, rules, *extra), None, *(None,) * len(extra))

    @staticmethod
    def jvp(ctx: Any, tx: Any, *_: Any) -> Any:
        (x,), rules, extra = _split(ctx, 1)
        return _apply(_Pushforward, x, tx, rules, *extra)


class _Pushforward(_Bridged):
    @staticmethod
    def forward(x: Any, t: Any, rules: Rules, *ctx: Any) -> Any:
        return _back(rules.pushforward(x.detach(), _plain(ctx), (t.detach(),))[0], x)

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        (x, t), rules, extra = _split(ctx, 2)
        gx = _apply(_HVP, x, g, t, rules, *extra) if ctx.needs_input_grad[0] else None
        gt = _apply(_Pullback, x, g, rules, *extra) if ctx.needs_input_grad[1] else None
        return (gx, gt, None, *(None,) * len(extra))

    @staticmethod
    def jvp(ctx: Any, dx: Any, dt: Any, *_: Any) -> Any:
        (x, t), rules, extra = _split(ctx, 2)
        terms = []
        if dx is not None:
            terms.append(_apply(_Pushforward2, x, t, dx, rules, *extra))
        if dt is not None:
            terms.append(_apply(_Pushforward, x, dt, rules, *extra))
        return sum(terms[1:], terms[0]) if terms else None


class _Pullback(_Bridged):
    @staticmethod
    def forward(x: Any, u: Any, rules: Rules, *ctx: Any) -> Any:
        return _back(rules.pullback(x.detach(), _plain(ctx), (u.detach(),))[0], x)

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        (x, u), rules, extra = _split(ctx, 2)
        gx = _apply(_HVP, x, u, g, rules, *extra) if ctx.needs_input_grad[0] else None
        gu = _apply(_Pushforward, x, g, rules, *extra) if ctx.needs_input_grad[1] else None
        return (gx, gu, None, *(None,) * len(extra))

    @staticmethod
    def jvp(ctx: Any, dx: Any, du: Any, *_: Any) -> Any:
        (x, u), rules, extra = _split(ctx, 2)
        terms = []
        if dx is not None:
            terms.append(_apply(_HVP, x, u, dx, rules, *extra))
        if du is not None:
            terms.append(_apply(_Pullback, x, du, rules, *extra))
        return sum(terms[1:], terms[0]) if terms else None


class _HVP(_Bridged):
    @staticmethod
    def forward(x: Any, u: Any, dx: Any, rules: Rules, *ctx: Any) -> Any:
        return _back(rules.hvp(x.detach(), _plain(ctx), u.detach(), (dx.detach(),))[0], x)

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        (x, u, _dx), rules, extra = _split(ctx, 3)
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            _refuse("a third derivative (the derivative of a Hessian-vector product)")
        gdx = _apply(_HVP, x, u, g, rules, *extra) if ctx.needs_input_grad[2] else None
        return (None, None, gdx, None, *(None,) * len(extra))

    @staticmethod
    def jvp(ctx: Any, dx_: Any, du: Any, ddx: Any, *_: Any) -> Any:
        (x, u, _dx), rules, extra = _split(ctx, 3)
        if dx_ is not None or du is not None:
            _refuse("a third derivative (the derivative of a Hessian-vector product)")
        return _apply(_HVP, x, u, ddx, rules, *extra)


class _Pushforward2(_Bridged):
    """``D^2 f(x)[t, dx]``, symmetric in ``(t, dx)``; its adjoint in either is an hvp."""

    @staticmethod
    def forward(x: Any, t: Any, dx: Any, rules: Rules, *ctx: Any) -> Any:
        out = rules.second_pushforward(x.detach(), _plain(ctx), t.detach(), (dx.detach(),))
        return _back(out[0], x)

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        (x, t, dx), rules, extra = _split(ctx, 3)
        if ctx.needs_input_grad[0]:
            _refuse("a third derivative (the derivative of a second directional derivative)")
        gt = _apply(_HVP, x, g, dx, rules, *extra) if ctx.needs_input_grad[1] else None
        gdx = _apply(_HVP, x, g, t, rules, *extra) if ctx.needs_input_grad[2] else None
        return (None, gt, gdx, None, *(None,) * len(extra))

    @staticmethod
    def jvp(ctx: Any, dx_: Any, dt: Any, ddx: Any, *_: Any) -> Any:
        (x, t, dx), rules, extra = _split(ctx, 3)
        if dx_ is not None:
            _refuse("a third derivative (the derivative of a second directional derivative)")
        terms = []
        if dt is not None:
            terms.append(_apply(_Pushforward2, x, dt, dx, rules, *extra))
        if ddx is not None:
            terms.append(_apply(_Pushforward2, x, t, ddx, rules, *extra))
        return sum(terms[1:], terms[0]) if terms else None


def _unwrapper() -> Any:
    with contextlib.suppress(Exception):  # a private module: if it moves, the general path
        from torch._functorch.utils import unwrap_dead_wrappers

        return unwrap_dead_wrappers
    return None


_UNWRAP_DEAD = _unwrapper()
_TRANSFORMS_ACTIVE = torch._C._are_functorch_transforms_active


_GRAD_ENABLED = torch.is_grad_enabled


def _apply(function: type[torch.autograd.Function], *args: Any) -> Any:
    if _UNWRAP_DEAD is None or _TRANSFORMS_ACTIVE():
        return function.apply(*args)  # type: ignore[no-untyped-call]
    if not _GRAD_ENABLED() and getattr(_forward_ad, "_current_level", 0) < 0:
        # Nothing records this call (no graph without grad mode, e.g. a first-order
        # backward pass; no forward-mode level): the forward alone, without the node
        return function.forward(*args)
    # What Function.apply does outside torch.func transforms, without the inspect.signature
    # binding of default arguments it runs first (20 µs a call; these forwards have none)
    return super(torch.autograd.Function, function).apply(*_UNWRAP_DEAD(args))  # type: ignore[misc]


def _plain(ctx: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(c.detach() if isinstance(c, torch.Tensor) else c for c in ctx)

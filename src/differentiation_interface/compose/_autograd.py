"""The HIPS autograd bridge: a function autograd cannot trace, made autograd primitives.

The value, the pushforward ``J(x) t``, the pullback ``J(x)^T u`` and ``hvp``
``sum_i u_i H_i(x) dx`` are primitives whose VJPs (and JVPs) are again these primitives, so
``autograd.grad`` costs one pullback of the backend, and ``autograd.hessian`` of a function
using the bridge works (second order). A third derivative raises.
"""

from __future__ import annotations

from typing import Any

from autograd.extend import defjvp, defvjp, primitive

from .._array import to_numpy
from ..errors import UnsupportedOperationError
from ._rules import Rules

__all__ = ["call"]


def call(rules: Rules, x: Any, ctx: tuple[Any, ...]) -> Any:
    """``f(x, *ctx)`` for an ``x`` that autograd is differentiating."""
    return _value(x, rules, ctx)


def _refuse(*_: Any) -> Any:
    msg = (
        "di.DifferentiateWith: autograd asked for a derivative of higher order than the "
        "bridge provides (first derivatives, and the second derivative of a gradient). Use "
        "the backend itself for this derivative, e.g. di.hessian."
    )
    raise UnsupportedOperationError(msg)


@primitive  # type: ignore[untyped-decorator]
def _value(x: Any, rules: Rules, ctx: tuple[Any, ...]) -> Any:
    return to_numpy(rules.value(x, ctx))


@primitive  # type: ignore[untyped-decorator]
def _pushforward(x: Any, t: Any, rules: Rules, ctx: tuple[Any, ...]) -> Any:
    return to_numpy(rules.pushforward(x, ctx, (t,))[0])


@primitive  # type: ignore[untyped-decorator]
def _pullback(x: Any, u: Any, rules: Rules, ctx: tuple[Any, ...]) -> Any:
    return to_numpy(rules.pullback(x, ctx, (u,))[0])


@primitive  # type: ignore[untyped-decorator]
def _pushforward2(x: Any, t: Any, dx: Any, rules: Rules, ctx: tuple[Any, ...]) -> Any:
    return to_numpy(rules.second_pushforward(x, ctx, t, (dx,))[0])


@primitive  # type: ignore[untyped-decorator]
def _hvp(x: Any, u: Any, dx: Any, rules: Rules, ctx: tuple[Any, ...]) -> Any:
    return to_numpy(rules.hvp(x, ctx, u, (dx,))[0])


defvjp(_value, lambda _ans, x, rules, ctx: lambda g: _pullback(x, g, rules, ctx))
defjvp(_value, lambda g, _ans, x, rules, ctx: _pushforward(x, g, rules, ctx))

defvjp(
    _pushforward,
    lambda _ans, x, t, rules, ctx: lambda g: _hvp(x, g, t, rules, ctx),
    lambda _ans, x, _t, rules, ctx: lambda g: _pullback(x, g, rules, ctx),
)
defjvp(
    _pushforward,
    lambda g, _ans, x, t, rules, ctx: _pushforward2(x, t, g, rules, ctx),
    lambda g, _ans, x, _t, rules, ctx: _pushforward(x, g, rules, ctx),
)

defvjp(
    _pullback,
    lambda _ans, x, u, rules, ctx: lambda g: _hvp(x, u, g, rules, ctx),
    lambda _ans, x, _u, rules, ctx: lambda g: _pushforward(x, g, rules, ctx),
)
defjvp(
    _pullback,
    lambda g, _ans, x, u, rules, ctx: _hvp(x, u, g, rules, ctx),
    lambda g, _ans, x, _u, rules, ctx: _pullback(x, g, rules, ctx),
)

defvjp(
    _hvp,
    lambda *_: _refuse,
    lambda *_: _refuse,
    lambda _ans, x, u, _dx, rules, ctx: lambda g: _hvp(x, u, g, rules, ctx),
)
defjvp(_hvp, _refuse, _refuse, lambda g, _ans, x, u, _dx, rules, ctx: _hvp(x, u, g, rules, ctx))

defvjp(
    _pushforward2,
    lambda *_: _refuse,
    lambda _ans, x, _t, dx, rules, ctx: lambda g: _hvp(x, g, dx, rules, ctx),
    lambda _ans, x, t, _dx, rules, ctx: lambda g: _hvp(x, g, t, rules, ctx),
)
defjvp(
    _pushforward2,
    _refuse,
    lambda g, _ans, x, _t, dx, rules, ctx: _pushforward2(x, g, dx, rules, ctx),
    lambda g, _ans, x, t, _dx, rules, ctx: _pushforward2(x, t, g, rules, ctx),
)

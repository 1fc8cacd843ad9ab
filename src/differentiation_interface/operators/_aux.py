"""Auxiliary outputs (``has_aux=True``, JAX's convention): ``f`` returns ``(y, aux)``.

``aux`` (any pytree, arrays or not) is not differentiated and comes back as computed at
``x``. The engines see :class:`AuxSplit`, which returns ``y`` and offers ``aux`` to the
collection the call has open (:func:`~differentiation_interface.backends._base.collecting_aux`);
the call keeps the first offer that is a value (not an array bound to an engine's
transformation). Every engine's pass evaluates ``f`` at ``x`` first when the value is asked
for, which the call does: the tape's forward pass (torch, autograd), the primal of a dual
pass, finite differences' ``f(x)``. JAX evaluates ``f`` for ``aux`` inside the same compiled
program as the derivative (XLA merges the two evaluations). Where no pass offers a value —
torch's batched forward passes (several tangents, forward Jacobians), sparse backends' fused
programs — ``f`` is evaluated once more, at ``x``, for ``aux`` alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._array import constant, convert, device_of, is_array, namespace_of
from .._tree import flatten
from ..backends._base import collecting_aux, offer_aux
from ..errors import FunctionOutputError, PreparationMismatchError, UnsupportedOperationError
from ._table import OperatorSpec

__all__ = ["AuxSplit", "call", "check_prep"]


class AuxSplit:
    """``f`` with auxiliary output, as the engines see it: returns ``y``, offers ``aux``.

    Equal to another split of an equal ``f`` (preparations compare functions with ``==``).
    """

    __slots__ = ("f",)
    has_aux = True

    def __init__(self, f: Any) -> None:
        self.f = f

    @property
    def __wrapped__(self) -> Any:
        """The user's ``f`` (what the unprepared cache watches for changes)."""
        return self.f

    def __call__(self, x: Any, *args: Any) -> Any:
        out = self.f(x, *args)
        if not isinstance(out, tuple) or len(out) != 2:
            kind = type(out).__name__ if not isinstance(out, tuple) else f"tuple of {len(out)}"
            msg = (
                f"with has_aux=True, f must return a pair (y, aux); it returned a {kind}. "
                "Return (y, aux), or call without has_aux."
            )
            raise FunctionOutputError(msg)
        offer_aux(out[1])
        return out[0]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AuxSplit) and (other.f is self.f or other.f == self.f)

    def __hash__(self) -> int:
        return hash((AuxSplit, self.f))

    def __repr__(self) -> str:
        return f"{self.f!r} (has_aux)"


def check_prep(op: OperatorSpec, prep: Any, has_aux: bool) -> None:
    """A preparation serves calls with the ``has_aux`` it was made with."""
    prepared = isinstance(getattr(prep, "f", None), AuxSplit)
    if prep is None or prepared == has_aux:
        return
    made, given = ("with", "without") if prepared else ("without", "with")
    msg = (
        f"`{op.name}` was given a preparation made {made} has_aux=True, and called {given} "
        f"it: pass the same has_aux to `prepare_{op.name}` and to the call."
    )
    raise PreparationMismatchError(msg)


def call(
    op: OperatorSpec,
    f: Any,
    backend: Any,
    x: Any,
    tangents: Any,
    contexts: tuple[Any, ...],
    y: Any,
    prep: Any,
    out: Any,
    *,
    value: bool,
) -> Any:
    """An operator call with ``has_aux=True``: ``(result, aux)`` or ``((y, aux), result)``."""
    from . import _call

    check_prep(op, prep, True)
    if y is not None:
        msg = (
            f"`{op.name}` with has_aux=True takes a one-argument f returning (y, aux); "
            "two-argument functions f(y, x) (y=) have no auxiliary output."
        )
        raise UnsupportedOperationError(msg)
    split = AuxSplit(f)
    with collecting_aux() as box:
        y0, result = _call.call(
            op, split, backend, x, tangents, contexts, y, prep, out, value=True, quick=False
        )
    # no pass evaluated f at x unbatched: once more, for aux alone
    aux = deliver(box.aux if box.found else _evaluate(f, x, contexts), x)
    if value:
        return (y0, aux), result
    return result, aux


def _evaluate(f: Any, x: Any, contexts: tuple[Any, ...]) -> Any:
    out = f(x, *(c.value for c in contexts))
    if not isinstance(out, tuple) or len(out) != 2:
        msg = "with has_aux=True, f must return a pair (y, aux)."
        raise FunctionOutputError(msg)
    return out[1]


def deliver(aux: Any, x: Any) -> Any:
    """``aux`` as computed at ``x``: array leaves detached from every engine and in the
    namespace and on the device of ``x`` (of its first leaf); other leaves as they are."""
    like = flatten(x)[0][0] if not is_array(x) else x
    return _map(aux, namespace_of(like), device_of(like))


def _map(node: Any, xp: Any, device: Any) -> Any:
    """Array leaves of containers converted; anything else (numbers, strings) kept."""
    if isinstance(node, np.generic) or is_array(node):
        a = constant(node)  # (an autograd box's value may be a numpy scalar)
        if isinstance(a, np.generic):  # numpy arithmetic makes 0-d arrays scalars
            a = np.asarray(a)
        return a if namespace_of(a) is xp else convert(a, xp, device)
    if isinstance(node, tuple) and hasattr(node, "_fields"):
        return type(node)(*(_map(v, xp, device) for v in node))
    if isinstance(node, (tuple, list)):
        return type(node)(_map(v, xp, device) for v in node)
    if isinstance(node, dict):
        return type(node)((k, _map(v, xp, device)) for k, v in node.items())
    return node

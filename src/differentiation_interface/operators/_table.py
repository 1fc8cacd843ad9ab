"""The operator table: every fact about every operator, written once.

Dispatch (:mod:`._dispatch`), validation (:mod:`._validate`), the call path (:mod:`._call`,
:mod:`._fastpath`), the testing companion, the command line, the conformance report and the
tests all read this table; no other module spells the list of operators. Adding an operator
means a row here, its public module ``_<name>.py`` (literal signatures and docstrings, as
DifferentiationInterface.jl writes each operator by hand) and, optionally, a fallback.

Results
-------
A plan's ``run`` returns ``(value, *results)``: ``value`` is the primal ``f(x)`` (for ``hvp``,
whose value-and variant is ``gradient_and_hvp``, the gradient is the first *result* and there
is no primal), then one entry per :class:`Result`. The plain variant returns the last result,
the value-and variant all of them. A result computed once per tangent travels stacked along a
leading axis and is handed back as a tuple.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from ._first_order import (
    DerivativeViaPushforward,
    GradientViaPullback,
    PullbackViaPushforward,
    PushforwardViaPullback,
    jacobian_fallback,
)
from ._second_order import HessianViaHVP, SecondDerivativeNested, hvp_fallback

__all__ = ["NAMES", "OPERATORS", "SECOND_ORDER", "OperatorSpec", "Result"]

#: The shape of a result, from the shapes of ``x`` and ``y = f(x)``.
ShapeRule = Literal["x", "y", "jacobian", "hessian"]
#: The dtype of a result: ``x``'s, ``y``'s, or their promotion (Jacobians).
DtypeRule = Literal["x", "y", "promoted"]


@dataclass(frozen=True, slots=True)
class Result:
    """One derivative an operator returns: what ``out=`` must look like to receive it."""

    what: str  # in messages: "`gradient` ... out= for the gradient"
    shape: ShapeRule
    dtype: DtypeRule
    per_tangent: bool = False  # one array per tangent (a tuple), stacked inside plans

    def shape_for(self, x_shape: tuple[int, ...], y_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The result's shape for these shapes of ``x`` and ``f(x)``."""
        if self.shape == "x":
            return x_shape
        if self.shape == "y":
            return y_shape
        n = math.prod(x_shape)
        return (math.prod(y_shape), n) if self.shape == "jacobian" else (n, n)


@dataclass(frozen=True, slots=True)
class OperatorSpec:
    """Static facts about one operator.

    Attributes
    ----------
    name : str
        The plain public function, e.g. ``"gradient"``.
    value_and : str
        The value-and variant, e.g. ``"value_and_gradient"``.
    seeds : {"x", "y"} or None
        ``"x"``: takes tangents like ``x``; ``"y"``: cotangents like ``f(x)``; None: neither.
    scalar_input, scalar_output : bool
        ``x`` (resp. ``f(x)``) must be 0-d.
    inplace : bool
        Accepts two-argument functions ``f(y, x)`` through ``y=``.
    order : int
        1 or 2.
    primal : bool
        Whether plans return the primal value first (all but ``hvp``).
    results : tuple of Result
        The derivatives returned after the primal, in order.
    fallback : callable
        ``fallback(engine, fn, x, seeds, y)``: the generic plan when the engine has no native
        one. First-order fallbacks use ``engine``; second-order ones ``engine.outer`` over
        ``engine.inner``.
    needs : {"forward", "reverse"} or None
        The primitive the fallback is derived from, when that is a property of the engine.
    derived_from : str
        How the fallback works, in words (the capability matrix prints it).
    holomorphic : bool
        With complex ``x`` the result is a complex matrix (or number), which exists only
        for a holomorphic ``f``: preparation checks it (:mod:`._complex`).
    """

    name: str
    value_and: str
    seeds: Literal["x", "y"] | None
    scalar_input: bool
    scalar_output: bool
    inplace: bool
    order: int
    primal: bool
    results: tuple[Result, ...]
    fallback: Callable[[Any, Any, Any, Any, Any], Any]
    needs: Literal["forward", "reverse"] | None
    derived_from: str
    holomorphic: bool = False
    #: Indices of the results whose shape follows ``f(x)``'s: a call checks them against the
    #: preparation, since an engine may compute them for another output shape (derived from
    #: ``results``, stored because the speed tiers read it at every call).
    y_shaped: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        shaped = tuple(i for i, r in enumerate(self.results) if r.shape in ("y", "jacobian"))
        object.__setattr__(self, "y_shaped", shaped)

    @property
    def hook(self) -> str:
        """The :class:`~differentiation_interface.backends.Engine` method preparing a native
        plan (``prepare_<name>``)."""
        return f"prepare_{self.name}"

    @property
    def prepare(self) -> str:
        """The public preparation function."""
        return f"prepare_{self.name}"

    @property
    def prepare_same_point(self) -> str | None:
        """The public same-point preparation, for operators with tangents."""
        return None if self.seeds is None else f"prepare_{self.name}_same_point"

    @property
    def tangents(self) -> bool:
        """Whether the operator takes tangents or cotangents."""
        return self.seeds is not None


def _outer_inner(make: Callable[..., Any]) -> Callable[[Any, Any, Any, Any, Any], Any]:
    """A second-order fallback as ``fallback(engine, fn, x, seeds, y)``."""

    def fallback(engine: Any, fn: Any, x: Any, seeds: Any, y: Any) -> Any:
        if seeds is None:
            return make(engine.outer, engine.inner, fn, x, y)
        return make(engine.outer, engine.inner, fn, x, seeds, y)

    return fallback


def _first(make: Callable[..., Any]) -> Callable[[Any, Any, Any, Any, Any], Any]:
    """A first-order fallback without seeds as ``fallback(engine, fn, x, seeds, y)``."""

    def fallback(engine: Any, fn: Any, x: Any, seeds: Any, y: Any) -> Any:
        return make(engine, fn, x, y)

    return fallback


_GRADIENT = Result("the gradient", "x", "x")

OPERATORS: dict[str, OperatorSpec] = {
    spec.name: spec
    for spec in (
        OperatorSpec(
            name="pushforward",
            value_and="value_and_pushforward",
            seeds="x",
            scalar_input=False,
            scalar_output=False,
            inplace=True,
            order=1,
            primal=True,
            results=(Result("tangent", "y", "y", per_tangent=True),),
            fallback=PushforwardViaPullback,
            needs="reverse",
            derived_from="pullbacks",
        ),
        OperatorSpec(
            name="pullback",
            value_and="value_and_pullback",
            seeds="y",
            scalar_input=False,
            scalar_output=False,
            inplace=True,
            order=1,
            primal=True,
            results=(Result("cotangent result", "x", "x", per_tangent=True),),
            fallback=PullbackViaPushforward,
            needs="forward",
            derived_from="pushforwards",
        ),
        OperatorSpec(
            name="derivative",
            value_and="value_and_derivative",
            seeds=None,
            scalar_input=True,
            scalar_output=False,
            inplace=True,
            order=1,
            primal=True,
            results=(Result("the derivative", "y", "y"),),
            fallback=_first(DerivativeViaPushforward),
            needs=None,
            derived_from="pushforward",
            holomorphic=True,
        ),
        OperatorSpec(
            name="gradient",
            value_and="value_and_gradient",
            seeds=None,
            scalar_input=False,
            scalar_output=True,
            inplace=False,
            order=1,
            primal=True,
            results=(_GRADIENT,),
            fallback=_first(GradientViaPullback),
            needs=None,
            derived_from="pullback",
        ),
        OperatorSpec(
            name="jacobian",
            value_and="value_and_jacobian",
            seeds=None,
            scalar_input=False,
            scalar_output=False,
            inplace=True,
            order=1,
            primal=True,
            results=(Result("the Jacobian", "jacobian", "promoted"),),
            fallback=_first(jacobian_fallback),
            needs=None,
            derived_from="pushforwards / pullbacks",
            holomorphic=True,
        ),
        OperatorSpec(
            name="second_derivative",
            value_and="value_derivative_and_second_derivative",
            seeds=None,
            scalar_input=True,
            scalar_output=False,
            inplace=False,
            order=2,
            primal=True,
            results=(
                Result("the derivative", "y", "y"),
                Result("the second derivative", "y", "y"),
            ),
            fallback=_outer_inner(SecondDerivativeNested),
            needs=None,
            derived_from="derivative of derivative",
            holomorphic=True,
        ),
        OperatorSpec(
            name="hvp",
            value_and="gradient_and_hvp",
            seeds="x",
            scalar_input=False,
            scalar_output=True,
            inplace=False,
            order=2,
            primal=False,
            results=(_GRADIENT, Result("product", "x", "x", per_tangent=True)),
            fallback=_outer_inner(hvp_fallback),
            needs=None,
            derived_from="composition",
        ),
        OperatorSpec(
            name="hessian",
            value_and="value_gradient_and_hessian",
            seeds=None,
            scalar_input=False,
            scalar_output=True,
            inplace=False,
            order=2,
            primal=True,
            results=(_GRADIENT, Result("the Hessian", "hessian", "x")),
            fallback=_outer_inner(HessianViaHVP),
            needs=None,
            derived_from="batched hvp",
        ),
    )
}

#: The operator names, in the documentation's order.
NAMES: tuple[str, ...] = tuple(OPERATORS)
#: The second-order operators.
SECOND_ORDER: tuple[str, ...] = tuple(name for name, spec in OPERATORS.items() if spec.order == 2)

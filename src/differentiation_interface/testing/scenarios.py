"""Scenarios: one function at one point for one operator, with closed-form references.

A :class:`Scenario` is data, like DifferentiationInterfaceTest's: the function, the input,
the tangents and contexts, and the expected first- and second-order results. The reference
functions below are written against the Array API, so a scenario converted to another
namespace (:meth:`Scenario.to_namespace`) runs there unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from .._array import convert, namespace_of
from ..contexts import Constant, Context
from ..operators._table import NAMES
from ._leaves import map_leaves

__all__ = ["Scenario", "default_scenarios"]


def _xp(x: Any) -> Any:
    return namespace_of(x)


@dataclasses.dataclass(frozen=True, eq=False)
class Scenario:
    """One function, one point, one operator, and the expected results.

    Parameters
    ----------
    f : callable
        ``f(x, *contexts) -> y``, or ``f(y, x, *contexts) -> None`` when ``y`` is given.
    x : array or pytree
        The point: an array, or a pytree of arrays (nested tuples, lists, dicts,
        namedtuples; ``None`` is an empty subtree).
    operator : str
        One of ``"pushforward"``, ``"pullback"``, ``"derivative"``, ``"gradient"``,
        ``"jacobian"``, ``"second_derivative"``, ``"hvp"``, ``"hessian"``.
    tangents : tuple of arrays or pytrees, optional
        Tangents (pushforward, hvp; each like ``x``) or cotangents (pullback; each like
        ``f(x)``).
    contexts : tuple of Context
        Extra arguments of ``f``; their values may be pytrees of arrays.
    y : array or pytree, optional
        Output buffer of a two-argument function (its initial content is irrelevant).
    res1 : optional
        The first-order result: the operator's result for first-order operators; the
        derivative (second_derivative) or the gradient (hvp, hessian) otherwise. Results
        like ``x`` (gradients, pullback results) have ``x``'s structure, results like
        ``f(x)`` the output's; ``jacobian`` is the 2-D matrix over the raveled trees
        (:func:`~differentiation_interface.ravel`).
    res2 : optional
        The second-order result (second derivative, tuple of products, Hessian over the
        raveled ``x``). A scenario lacking ``res1`` (or, for second order, ``res2``) is
        checked against a backend given as ``test_differentiation(..., reference=...)``;
        without one, a correctness check refuses it.
    name : str, optional
        Identifier used in reports and test ids.

    Examples
    --------
    >>> import numpy as np
    >>> from differentiation_interface.testing import Scenario
    >>> s = Scenario(lambda x: (x**2).sum(), np.ones(2), operator="gradient",
    ...              res1=2 * np.ones(2), name="sumsq")
    >>> s.operator, s.name
    ('gradient', 'sumsq')
    """

    f: Callable[..., Any]
    x: Any
    operator: str
    tangents: tuple[Any, ...] | None = None
    contexts: tuple[Context, ...] = ()
    y: Any = None
    res1: Any = None
    res2: Any = None
    name: str | None = None

    def __post_init__(self) -> None:
        if self.operator not in NAMES:
            msg = f"Scenario operator must be one of {NAMES}; got {self.operator!r}."
            raise ValueError(msg)
        if self.name is None:
            object.__setattr__(self, "name", f"{self.operator}:{getattr(self.f, '__name__', 'f')}")

    @property
    def inplace(self) -> bool:
        """Whether ``f`` is a two-argument function."""
        return self.y is not None

    def to_namespace(self, xp: Any, device: Any = None) -> Scenario:
        """The same scenario with every array converted to ``xp`` (on ``device``).

        Pytrees keep their structure; each leaf keeps its dtype (float64 leaves stay
        float64 in JAX, outside its 64-bit mode too). Context values that
        are not arrays or trees of arrays (numbers, objects) are left as they are.

        Examples
        --------
        >>> import array_api_strict as xps
        >>> from differentiation_interface.testing import default_scenarios, pytree_scenarios
        >>> s = default_scenarios()[0].to_namespace(xps, xps.Device("device1"))
        >>> s.x.device
        array_api_strict.Device('device1')
        >>> t = pytree_scenarios()[0].to_namespace(xps)
        >>> sorted(t.x), type(t.x["w"]).__name__
        (['b', 'w'], 'Array')
        """

        def leaf(a: Any) -> Any:  # (convert keeps a float64 leaf float64 in JAX)
            return convert(np.asarray(a) if isinstance(a, np.generic) else a, xp, device)

        def conv(tree: Any) -> Any:
            if isinstance(tree, Context):
                return type(tree)(map_leaves(leaf, tree.value))
            return map_leaves(leaf, tree)

        return dataclasses.replace(
            self,
            x=conv(self.x),
            tangents=conv(self.tangents),
            contexts=tuple(conv(c) for c in self.contexts),
            y=conv(self.y),
            res1=conv(self.res1),
            res2=conv(self.res2),
        )


# --- reference functions (Array API) and their closed-form derivatives ---------------------


def sin_times_x(x: Any) -> Any:
    """``y = sin(x) * x`` elementwise; ``J = diag(sin(x) + x cos(x))``."""
    xp = _xp(x)
    return xp.sin(x) * x


def sin_times_x_inplace(y: Any, x: Any) -> None:
    """Two-argument version of :func:`sin_times_x`."""
    xp = _xp(x)
    y[...] = xp.sin(x) * x


def scaled_by_sum(x: Any) -> Any:
    """``y = x * sum(x)``; ``J = sum(x) I + x 1^T`` (a dense Jacobian)."""
    xp = _xp(x)
    return x * xp.sum(x)


def circle(t: Any) -> Any:
    """``t -> (cos t, sin t, t**3)`` for a 0-d ``t``."""
    xp = _xp(t)
    return xp.stack([xp.cos(t), xp.sin(t), t**3])


def t_sin_t(t: Any) -> Any:
    """``t sin(t)``; derivative ``sin t + t cos t``, second ``2 cos t - t sin t``."""
    xp = _xp(t)
    return t * xp.sin(t)


def sum_sin_squared(x: Any) -> Any:
    """``sum(sin(x)**2)``; gradient ``sin(2x)``, Hessian ``diag(2 cos(2x))``."""
    xp = _xp(x)
    return xp.sum(xp.sin(x) ** 2)


def norm_times_sum(x: Any) -> Any:
    """``|x|^2 sum(x)``; gradient ``2 s x + |x|^2``, Hessian ``2 s I + 2 x 1^T + 2 1 x^T``."""
    xp = _xp(x)
    return xp.sum(x * x) * xp.sum(x)


def weighted_sum_squares(x: Any, a: Any) -> Any:
    """``sum(a * x**2)`` with a constant ``a``; gradient ``2 a x``."""
    xp = _xp(x)
    return xp.sum(a * x**2)


def default_scenarios(*, dtype: Any = np.float64) -> list[Scenario]:
    """Scenarios covering every operator, with closed-form references (numpy arrays).

    Convert them to other namespaces with :meth:`Scenario.to_namespace`.

    Parameters
    ----------
    dtype : numpy dtype
        Floating dtype of the inputs (``np.float64`` or ``np.float32``).

    Returns
    -------
    list of Scenario

    Examples
    --------
    >>> from differentiation_interface.testing import default_scenarios
    >>> sorted({s.operator for s in default_scenarios()}) == sorted(
    ...     ["pushforward", "pullback", "derivative", "gradient", "jacobian",
    ...      "second_derivative", "hvp", "hessian"])
    True
    """
    x = np.linspace(0.5, 2.0, 4, dtype=dtype)
    X = np.reshape(np.linspace(-1.0, 1.0, 6, dtype=dtype), (2, 3))
    t0 = np.asarray(0.7, dtype=dtype)
    tangents = (np.linspace(1.0, 2.0, 4, dtype=dtype), np.linspace(-1.0, 0.5, 4, dtype=dtype))
    a = np.asarray([1.0, 2.0, 3.0, 4.0], dtype=dtype)

    def elementwise_derivative(v: Any) -> Any:
        return np.sin(v) + v * np.cos(v)

    s = x.sum()
    jac_scaled = s * np.eye(4, dtype=dtype) + np.outer(x, np.ones(4, dtype=dtype))
    sq = float(x @ x)
    grad_nts = 2 * s * x + sq
    hess_nts = (
        2 * s * np.eye(4, dtype=dtype) + 2 * np.outer(x, np.ones(4)) + 2 * np.outer(np.ones(4), x)
    )
    d = elementwise_derivative(x)
    dX = elementwise_derivative(X)
    out = []
    out.append(
        Scenario(
            sin_times_x,
            x,
            operator="pushforward",
            tangents=tangents,
            res1=tuple((d * t).astype(dtype) for t in tangents),
            name="pushforward:vector->vector",
        )
    )
    out.append(
        Scenario(
            sin_times_x,
            X,
            operator="pushforward",
            tangents=(np.ones_like(X),),
            res1=(dX.astype(dtype),),
            name="pushforward:matrix->matrix",
        )
    )
    out.append(
        Scenario(
            sin_times_x_inplace,
            x,
            operator="pushforward",
            tangents=tangents[:1],
            y=np.zeros_like(x),
            res1=((d * tangents[0]).astype(dtype),),
            name="pushforward:inplace",
        )
    )
    out.append(
        Scenario(
            sin_times_x,
            x,
            operator="pullback",
            tangents=tangents,
            res1=tuple((d * t).astype(dtype) for t in tangents),
            name="pullback:vector->vector",
        )
    )
    out.append(
        Scenario(
            scaled_by_sum,
            x,
            operator="pullback",
            tangents=tangents[:1],
            res1=((jac_scaled.T @ tangents[0]).astype(dtype),),
            name="pullback:dense",
        )
    )
    ct, st = np.cos(t0), np.sin(t0)
    d_ts = np.sin(t0) + t0 * np.cos(t0)
    d2_ts = 2 * np.cos(t0) - t0 * np.sin(t0)
    two = np.asarray(2.0, dtype=dtype)
    scalar = [
        ("pushforward", {"tangents": (two,), "res1": (np.asarray(2 * d_ts, dtype=dtype),)}),
        ("derivative", {"res1": np.asarray(d_ts, dtype=dtype)}),
        ("gradient", {"res1": np.asarray(d_ts, dtype=dtype)}),
        (
            "second_derivative",
            {"res1": np.asarray(d_ts, dtype=dtype), "res2": np.asarray(d2_ts, dtype=dtype)},
        ),
        (
            "hessian",
            {"res1": np.asarray(d_ts, dtype=dtype), "res2": np.asarray([[d2_ts]], dtype=dtype)},
        ),
    ]
    for operator, references in scalar:
        out.append(
            Scenario(
                t_sin_t, t0, operator=operator, name=f"{operator}:scalar->scalar", **references
            )  # type: ignore[arg-type]
        )
    out.append(
        Scenario(
            circle,
            t0,
            operator="derivative",
            res1=np.asarray([-st, ct, 3 * t0**2], dtype=dtype),
            name="derivative:scalar->vector",
        )
    )
    out.append(
        Scenario(
            sum_sin_squared,
            x,
            operator="gradient",
            res1=np.sin(2 * x).astype(dtype),
            name="gradient:vector->scalar",
        )
    )
    out.append(
        Scenario(
            sum_sin_squared,
            X,
            operator="gradient",
            res1=np.sin(2 * X).astype(dtype),
            name="gradient:matrix->scalar",
        )
    )
    out.append(
        Scenario(
            weighted_sum_squares,
            x,
            operator="gradient",
            contexts=(Constant(a),),
            res1=(2 * a * x).astype(dtype),
            name="gradient:constant",
        )
    )
    out.append(
        Scenario(
            scaled_by_sum,
            x,
            operator="jacobian",
            res1=jac_scaled.astype(dtype),
            name="jacobian:vector->vector",
        )
    )
    out.append(
        Scenario(
            sin_times_x,
            X,
            operator="jacobian",
            res1=np.diag(dX.reshape(-1)).astype(dtype),
            name="jacobian:matrix->matrix",
        )
    )
    out.append(
        Scenario(
            sin_times_x_inplace,
            x,
            operator="jacobian",
            y=np.zeros_like(x),
            res1=np.diag(d).astype(dtype),
            name="jacobian:inplace",
        )
    )
    out.append(
        Scenario(
            circle,
            t0,
            operator="second_derivative",
            res1=np.asarray([-st, ct, 3 * t0**2], dtype=dtype),
            res2=np.asarray([-ct, -st, 6 * t0], dtype=dtype),
            name="second_derivative:scalar->vector",
        )
    )
    out.append(
        Scenario(
            norm_times_sum,
            x,
            operator="hvp",
            tangents=tangents,
            res1=grad_nts.astype(dtype),
            res2=tuple((hess_nts @ t).astype(dtype) for t in tangents),
            name="hvp:vector->scalar",
        )
    )
    out.append(
        Scenario(
            norm_times_sum,
            x,
            operator="hessian",
            res1=grad_nts.astype(dtype),
            res2=hess_nts.astype(dtype),
            name="hessian:vector->scalar",
        )
    )
    out.append(
        Scenario(
            sum_sin_squared,
            X,
            operator="hessian",
            res1=np.sin(2 * X).astype(dtype),
            res2=np.diag(2 * np.cos(2 * X).reshape(-1)).astype(dtype),
            name="hessian:matrix->scalar",
        )
    )
    return out

"""The two lineax operators: ``FunctionLinearOperator``s over the library's products.

lineax traces an operator's function once, at construction (closure conversion), so the
library's calls inside it run on tracers: preparation happens during that trace, and the
compiled solve contains the engine's own program (JAX engines), never a callback. The point
goes through a ``jax.jit`` of its own, so the library always sees point and vector traced
together, whether the operator is built inside the caller's ``jit`` or outside it. The
transpose of the Jacobian operator is JAX's transpose of that program, which exists for
the JAX engine (and ``AutoSparse``/``SecondOrder`` over it); the Hessian operator is its
own transpose.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import lineax as lx

from .. import operators as ops
from .._array import is_jax_namespace, namespace_name, namespace_of
from .._tree import flatten
from ..adtypes import AbstractBackend
from ..contexts import Context
from ..errors import ArgumentTypeError

__all__ = ["hessian_operator", "jacobian_operator"]


def _structure(x: Any, owner: str) -> Any:
    """``x``'s shapes and dtypes, after checking that its leaves are JAX arrays."""
    leaves, _ = flatten(x)
    for leaf in leaves:
        xp = namespace_of(leaf)
        if not is_jax_namespace(xp):
            msg = (
                f"differentiation_interface.lineax.{owner} builds lineax operators, which "
                f"act on JAX arrays; x has {namespace_name(xp)} arrays. Pass jax.numpy "
                "arrays (jax.numpy.asarray(x)), or use differentiation_interface.scipy."
                f"{owner} for a scipy LinearOperator on any kind of array."
            )
            raise ArgumentTypeError(msg)
    return jax.eval_shape(lambda: x)


class _JacobianOperator(lx.FunctionLinearOperator):  # type: ignore[misc]  # lineax: Any
    """A ``FunctionLinearOperator`` whose transpose is the library's pullback, so that
    ``op.T`` exists for every backend (JAX can only transpose programs that are linear in
    its own primitives, which a finite-difference pushforward is not)."""

    pullback: Any

    def __init__(self, pushforward: Any, pullback: Any, structure: Any) -> None:
        super().__init__(pushforward, structure)
        # closure-converted like lineax's own function: the point may be a tracer
        self.pullback = eqx.filter_closure_convert(pullback, self.out_structure())

    def transpose(self) -> lx.FunctionLinearOperator:
        return lx.FunctionLinearOperator(self.pullback, self.out_structure())


def jacobian_operator(
    f: Any, backend: AbstractBackend, x: Any, *contexts: Context
) -> lx.FunctionLinearOperator:
    """The Jacobian of ``f`` at ``x`` as a lazy lineax operator.

    ``op.mv(v)`` is the pushforward ``J v`` computed by ``backend`` and ``op.T.mv(w)`` the
    pullback ``Jᵀ w``; the matrix is never formed. Inputs and outputs keep ``x``'s and
    ``f(x)``'s pytree structure, shapes and dtypes, as lineax operators do. Usable in
    ``lineax.linear_solve`` inside or outside ``jax.jit`` (built inside, ``x`` may be a
    tracer).

    Parameters
    ----------
    f : callable
        ``f(x, *contexts) -> array`` (or pytree), written for JAX arrays.
    backend : AbstractBackend
        A backend that runs inside JAX's transformations: ``AutoJAX``, ``AutoFiniteDiff``,
        ``AutoSparse`` or ``SecondOrder`` over them.
    x : JAX array or pytree of JAX arrays
        The point.
    *contexts : Constant or Cache
        Extra arguments of ``f``.

    Returns
    -------
    lineax.FunctionLinearOperator

    Raises
    ------
    ArgumentTypeError
        ``x`` is not made of JAX arrays.

    Examples
    --------
    >>> import jax, jax.numpy as jnp, lineax as lx
    >>> import differentiation_interface as di
    >>> from differentiation_interface.lineax import jacobian_operator
    >>> f = lambda x: x**3 + jnp.roll(x, 1)
    >>> @jax.jit
    ... def newton_step(x):
    ...     op = jacobian_operator(f, di.AutoJAX(mode="forward"), x)
    ...     return x - lx.linear_solve(op, f(x) - 4.0, lx.GMRES(rtol=1e-6, atol=1e-6)).value
    >>> x = jnp.full(3, 1.5)
    >>> for _ in range(8):
    ...     x = newton_step(x)
    >>> [round(float(v), 4) for v in x]
    [1.3788, 1.3788, 1.3788]
    """
    structure = _structure(x, "jacobian_operator")

    @jax.jit
    def pushforward_at(point: Any, v: Any) -> Any:
        return ops.pushforward(f, backend, point, (v,), *contexts)[0]

    @jax.jit
    def pullback_at(point: Any, w: Any) -> Any:
        return ops.pullback(f, backend, point, (w,), *contexts)[0]

    return _JacobianOperator(lambda v: pushforward_at(x, v), lambda w: pullback_at(x, w), structure)


def hessian_operator(
    f: Any, backend: AbstractBackend, x: Any, *contexts: Context
) -> lx.FunctionLinearOperator:
    """The Hessian of the scalar ``f`` at ``x`` as a lazy lineax operator tagged symmetric.

    ``op.mv(v)`` is the Hessian-vector product computed by ``backend``; the matrix is never
    formed, and ``lineax.symmetric_tag`` lets solvers such as ``lineax.CG`` accept it (add
    ``lineax.positive_semidefinite_tag`` yourself with ``lineax.TaggedLinearOperator``
    when you know it holds). Usable in ``lineax.linear_solve`` inside or outside
    ``jax.jit``.

    Parameters
    ----------
    f : callable
        ``f(x, *contexts) -> 0-d array``, written for JAX arrays.
    backend : AbstractBackend
        A backend that runs inside JAX's transformations: ``AutoJAX``, ``AutoFiniteDiff``,
        ``AutoSparse`` or ``SecondOrder`` over them.
    x : JAX array or pytree of JAX arrays
        The point.
    *contexts : Constant or Cache
        Extra arguments of ``f``.

    Returns
    -------
    lineax.FunctionLinearOperator
        Tagged ``lineax.symmetric_tag``.

    Raises
    ------
    ArgumentTypeError
        ``x`` is not made of JAX arrays.

    Examples
    --------
    >>> import jax, jax.numpy as jnp, lineax as lx
    >>> import differentiation_interface as di
    >>> from differentiation_interface.lineax import hessian_operator
    >>> f = lambda x: jnp.sum(x**4) + x[0] * x[1]            # H = [[12, 1], [1, 12]] at ones
    >>> @jax.jit
    ... def solve(x, b):
    ...     op = hessian_operator(f, di.AutoJAX(), x)
    ...     op = lx.TaggedLinearOperator(op, lx.positive_semidefinite_tag)
    ...     return lx.linear_solve(op, b, lx.CG(rtol=1e-6, atol=1e-6)).value
    >>> [round(float(v), 4) for v in solve(jnp.ones(2), jnp.array([13.0, 13.0]))]
    [1.0, 1.0]
    """
    structure = _structure(x, "hessian_operator")

    @jax.jit
    def hvp_at(point: Any, v: Any) -> Any:
        return ops.hvp(f, backend, point, (v,), *contexts)[0]

    return lx.FunctionLinearOperator(lambda v: hvp_at(x, v), structure, lx.symmetric_tag)

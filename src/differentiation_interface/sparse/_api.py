"""``jacobian_sparsity`` and ``hessian_sparsity``: patterns without differentiating."""

from __future__ import annotations

from typing import Any

from .._array import namespace_of, precision_scope
from ..backends import Fn
from ..errors import ArgumentTypeError
from ..operators._validate import check_contexts, check_x
from ._selectors import AbstractSparsityDetector, TracerLocalSparsityDetector

__all__ = ["hessian_sparsity", "jacobian_sparsity"]


def _check(name: str, x: Any, detector: Any, contexts: tuple[Any, ...]) -> Any:
    """``x`` checked as every operator checks it (numpy scalars as 0-d arrays), and the
    detector and contexts."""
    x = check_x(name, x)
    if not isinstance(detector, AbstractSparsityDetector):
        msg = (
            f"`{name}` takes a sparsity detector such as di.TracerSparsityDetector() as third "
            f"argument; got {detector!r}."
        )
        raise ArgumentTypeError(msg)
    check_contexts(name, contexts)
    return x


def jacobian_sparsity(
    f: Any, x: Any, detector: AbstractSparsityDetector, *contexts: Any, y: Any = None
) -> Any:
    """The sparsity pattern of the Jacobian of ``f`` at ``x``.

    Parameters
    ----------
    f : callable
        ``f(x, *contexts) -> y``, or ``f(y, x, *contexts) -> None`` when ``y`` is given.
    x : array
        The point (of any namespace); with :class:`TracerSparsityDetector` only its shape and
        dtype matter.
    detector : AbstractSparsityDetector
        :class:`TracerSparsityDetector`, :class:`TracerLocalSparsityDetector` (the pattern at
        ``x``), :class:`DenseSparsityDetector` or
        :class:`KnownJacobianSparsity`.
    *contexts : Constant or Cache
        Extra arguments of ``f``.
    y : array, optional
        Output buffer of a two-argument function.

    Returns
    -------
    scipy.sparse.csr_array
        Boolean, shape ``(f(x).size, x.size)``, in C (row-major) order like ``jacobian``.

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> from array_api_compat import array_namespace
    >>> def f(x):
    ...     xp = array_namespace(x)
    ...     return xp.roll(x, 1) * x
    >>> di.jacobian_sparsity(f, np.zeros(3), di.TracerSparsityDetector()).toarray()
    array([[ True, False,  True],
           [ True,  True, False],
           [False,  True,  True]])
    """
    from ._detection import TRACERS, detect_jacobian, trace

    x = _check("jacobian_sparsity", x, detector, contexts)
    xp = namespace_of(x)
    fn = Fn(f, contexts, y)
    with precision_scope(xp, x, *(c.value for c in contexts)):
        if isinstance(detector, TRACERS):
            local = isinstance(detector, TracerLocalSparsityDetector)
            return trace(fn, x, second_order=False, local=local)[0]
        return detect_jacobian(detector, fn, x, fn(x))


def hessian_sparsity(f: Any, x: Any, detector: AbstractSparsityDetector, *contexts: Any) -> Any:
    """The (symmetric) sparsity pattern of the Hessian of a scalar ``f`` at ``x``.

    Parameters
    ----------
    f : callable
        ``f(x, *contexts) -> 0-d array``.
    x : array
        The point (of any namespace).
    detector : AbstractSparsityDetector
        :class:`TracerSparsityDetector`, :class:`TracerLocalSparsityDetector` (the pattern at
        ``x``), :class:`DenseSparsityDetector` or
        :class:`KnownHessianSparsity`.
    *contexts : Constant or Cache
        Extra arguments of ``f``.

    Returns
    -------
    scipy.sparse.csr_array
        Boolean, shape ``(x.size, x.size)``.

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> from array_api_compat import array_namespace
    >>> def rosenbrock(x):
    ...     xp = array_namespace(x)
    ...     return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    >>> di.hessian_sparsity(rosenbrock, np.zeros(4), di.TracerSparsityDetector()).toarray()
    array([[ True,  True, False, False],
           [ True,  True,  True, False],
           [False,  True,  True,  True],
           [False, False,  True,  True]])
    """
    from ._detection import TRACERS, detect_hessian, trace

    x = _check("hessian_sparsity", x, detector, contexts)
    xp = namespace_of(x)
    fn = Fn(f, contexts)
    with precision_scope(xp, x, *(c.value for c in contexts)):
        if isinstance(detector, TRACERS):
            local = isinstance(detector, TracerLocalSparsityDetector)
            _, pattern, shape = trace(fn, x, second_order=True, local=local)
            if shape != ():
                from ..errors import FunctionOutputError

                msg = (
                    f"`hessian_sparsity` needs f to return a 0-d array; it returned shape {shape}."
                )
                raise FunctionOutputError(msg)
            return pattern
        return detect_hessian(detector, fn, x, fn(x))

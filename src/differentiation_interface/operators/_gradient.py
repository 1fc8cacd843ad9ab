"""``gradient``: the gradient of a real scalar function."""

from __future__ import annotations

from .._typing import Array, Function
from ..adtypes import AbstractBackend
from ..contexts import Context
from ..prep import Prep
from ._call import call, prepare
from ._docs import fill
from ._fastpath import cached_express, quick_call
from ._table import OPERATORS
from ._trees import TreePrep, express_call

__all__ = ["gradient", "prepare_gradient", "value_and_gradient"]

_OP = OPERATORS["gradient"]


@fill
def prepare_gradient(
    f: Function,
    backend: AbstractBackend,
    x: Array,
    *contexts: Context,
    strict: bool = True,
    has_aux: bool = False,
) -> Prep:
    """Prepare :func:`gradient` for arguments like these.

    Parameters
    ----------
    {f}
    {backend}
    {x}
    {contexts}
    {strict}
    {has_aux}

    Returns
    -------
    {prep_returns}

    See Also
    --------
    gradient, value_and_gradient

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> f = lambda x: (x**2).sum()
    >>> backend = di.AutoFiniteDiff()
    >>> prep = di.prepare_gradient(f, backend, np.zeros(3))
    >>> for k in range(3):
    ...     g = di.gradient(f, backend, np.full(3, float(k)), prep=prep)
    >>> np.allclose(g, 4.0)
    True
    """
    return prepare(_OP, f, backend, x, None, contexts, None, strict=strict, has_aux=has_aux)


@fill
def gradient(
    f: Function,
    backend: AbstractBackend,
    x: Array,
    *contexts: Context,
    prep: Prep | None = None,
    out: Array | None = None,
    has_aux: bool = False,
) -> Array:
    """Gradient of a real-valued function returning a 0-d array.

    Parameters
    ----------
    {f}
    {backend}
    {x}
    {contexts}
    {prep}
    out : array, optional
        An array like ``x`` to write the gradient into.
    {has_aux}

    Returns
    -------
    array
        Like ``x`` (``out`` if given).

    Raises
    ------
    FunctionOutputError
        If ``f(x)`` is not a real 0-d array (use :func:`jacobian` for vector outputs).

    Notes
    -----
    {out_note}

    For complex ``x`` the gradient is ``df/dRe x + 1j * df/dIm x`` (the convention of PyTorch
    and ChainRules; JAX's and autograd's results are conjugated to match).

    See Also
    --------
    value_and_gradient, pullback, hessian

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> from array_api_compat import array_namespace
    >>> def f(x):
    ...     xp = array_namespace(x)
    ...     return xp.sum(xp.sin(x) ** 2)
    >>> x = np.linspace(0.0, 1.0, 5)
    >>> g = di.gradient(f, di.AutoFiniteDiff(), x)
    >>> np.allclose(g, np.sin(2 * x))
    True
    """
    if out is None and not has_aux:
        if type(prep) is TreePrep:  # a prepared pytree: the engine's own check of the tree
            result = express_call("gradient", prep, f, backend, x, contexts)
            if result is not None:
                return result
        elif not contexts:
            express = (
                prep.express
                if type(prep) is Prep
                else cached_express("gradient", f, backend, x, prep)
            )
            if express is not None:
                result = express("gradient", f, backend, x)
                if result is not None:
                    return result
    return call(_OP, f, backend, x, None, contexts, None, prep, out, value=False, has_aux=has_aux)


@fill
def value_and_gradient(
    f: Function,
    backend: AbstractBackend,
    x: Array,
    *contexts: Context,
    prep: Prep | None = None,
    out: Array | None = None,
    has_aux: bool = False,
) -> tuple[Array, Array]:
    """``f(x)`` and its gradient.

    Parameters
    ----------
    {f}
    {backend}
    {x}
    {contexts}
    {prep}
    out : array, optional
        An array like ``x`` to write the gradient (not the value) into.
    {has_aux}

    Returns
    -------
    y : array
        ``f(x)``, a 0-d array.
    grad : array
        Like ``x``.

    Notes
    -----
    {out_note}

    See Also
    --------
    gradient

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> y, g = di.value_and_gradient(lambda x: (x**2).sum(), di.AutoFiniteDiff(), np.ones(2))
    >>> float(y), bool(np.allclose(g, 2.0))
    (2.0, True)
    """
    # the quick tier, one frame nearer (it serves no value-and call with contexts or out=)
    if not contexts and out is None and not has_aux:
        result = quick_call(_OP, f, backend, x, None, prep, value=True)
        if result is not None:
            return result  # type: ignore[no-any-return]
    return call(  # type: ignore[no-any-return]
        _OP,
        f,
        backend,
        x,
        None,
        contexts,
        None,
        prep,
        out,
        value=True,
        quick=False,
        has_aux=has_aux,
    )

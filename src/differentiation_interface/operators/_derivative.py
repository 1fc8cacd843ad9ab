"""``derivative``: the derivative of a function of a 0-d array."""

from __future__ import annotations

from .._typing import Array, Function
from ..adtypes import AbstractBackend
from ..contexts import Context
from ..prep import Prep
from ._call import call, prepare
from ._docs import fill
from ._fastpath import cached_express
from ._table import OPERATORS

__all__ = ["derivative", "prepare_derivative", "value_and_derivative"]

_OP = OPERATORS["derivative"]


@fill
def prepare_derivative(
    f: Function,
    backend: AbstractBackend,
    x: Array,
    *contexts: Context,
    y: Array | None = None,
    strict: bool = True,
    has_aux: bool = False,
) -> Prep:
    """Prepare :func:`derivative` for arguments like these.

    Parameters
    ----------
    {f_inplace}
    {backend}
    {x0d}
    {contexts}
    {y}
    {strict}
    {has_aux}

    Returns
    -------
    {prep_returns}

    See Also
    --------
    derivative

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> f = lambda t: t**2
    >>> prep = di.prepare_derivative(f, di.AutoFiniteDiff(), np.asarray(0.0))
    >>> d = di.derivative(f, di.AutoFiniteDiff(), np.asarray(3.0), prep=prep)
    >>> bool(np.isclose(d, 6.0))
    True
    """
    return prepare(_OP, f, backend, x, None, contexts, y, strict=strict, has_aux=has_aux)


@fill
def derivative(
    f: Function,
    backend: AbstractBackend,
    x: Array,
    *contexts: Context,
    prep: Prep | None = None,
    out: Array | None = None,
    y: Array | None = None,
    has_aux: bool = False,
) -> Array:
    """Derivative ``f'(x)`` of a function of a 0-d array ``x``.

    Parameters
    ----------
    {f_inplace}
    {backend}
    {x0d}
    {contexts}
    {prep}
    out : array, optional
        An array like ``f(x)`` to write the derivative into.
    {y}
    {has_aux}

    Returns
    -------
    array
        Like ``f(x)`` (``out`` if given).

    Notes
    -----
    {out_note}

    See Also
    --------
    value_and_derivative, second_derivative, pushforward

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> curve = lambda t: np.stack([np.cos(t), np.sin(t)])
    >>> d = di.derivative(curve, di.AutoFiniteDiff(), np.asarray(0.0))
    >>> np.allclose(d, [0.0, 1.0])
    True
    """
    if not contexts and out is None and y is None and not has_aux:
        express = (
            prep.express
            if type(prep) is Prep
            else cached_express("derivative", f, backend, x, prep)
        )
        if express is not None:
            result = express("derivative", f, backend, x)
            if result is not None:
                return result
    return call(_OP, f, backend, x, None, contexts, y, prep, out, value=False, has_aux=has_aux)


@fill
def value_and_derivative(
    f: Function,
    backend: AbstractBackend,
    x: Array,
    *contexts: Context,
    prep: Prep | None = None,
    out: Array | None = None,
    y: Array | None = None,
    has_aux: bool = False,
) -> tuple[Array, Array]:
    """``f(x)`` and its derivative, for a 0-d array ``x``.

    Parameters
    ----------
    {f_inplace}
    {backend}
    {x0d}
    {contexts}
    {prep}
    out : array, optional
        An array like ``f(x)`` to write the derivative (not the value) into.
    {y}
    {has_aux}

    Returns
    -------
    y : array
        ``f(x)`` (the ``y`` buffer itself for two-argument functions).
    der : array
        The derivative, like ``f(x)``.

    Notes
    -----
    {out_note}

    See Also
    --------
    derivative

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> y, d = di.value_and_derivative(np.exp, di.AutoFiniteDiff(), np.asarray(0.0))
    >>> float(y), bool(np.isclose(d, 1.0))
    (1.0, True)
    """
    return call(_OP, f, backend, x, None, contexts, y, prep, out, value=True, has_aux=has_aux)  # type: ignore[no-any-return]

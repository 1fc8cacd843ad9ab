"""``second_derivative``: the second derivative of a function of a 0-d array."""

from __future__ import annotations

from .._typing import Array, Function
from ..adtypes import AbstractBackend
from ..contexts import Context
from ..prep import Prep
from ._call import call, prepare
from ._docs import fill
from ._fastpath import cached_express
from ._table import OPERATORS

__all__ = [
    "prepare_second_derivative",
    "second_derivative",
    "value_derivative_and_second_derivative",
]

_OP = OPERATORS["second_derivative"]


@fill
def prepare_second_derivative(
    f: Function, backend: AbstractBackend, x: Array, *contexts: Context, strict: bool = True
) -> Prep:
    """Prepare :func:`second_derivative` for arguments like these.

    Parameters
    ----------
    {f}
    {backend}
    {x0d}
    {contexts}
    {strict}

    Returns
    -------
    {prep_returns}

    See Also
    --------
    second_derivative

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> f = lambda t: t**3
    >>> prep = di.prepare_second_derivative(f, di.AutoFiniteDiff(), np.asarray(0.0))
    >>> d2 = di.second_derivative(f, di.AutoFiniteDiff(), np.asarray(2.0), prep=prep)
    >>> bool(np.isclose(d2, 12.0))
    True
    """
    return prepare(_OP, f, backend, x, None, contexts, None, strict=strict)


@fill
def second_derivative(
    f: Function,
    backend: AbstractBackend,
    x: Array,
    *contexts: Context,
    prep: Prep | None = None,
    out: Array | None = None,
) -> Array:
    """Second derivative ``f''(x)`` of a function of a 0-d array ``x``.

    Parameters
    ----------
    {f}
    {backend}
    {x0d}
    {contexts}
    {prep}
    out : array, optional
        An array like ``f(x)`` to write the second derivative into.

    Returns
    -------
    array
        Like ``f(x)`` (``out`` if given).

    Notes
    -----
    {out_note}

    A plain backend is used over itself; :class:`~differentiation_interface.SecondOrder`
    chooses the outer and inner backends.

    See Also
    --------
    value_derivative_and_second_derivative, derivative

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> d2 = di.second_derivative(np.sin, di.AutoFiniteDiff(), np.asarray(1.0))
    >>> bool(np.isclose(d2, -np.sin(1.0), atol=1e-6))
    True
    """
    if not contexts and out is None:
        express = (
            prep.express
            if type(prep) is Prep
            else cached_express("second_derivative", f, backend, x, prep)
        )
        if express is not None:
            result = express("second_derivative", f, backend, x)
            if result is not None:
                return result
    return call(_OP, f, backend, x, None, contexts, None, prep, out, value=False)


@fill
def value_derivative_and_second_derivative(
    f: Function,
    backend: AbstractBackend,
    x: Array,
    *contexts: Context,
    prep: Prep | None = None,
    out: tuple[Array, Array] | None = None,
) -> tuple[Array, Array, Array]:
    """``f(x)``, its derivative and its second derivative, for a 0-d array ``x``.

    Parameters
    ----------
    {f}
    {backend}
    {x0d}
    {contexts}
    {prep}
    out : tuple of two arrays, optional
        ``(der, der2)``, each like ``f(x)``.

    Returns
    -------
    y, der, der2 : arrays
        ``f(x)`` and its first and second derivatives, each like ``f(x)``.

    Notes
    -----
    {out_note}

    See Also
    --------
    second_derivative

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> y, d, d2 = di.value_derivative_and_second_derivative(
    ...     lambda t: t**3, di.AutoFiniteDiff(), np.asarray(1.0)
    ... )
    >>> float(y), bool(np.isclose(d, 3.0)), bool(np.isclose(d2, 6.0))
    (1.0, True, True)
    """
    return call(_OP, f, backend, x, None, contexts, None, prep, out, value=True)  # type: ignore[no-any-return]

"""``pullback``: vector-Jacobian products ``J(x)^H w`` (reverse mode)."""

from __future__ import annotations

from .._typing import Array, Function, Tangents
from ..adtypes import AbstractBackend
from ..contexts import Context
from ..prep import Prep
from ._call import call, prepare
from ._docs import fill
from ._fastpath import express_one
from ._table import OPERATORS

__all__ = ["prepare_pullback", "prepare_pullback_same_point", "pullback", "value_and_pullback"]

_OP = OPERATORS["pullback"]


@fill
def prepare_pullback(
    f: Function,
    backend: AbstractBackend,
    x: Array,
    ty: Tangents,
    *contexts: Context,
    y: Array | None = None,
    strict: bool = True,
    has_aux: bool = False,
) -> Prep:
    """Prepare :func:`pullback` for arguments like these.

    Parameters
    ----------
    {f_inplace}
    {backend}
    {x}
    {ty}
    {contexts}
    {y}
    {strict}
    {has_aux}

    Returns
    -------
    {prep_returns}

    See Also
    --------
    pullback, prepare_pullback_same_point

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> f = lambda x: x**2
    >>> prep = di.prepare_pullback(f, di.AutoFiniteDiff(), np.zeros(2), (np.zeros(2),))
    >>> (tx,) = di.pullback(f, di.AutoFiniteDiff(), np.ones(2), (np.ones(2),), prep=prep)
    >>> np.allclose(tx, 2.0)
    True
    """
    return prepare(_OP, f, backend, x, ty, contexts, y, strict=strict, has_aux=has_aux)


@fill
def prepare_pullback_same_point(
    f: Function,
    backend: AbstractBackend,
    x: Array,
    ty: Tangents,
    *contexts: Context,
    y: Array | None = None,
    strict: bool = True,
    has_aux: bool = False,
) -> Prep:
    """Prepare :func:`pullback` for repeated calls at this very ``x`` with other cotangents.

    The prep must be used with ``x`` and ``Constant`` contexts equal to the ones given here;
    with ``strict=True`` their values are checked at every call.

    Parameters
    ----------
    {f_inplace}
    {backend}
    {x}
    {ty}
    {contexts}
    {y}
    {strict}
    {has_aux}

    Returns
    -------
    {prep_returns}

    See Also
    --------
    prepare_pullback

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> f = lambda x: x**2
    >>> x = np.array([1.0, 2.0])
    >>> prep = di.prepare_pullback_same_point(f, di.AutoFiniteDiff(), x, (x,))
    >>> (tx,) = di.pullback(f, di.AutoFiniteDiff(), x, (np.ones(2),), prep=prep)
    >>> np.allclose(tx, [2.0, 4.0])
    True
    """
    return prepare(
        _OP, f, backend, x, ty, contexts, y, strict=strict, same_point=True, has_aux=has_aux
    )


@fill
def pullback(
    f: Function,
    backend: AbstractBackend,
    x: Array,
    ty: Tangents,
    *contexts: Context,
    prep: Prep | None = None,
    out: Tangents | None = None,
    y: Array | None = None,
    has_aux: bool = False,
) -> Tangents:
    """Vector-Jacobian products ``J(x)^H w`` for each cotangent ``w``.

    Parameters
    ----------
    {f_inplace}
    {backend}
    {x}
    {ty}
    {contexts}
    {prep}
    out : tuple of arrays, optional
        One array like ``x`` per cotangent, to write the results into.
    {y}
    {has_aux}

    Returns
    -------
    tuple of arrays
        One array like ``x`` per cotangent (the objects of ``out`` if given).

    Notes
    -----
    {out_note}

    For complex numbers the pullback is the adjoint for the real inner product
    ``Re(sum(conj(a) * b))``: ``J^H w`` for holomorphic ``f``, and
    ``w * (df/dRe x + 1j * df/dIm x)`` for real-valued ``f``.

    See Also
    --------
    value_and_pullback, pushforward, gradient

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> f = lambda x: x[:2] * x[1:]  # y_k = x_k x_(k+1)
    >>> x = np.array([1.0, 2.0, 3.0])
    >>> (tx,) = di.pullback(f, di.AutoFiniteDiff(), x, (np.array([1.0, 0.0]),))
    >>> np.allclose(tx, [2.0, 1.0, 0.0])
    True
    """
    express1 = prep.express1 if type(prep) is Prep else None
    if express1 is not None and out is None and y is None and not contexts and not has_aux:
        result = express_one(express1, _OP.name, f, backend, x, ty)
        if result is not None:
            return result
    return call(_OP, f, backend, x, ty, contexts, y, prep, out, value=False, has_aux=has_aux)  # type: ignore[no-any-return]


@fill
def value_and_pullback(
    f: Function,
    backend: AbstractBackend,
    x: Array,
    ty: Tangents,
    *contexts: Context,
    prep: Prep | None = None,
    out: Tangents | None = None,
    y: Array | None = None,
    has_aux: bool = False,
) -> tuple[Array, Tangents]:
    """``f(x)`` and the vector-Jacobian products ``J(x)^H w`` for each cotangent ``w``.

    Parameters
    ----------
    {f_inplace}
    {backend}
    {x}
    {ty}
    {contexts}
    {prep}
    out : tuple of arrays, optional
        One array like ``x`` per cotangent, for the products (not for the value).
    {y}
    {has_aux}

    Returns
    -------
    y : array
        ``f(x)`` (the ``y`` buffer itself for two-argument functions).
    tx : tuple of arrays
        One array like ``x`` per cotangent.

    Notes
    -----
    {out_note}

    See Also
    --------
    pullback

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> y, (tx,) = di.value_and_pullback(
    ...     lambda x: 3.0 * x, di.AutoFiniteDiff(), np.ones(2), (np.ones(2),)
    ... )
    >>> np.allclose(y, 3.0), np.allclose(tx, 3.0)
    (True, True)
    """
    return call(_OP, f, backend, x, ty, contexts, y, prep, out, value=True, has_aux=has_aux)  # type: ignore[no-any-return]

"""``hvp``: Hessian-vector products ``H(x) t`` of a real scalar function."""

from __future__ import annotations

from .._typing import Array, Function, Tangents
from ..adtypes import AbstractBackend
from ..contexts import Context
from ..prep import Prep
from ._call import call, prepare
from ._docs import fill
from ._fastpath import express_one
from ._table import OPERATORS

__all__ = ["gradient_and_hvp", "hvp", "prepare_hvp", "prepare_hvp_same_point"]

_OP = OPERATORS["hvp"]


@fill
def prepare_hvp(
    f: Function,
    backend: AbstractBackend,
    x: Array,
    tx: Tangents,
    *contexts: Context,
    strict: bool = True,
) -> Prep:
    """Prepare :func:`hvp` for arguments like these.

    Parameters
    ----------
    {f}
    {backend}
    {x}
    {tx}
    {contexts}
    {strict}

    Returns
    -------
    {prep_returns}

    See Also
    --------
    hvp, prepare_hvp_same_point

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> f = lambda x: (x**3).sum()
    >>> prep = di.prepare_hvp(f, di.AutoFiniteDiff(), np.zeros(2), (np.zeros(2),))
    >>> (hv,) = di.hvp(f, di.AutoFiniteDiff(), np.ones(2), (np.ones(2),), prep=prep)
    >>> np.allclose(hv, 6.0)
    True
    """
    return prepare(_OP, f, backend, x, tx, contexts, None, strict=strict)


@fill
def prepare_hvp_same_point(
    f: Function,
    backend: AbstractBackend,
    x: Array,
    tx: Tangents,
    *contexts: Context,
    strict: bool = True,
) -> Prep:
    """Prepare :func:`hvp` for repeated calls at this very ``x`` with other tangents.

    The prep must be used with ``x`` and ``Constant`` contexts equal to the ones given here;
    with ``strict=True`` their values are checked at every call.

    Parameters
    ----------
    {f}
    {backend}
    {x}
    {tx}
    {contexts}
    {strict}

    Returns
    -------
    {prep_returns}

    See Also
    --------
    prepare_hvp

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> f = lambda x: (x**3).sum()
    >>> x = np.ones(2)
    >>> prep = di.prepare_hvp_same_point(f, di.AutoFiniteDiff(), x, (x,))
    >>> (hv,) = di.hvp(f, di.AutoFiniteDiff(), x, (np.array([1.0, 0.0]),), prep=prep)
    >>> np.allclose(hv, [6.0, 0.0])
    True
    """
    return prepare(_OP, f, backend, x, tx, contexts, None, strict=strict, same_point=True)


@fill
def hvp(
    f: Function,
    backend: AbstractBackend,
    x: Array,
    tx: Tangents,
    *contexts: Context,
    prep: Prep | None = None,
    out: Tangents | None = None,
) -> Tangents:
    """Hessian-vector products ``H(x) t`` for each tangent ``t``.

    Parameters
    ----------
    {f}
    {backend}
    {x}
    {tx}
    {contexts}
    {prep}
    out : tuple of arrays, optional
        One array like ``x`` per tangent, to write the products into.

    Returns
    -------
    tuple of arrays
        One array like ``x`` per tangent (the objects of ``out`` if given).

    Notes
    -----
    {out_note}

    A plain backend is used over itself (forward over reverse where the engine has both
    modes); :class:`~differentiation_interface.SecondOrder` chooses the outer and inner
    backends, and the mode follows from their traits (forward over reverse, reverse over
    forward, or reverse over reverse). For complex ``x`` the product is the derivative of the
    gradient (``df/dRe x + 1j * df/dIm x``) along ``t``.

    See Also
    --------
    gradient_and_hvp, hessian

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> f = lambda x: x[0] ** 2 * x[1]
    >>> x = np.array([1.0, 2.0])
    >>> (hv,) = di.hvp(f, di.AutoFiniteDiff(), x, (np.array([1.0, 0.0]),))
    >>> np.allclose(hv, [4.0, 2.0])
    True
    """
    if type(prep) is Prep and prep.express1 is not None and out is None and not contexts:
        result = express_one(prep.express1, _OP.name, f, backend, x, tx)
        if result is not None:
            return result
    return call(_OP, f, backend, x, tx, contexts, None, prep, out, value=False)  # type: ignore[no-any-return]


@fill
def gradient_and_hvp(
    f: Function,
    backend: AbstractBackend,
    x: Array,
    tx: Tangents,
    *contexts: Context,
    prep: Prep | None = None,
    out: tuple[Array, Tangents] | None = None,
) -> tuple[Array, Tangents]:
    """The gradient of ``f`` and its Hessian-vector products ``H(x) t``.

    Parameters
    ----------
    {f}
    {backend}
    {x}
    {tx}
    {contexts}
    {prep}
    out : tuple, optional
        ``(grad, (tg_1, ..., tg_B))``: an array like ``x`` and one per tangent.

    Returns
    -------
    grad : array
        Like ``x``.
    tg : tuple of arrays
        One array like ``x`` per tangent.

    Notes
    -----
    {out_note}

    See Also
    --------
    hvp, gradient

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> g, (hv,) = di.gradient_and_hvp(
    ...     lambda x: (x**2).sum(), di.AutoFiniteDiff(), np.ones(2), (np.ones(2),)
    ... )
    >>> np.allclose(g, 2.0), np.allclose(hv, 2.0)
    (True, True)
    """
    return call(_OP, f, backend, x, tx, contexts, None, prep, out, value=True)  # type: ignore[no-any-return]

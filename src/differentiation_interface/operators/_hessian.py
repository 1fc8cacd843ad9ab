"""``hessian``: the Hessian matrix of a real scalar function, shape ``(x.size, x.size)``."""

from __future__ import annotations

from .._typing import Array, Function
from ..adtypes import AbstractBackend
from ..contexts import Context
from ..prep import Prep
from ._call import call, prepare
from ._docs import fill
from ._fastpath import cached_express
from ._table import OPERATORS

__all__ = ["hessian", "prepare_hessian", "value_gradient_and_hessian"]

_OP = OPERATORS["hessian"]


@fill
def prepare_hessian(
    f: Function, backend: AbstractBackend, x: Array, *contexts: Context, strict: bool = True
) -> Prep:
    """Prepare :func:`hessian` for arguments like these.

    Parameters
    ----------
    {f}
    {backend}
    {x}
    {contexts}
    {strict}

    Returns
    -------
    {prep_returns}

    See Also
    --------
    hessian

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> f = lambda x: (x**3).sum()
    >>> prep = di.prepare_hessian(f, di.AutoFiniteDiff(), np.zeros(2))
    >>> H = di.hessian(f, di.AutoFiniteDiff(), np.ones(2), prep=prep)
    >>> np.allclose(H, 6.0 * np.eye(2))
    True
    """
    return prepare(_OP, f, backend, x, None, contexts, None, strict=strict)


@fill
def hessian(
    f: Function,
    backend: AbstractBackend,
    x: Array,
    *contexts: Context,
    prep: Prep | None = None,
    out: Array | None = None,
) -> Array:
    """Hessian matrix of a real scalar function, shape ``(x.size, x.size)``.

    Entry ``[i, j]`` is the second derivative with respect to ``x.flat[i]`` and
    ``x.flat[j]`` (C order).

    Parameters
    ----------
    {f}
    {backend}
    {x}
    {contexts}
    {prep}
    out : array, optional
        A 2-D array of shape ``(x.size, x.size)`` and ``x``'s dtype.

    Returns
    -------
    array
        2-D, ``x``'s dtype (``out`` if given).

    Notes
    -----
    {out_note}

    Complex ``x`` is rejected: the Hessian of a real function of complex variables is not a
    complex matrix; use :func:`hvp`.

    See Also
    --------
    value_gradient_and_hessian, hvp

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> f = lambda x: x[0] ** 2 * x[1]
    >>> H = di.hessian(f, di.AutoFiniteDiff(), np.array([1.0, 2.0]))
    >>> np.allclose(H, [[4.0, 2.0], [2.0, 0.0]])
    True
    """
    if not contexts and out is None:
        express = (
            prep.express if type(prep) is Prep else cached_express("hessian", f, backend, x, prep)
        )
        if express is not None:
            result = express("hessian", f, backend, x)
            if result is not None:
                return result
    return call(_OP, f, backend, x, None, contexts, None, prep, out, value=False)


@fill
def value_gradient_and_hessian(
    f: Function,
    backend: AbstractBackend,
    x: Array,
    *contexts: Context,
    prep: Prep | None = None,
    out: tuple[Array, Array] | None = None,
) -> tuple[Array, Array, Array]:
    """``f(x)``, its gradient and its Hessian matrix.

    Parameters
    ----------
    {f}
    {backend}
    {x}
    {contexts}
    {prep}
    out : tuple of two arrays, optional
        ``(grad, hess)``: an array like ``x`` and a 2-D ``(x.size, x.size)`` array.

    Returns
    -------
    y : array
        ``f(x)``, a 0-d array.
    grad : array
        Like ``x``.
    hess : array
        2-D, shape ``(x.size, x.size)``.

    Notes
    -----
    {out_note}

    See Also
    --------
    hessian

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> y, g, H = di.value_gradient_and_hessian(
    ...     lambda x: (x**2).sum(), di.AutoFiniteDiff(), np.ones(2)
    ... )
    >>> float(y), bool(np.allclose(g, 2.0)), bool(np.allclose(H, 2.0 * np.eye(2)))
    (2.0, True, True)
    """
    return call(_OP, f, backend, x, None, contexts, None, prep, out, value=True)  # type: ignore[no-any-return]

"""``pushforward``: Jacobian-vector products ``J(x) t`` (forward mode)."""

from __future__ import annotations

from .._typing import Array, Function, Tangents
from ..adtypes import AbstractBackend
from ..contexts import Context
from ..prep import Prep
from ._call import call, prepare
from ._docs import fill
from ._fastpath import express_one
from ._table import OPERATORS

__all__ = [
    "prepare_pushforward",
    "prepare_pushforward_same_point",
    "pushforward",
    "value_and_pushforward",
]

_OP = OPERATORS["pushforward"]


@fill
def prepare_pushforward(
    f: Function,
    backend: AbstractBackend,
    x: Array,
    tx: Tangents,
    *contexts: Context,
    y: Array | None = None,
    strict: bool = True,
    has_aux: bool = False,
) -> Prep:
    """Prepare :func:`pushforward` for arguments like these.

    Parameters
    ----------
    {f_inplace}
    {backend}
    {x}
    {tx}
    {contexts}
    {y}
    {strict}
    {has_aux}

    Returns
    -------
    {prep_returns}

    See Also
    --------
    pushforward, prepare_pushforward_same_point

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> f = lambda x: x**2
    >>> backend = di.AutoFiniteDiff()
    >>> prep = di.prepare_pushforward(f, backend, np.zeros(3), (np.zeros(3),))
    >>> (ty,) = di.pushforward(f, backend, np.ones(3), (np.ones(3),), prep=prep)
    >>> np.allclose(ty, 2.0)
    True
    """
    return prepare(_OP, f, backend, x, tx, contexts, y, strict=strict, has_aux=has_aux)


@fill
def prepare_pushforward_same_point(
    f: Function,
    backend: AbstractBackend,
    x: Array,
    tx: Tangents,
    *contexts: Context,
    y: Array | None = None,
    strict: bool = True,
    has_aux: bool = False,
) -> Prep:
    """Prepare :func:`pushforward` for repeated calls at this very ``x`` with other tangents.

    Engines may do more work up front for one point (JAX linearizes, reverse engines keep the
    forward pass). The prep must then be used with ``x`` and ``Constant`` contexts equal to
    the ones given here; with ``strict=True`` their values are checked at every call.

    Parameters
    ----------
    {f_inplace}
    {backend}
    {x}
    {tx}
    {contexts}
    {y}
    {strict}
    {has_aux}

    Returns
    -------
    {prep_returns}

    See Also
    --------
    prepare_pushforward

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> f = lambda x: x**2
    >>> x = np.array([1.0, 2.0])
    >>> prep = di.prepare_pushforward_same_point(f, di.AutoFiniteDiff(), x, (x,))
    >>> (ty,) = di.pushforward(f, di.AutoFiniteDiff(), x, (np.ones(2),), prep=prep)
    >>> np.allclose(ty, [2.0, 4.0])
    True
    """
    return prepare(
        _OP, f, backend, x, tx, contexts, y, strict=strict, same_point=True, has_aux=has_aux
    )


@fill
def pushforward(
    f: Function,
    backend: AbstractBackend,
    x: Array,
    tx: Tangents,
    *contexts: Context,
    prep: Prep | None = None,
    out: Tangents | None = None,
    y: Array | None = None,
    has_aux: bool = False,
) -> Tangents:
    """Jacobian-vector products ``J(x) t`` for each tangent ``t``.

    Parameters
    ----------
    {f_inplace}
    {backend}
    {x}
    {tx}
    {contexts}
    {prep}
    out : tuple of arrays, optional
        One array like ``f(x)`` per tangent, to write the results into.
    {y}
    {has_aux}

    Returns
    -------
    tuple of arrays
        One array like ``f(x)`` per tangent (the objects of ``out`` if given).

    Notes
    -----
    {out_note}

    For holomorphic ``f`` of complex ``x`` this is the complex product ``J t``; in general
    it is the directional derivative of ``f`` along ``t``.

    See Also
    --------
    value_and_pushforward, pullback, jacobian

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> f = lambda x: x**3
    >>> x = np.array([1.0, 2.0])
    >>> t1, t2 = di.pushforward(f, di.AutoFiniteDiff(), x, (np.array([1.0, 0.0]), np.ones(2)))
    >>> np.allclose(t1, [3.0, 0.0]), np.allclose(t2, [3.0, 12.0])
    (True, True)
    """
    express1 = prep.express1 if type(prep) is Prep else None
    if express1 is not None and out is None and y is None and not contexts and not has_aux:
        result = express_one(express1, _OP.name, f, backend, x, tx)
        if result is not None:
            return result
    return call(_OP, f, backend, x, tx, contexts, y, prep, out, value=False, has_aux=has_aux)  # type: ignore[no-any-return]


@fill
def value_and_pushforward(
    f: Function,
    backend: AbstractBackend,
    x: Array,
    tx: Tangents,
    *contexts: Context,
    prep: Prep | None = None,
    out: Tangents | None = None,
    y: Array | None = None,
    has_aux: bool = False,
) -> tuple[Array, Tangents]:
    """``f(x)`` and the Jacobian-vector products ``J(x) t`` for each tangent ``t``.

    Parameters
    ----------
    {f_inplace}
    {backend}
    {x}
    {tx}
    {contexts}
    {prep}
    out : tuple of arrays, optional
        One array like ``f(x)`` per tangent, for the products (not for the value).
    {y}
    {has_aux}

    Returns
    -------
    y : array
        ``f(x)`` (the ``y`` buffer itself for two-argument functions).
    ty : tuple of arrays
        One array like ``f(x)`` per tangent.

    Notes
    -----
    {out_note}

    See Also
    --------
    pushforward

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> y, (ty,) = di.value_and_pushforward(
    ...     lambda x: x**2, di.AutoFiniteDiff(), np.array([3.0]), (np.ones(1),)
    ... )
    >>> float(y[0]), bool(np.allclose(ty, 6.0))
    (9.0, True)
    """
    return call(_OP, f, backend, x, tx, contexts, y, prep, out, value=True, has_aux=has_aux)  # type: ignore[no-any-return]

"""``jacobian``: the full Jacobian matrix, shape ``(y.size, x.size)``."""

from __future__ import annotations

from .._typing import Array, Function
from ..adtypes import AbstractBackend
from ..contexts import Context
from ..prep import Prep
from ._call import call, prepare
from ._docs import fill
from ._fastpath import cached_express
from ._table import OPERATORS

__all__ = ["jacobian", "prepare_jacobian", "value_and_jacobian"]

_OP = OPERATORS["jacobian"]


@fill
def prepare_jacobian(
    f: Function,
    backend: AbstractBackend,
    x: Array,
    *contexts: Context,
    y: Array | None = None,
    strict: bool = True,
    has_aux: bool = False,
) -> Prep:
    """Prepare :func:`jacobian` for arguments like these.

    Parameters
    ----------
    {f_inplace}
    {backend}
    {x}
    {contexts}
    {y}
    {strict}
    {has_aux}

    Returns
    -------
    {prep_returns}

    See Also
    --------
    jacobian

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> f = lambda x: x**2
    >>> prep = di.prepare_jacobian(f, di.AutoFiniteDiff(), np.zeros(2))
    >>> J = di.jacobian(f, di.AutoFiniteDiff(), np.array([1.0, 2.0]), prep=prep)
    >>> np.allclose(J, [[2.0, 0.0], [0.0, 4.0]])
    True
    """
    return prepare(_OP, f, backend, x, None, contexts, y, strict=strict, has_aux=has_aux)


@fill
def jacobian(
    f: Function,
    backend: AbstractBackend,
    x: Array,
    *contexts: Context,
    prep: Prep | None = None,
    out: Array | None = None,
    y: Array | None = None,
    has_aux: bool = False,
) -> Array:
    """Jacobian matrix of ``f`` at ``x``, shape ``(y.size, x.size)``.

    Entry ``[i, j]`` is the derivative of ``f(x).flat[i]`` with respect to ``x.flat[j]``,
    both flattened in C (row-major) order, as ``xp.reshape`` does.

    Parameters
    ----------
    {f_inplace}
    {backend}
    {x}
    {contexts}
    {prep}
    out : array, optional
        A 2-D array of shape ``(y.size, x.size)`` and dtype ``result_type(x, y)``.
    {y}
    {has_aux}

    Returns
    -------
    array
        2-D, dtype ``result_type(x.dtype, y.dtype)`` (``out`` if given).

    Notes
    -----
    {out_note}

    For complex ``x``, ``f`` is assumed holomorphic.

    See Also
    --------
    value_and_jacobian, pushforward, pullback

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> f = lambda x: np.stack([x[0] * x[1], x[0] + x[1], x[1] ** 2])
    >>> J = di.jacobian(f, di.AutoFiniteDiff(), np.array([2.0, 3.0]))
    >>> J.shape, bool(np.allclose(J, [[3.0, 2.0], [1.0, 1.0], [0.0, 6.0]]))
    ((3, 2), True)
    """
    if not contexts and out is None and y is None and not has_aux:
        express = (
            prep.express if type(prep) is Prep else cached_express("jacobian", f, backend, x, prep)
        )
        if express is not None:
            result = express("jacobian", f, backend, x)
            if result is not None:
                return result
    return call(_OP, f, backend, x, None, contexts, y, prep, out, value=False, has_aux=has_aux)


@fill
def value_and_jacobian(
    f: Function,
    backend: AbstractBackend,
    x: Array,
    *contexts: Context,
    prep: Prep | None = None,
    out: Array | None = None,
    y: Array | None = None,
    has_aux: bool = False,
) -> tuple[Array, Array]:
    """``f(x)`` and its Jacobian matrix, shape ``(y.size, x.size)``.

    Parameters
    ----------
    {f_inplace}
    {backend}
    {x}
    {contexts}
    {prep}
    out : array, optional
        A 2-D array for the Jacobian (not the value).
    {y}
    {has_aux}

    Returns
    -------
    y : array
        ``f(x)`` (the ``y`` buffer itself for two-argument functions).
    jac : array
        2-D, shape ``(y.size, x.size)``.

    Notes
    -----
    {out_note}

    See Also
    --------
    jacobian

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> y, J = di.value_and_jacobian(lambda x: 2.0 * x, di.AutoFiniteDiff(), np.ones(2))
    >>> np.allclose(y, 2.0), np.allclose(J, 2.0 * np.eye(2))
    (True, True)
    """
    return call(_OP, f, backend, x, None, contexts, y, prep, out, value=True, has_aux=has_aux)  # type: ignore[no-any-return]

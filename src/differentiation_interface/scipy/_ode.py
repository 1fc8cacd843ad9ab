"""``ode_jacobian``: the prepared Jacobian of an ODE right-hand side for ``solve_ivp``."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import operators as ops
from .._array import from_numpy
from ..adtypes import AbstractBackend
from ..contexts import Constant, Context
from ._flat import FlatLayout
from ._matrices import to_scipy_matrix

__all__ = ["ode_jacobian"]


class _StateFirst:
    """``rhs(t, y, *args)`` as the library's ``g(y, t, *args)``: the state is what is
    differentiated, the time a constant. One object per ``ode_jacobian`` call, so its
    preparation is reused at every ``t``."""

    def __init__(self, rhs: Any) -> None:
        self.rhs = rhs

    def __call__(self, y: Any, t: Any, *args: Any) -> Any:
        return self.rhs(t, y, *args)


def ode_jacobian(
    rhs: Any, backend: AbstractBackend, y0: Any, *contexts: Context, t0: float = 0.0
) -> tuple[Any, Any]:
    """The Jacobian ``∂rhs/∂y`` of an ODE right-hand side, prepared for ``solve_ivp``.

    Parameters
    ----------
    rhs : callable
        ``rhs(t, y, *contexts) -> dy/dt``, written for arrays like ``y0``; ``t`` is passed
        as a 0-d array of ``y0``'s namespace, device and dtype.
    backend : AbstractBackend
        Any backend; with :class:`~differentiation_interface.AutoSparse`, ``jac`` returns a
        ``scipy.sparse.csr_array``, which the implicit solvers (BDF, Radau) factorize as a
        sparse matrix.
    y0 : array or pytree of arrays
        The initial state; real floating.
    *contexts : Constant or Cache
        Extra arguments of ``rhs`` (the values of ``solve_ivp``'s ``args``).
    t0 : float
        The time used for preparation.

    Returns
    -------
    jac : callable
        ``jac(t, y)`` -> float64 numpy ``(n, n)`` or ``scipy.sparse.csr_array``; ``y`` is
        scipy's flat float64 vector.
    jac_sparsity : scipy.sparse.csr_array or None
        The Jacobian's boolean pattern for sparse backends (for solvers that take a pattern
        instead of a Jacobian), None for dense ones.

    Raises
    ------
    ArgumentTypeError
        ``y0`` is not real floating.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.integrate import solve_ivp
    >>> import differentiation_interface as di
    >>> from differentiation_interface.scipy import ode_jacobian
    >>> rhs = lambda t, y: -np.array([1.0, 1000.0]) * y   # stiff, linear
    >>> jac, _ = ode_jacobian(rhs, di.AutoFiniteDiff(), np.ones(2))
    >>> sol = solve_ivp(rhs, (0.0, 1.0), np.ones(2), method="BDF", jac=jac, rtol=1e-8)
    >>> bool(np.isclose(sol.y[0, -1], np.exp(-1.0), rtol=1e-5))
    True
    """
    layout = FlatLayout(y0, "ode_jacobian", "y0")
    layout.check_floating()
    g = _StateFirst(rhs)

    def time(t: float) -> Any:
        return from_numpy(np.asarray(t, dtype=layout.np_dtype), layout.xp, layout.device)

    prep = ops.prepare_jacobian(g, backend, y0, Constant(time(t0)), *contexts)
    pattern = getattr(prep, "sparsity", None)

    def jac(t: float, y: Any, *_: Any) -> Any:
        state = layout.unflatten(y, "y")
        matrix = ops.jacobian(g, backend, state, Constant(time(t)), *contexts, prep=prep)
        return to_scipy_matrix(matrix, pattern, (layout.size, layout.size))

    jac.__doc__ = "The prepared Jacobian of the right-hand side at ``(t, y)``."
    return jac, pattern

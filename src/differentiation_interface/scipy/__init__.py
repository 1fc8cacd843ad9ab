"""scipy interoperability: prepared derivatives in the shape scipy's solvers want.

``scipy.optimize`` (``minimize``, ``least_squares``, ``root``), ``scipy.integrate.solve_ivp``
and ``scipy.sparse.linalg`` work on flat float64 numpy vectors; the adapters here take those,
convert them once per call into the caller's kind of arrays (any namespace, device, dtype,
shape or pytree of ``x0``), call prepared operators of any backend, and hand back float64
numpy (sparse Jacobians as ``scipy.sparse.csr_array``). Needs scipy (``pip install
"differentiation-interface[scipy]"``); ``import differentiation_interface`` does not import
this subpackage.

==========================  ==================================================
name                        for
==========================  ==================================================
:class:`Objective`          ``minimize``: ``fun``, ``jac``, ``hess``, ``hessp``
:class:`Residual`           ``least_squares`` and ``root``: ``fun``, ``jac``
:func:`ode_jacobian`        ``solve_ivp(..., jac=...)`` for stiff methods
:func:`jacobian_operator`   a lazy Jacobian ``LinearOperator`` (gmres, lsqr, ...)
:func:`hessian_operator`    a lazy symmetric Hessian ``LinearOperator`` (cg, ...)
==========================  ==================================================
"""

from ._objective import Objective
from ._ode import ode_jacobian
from ._operators import hessian_operator, jacobian_operator
from ._residual import Residual

__all__ = ["Objective", "Residual", "hessian_operator", "jacobian_operator", "ode_jacobian"]

"""Lazy Jacobians and Hessians as lineax operators, for JAX callers.

``jacobian_operator`` and ``hessian_operator`` return ``lineax.FunctionLinearOperator``s
whose products are the library's pushforward and Hessian-vector product at a fixed point
(the Hessian one tagged ``lineax.symmetric_tag``), so ``lineax.linear_solve`` with CG,
GMRES, ... solves ``J v = b`` or ``H p = -g`` without forming a matrix, inside ``jax.jit``
or not. Needs lineax (``pip install "differentiation-interface[lineax]"``);
``import differentiation_interface`` does not import this subpackage.
"""

from ._operators import hessian_operator, jacobian_operator

__all__ = ["hessian_operator", "jacobian_operator"]

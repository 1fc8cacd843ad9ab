"""differentiation_interface.lineax: lazy operators in lineax.linear_solve, inside jax.jit.

References: scipy's ``rosen_hess`` / ``rosen_hess_prod`` and numpy's dense solves of them, and
the closed-form Broyden tridiagonal Jacobian.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest
from scipy.optimize import rosen_hess, rosen_hess_prod

import differentiation_interface as di
from differentiation_interface.lineax import hessian_operator, jacobian_operator

from .test_scipy import broyden_jacobian, broyden_tridiagonal, rosenbrock

N = 8
rng = np.random.default_rng(1)
X = rng.uniform(0.5, 1.5, N)
P = rng.normal(size=N)


@pytest.mark.parametrize(
    ("backend", "tol"),
    [(di.AutoJAX(), 1e-4), (di.AutoFiniteDiff(), 2e-2)],
    ids=["jax", "finite_diff"],
)
def test_hessian_operator_mv_and_solve_in_jit(backend, tol):
    x = jnp.asarray(X, dtype=jnp.float32)
    op = hessian_operator(rosenbrock, backend, x)
    assert lx.is_symmetric(op)
    assert op.T is op
    np.testing.assert_allclose(
        op.mv(jnp.asarray(P, dtype=jnp.float32)), rosen_hess_prod(X, P), rtol=tol, atol=tol * 100
    )
    np.testing.assert_allclose(op.as_matrix(), rosen_hess(X), rtol=tol, atol=tol * 100)

    ones = np.ones(N)
    b = rng.normal(size=N)

    @jax.jit
    def solve(x, b):
        H = hessian_operator(rosenbrock, backend, x)
        H = lx.TaggedLinearOperator(H, lx.positive_semidefinite_tag)
        return lx.linear_solve(H, b, lx.CG(rtol=1e-10, atol=1e-10, max_steps=200)).value

    # rosen_hess(ones) has condition number ~2e3: float64 (JAX's scoped switch, not the flag)
    with jax.enable_x64(True):
        solution = solve(jnp.ones(N, dtype=jnp.float64), jnp.asarray(b, dtype=jnp.float64))
    assert solution.dtype == np.float64
    expected = np.linalg.solve(rosen_hess(ones), b)
    np.testing.assert_allclose(solution, expected, rtol=tol / 100, atol=tol / 100)


@pytest.mark.parametrize(
    ("backend", "tol"),
    [(di.AutoJAX(mode="forward"), 1e-8), (di.AutoFiniteDiff(), 1e-5)],
    ids=["jax", "finite_diff"],
)
def test_jacobian_operator_gmres_and_transpose_in_jit(backend, tol):
    x = np.linspace(-1.0, 1.0, N)
    dense = broyden_jacobian(x).toarray()
    b = rng.normal(size=N)

    @jax.jit
    def solve(x, b):
        J = jacobian_operator(broyden_tridiagonal, backend, x)
        solver = lx.GMRES(rtol=tol / 1000, atol=tol / 1000, restart=N)
        forward = lx.linear_solve(J, b, solver).value
        transposed = lx.linear_solve(J.T, b, solver).value  # op.T: the library's pullback
        return forward, transposed

    with jax.enable_x64(True):  # float64 inside this block only (not the global flag)
        forward, transposed = solve(jnp.asarray(x), jnp.asarray(b))
    assert forward.dtype == np.float64
    np.testing.assert_allclose(forward, np.linalg.solve(dense, b), rtol=tol, atol=tol)
    np.testing.assert_allclose(transposed, np.linalg.solve(dense.T, b), rtol=tol, atol=tol)


def test_jacobian_operator_sparse_backend_and_pytree_point():
    x = {"u": jnp.asarray([1.0, 2.0]), "v": jnp.asarray(0.5)}

    def f(p):
        return {"out": jnp.stack([p["u"][0] * p["v"], p["u"][1] ** 2, p["v"] ** 3])}

    op = jacobian_operator(f, di.AutoSparse(di.AutoJAX(mode="forward")), x)
    tangent = {"u": jnp.asarray([1.0, 0.0]), "v": jnp.asarray(1.0)}
    # d out = [v du0 + u0 dv, 2 u1 du1, 3 v^2 dv] = [0.5 + 1, 0, 0.75]
    np.testing.assert_allclose(op.mv(tangent)["out"], [1.5, 0.0, 0.75], rtol=1e-6)
    assert op.in_structure()["u"].shape == (2,)


def test_numpy_point_is_refused_with_the_alternative():
    with pytest.raises(di.ArgumentTypeError, match=r"lineax\.hessian_operator.*numpy.*scipy"):
        hessian_operator(rosenbrock, di.AutoJAX(), np.ones(3))

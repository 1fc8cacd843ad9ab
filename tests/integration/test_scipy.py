"""differentiation_interface.scipy on scipy's own problems, end to end.

References are scipy's (``rosen``, ``rosen_der``, ``rosen_hess``, ``rosen_hess_prod``, the
Rosenbrock minimum at ones, solvers run with scipy's own finite differences) or closed forms
(the Broyden tridiagonal Jacobian); none is computed by this library.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import array_api_strict
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from array_api_compat import array_namespace
from scipy.integrate import solve_ivp
from scipy.optimize import (
    least_squares,
    minimize,
    root,
    rosen,
    rosen_der,
    rosen_hess,
    rosen_hess_prod,
)
from scipy.sparse.linalg import LinearOperator, aslinearoperator, cg, gmres

import differentiation_interface as di
from differentiation_interface.scipy import (
    Objective,
    Residual,
    hessian_operator,
    jacobian_operator,
    ode_jacobian,
)

# ---------------------------------------------------------------- problems (Array API)


def rosenbrock(x: Any) -> Any:
    """scipy.optimize.rosen, written for any namespace (scipy's own converts to numpy)."""
    xp = array_namespace(x)
    return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosenbrock_any_shape(x: Any) -> Any:
    xp = array_namespace(x)
    return rosenbrock(xp.reshape(x, (-1,)))


def rosenbrock_tree(params: dict[str, Any]) -> Any:
    xp = array_namespace(params["a"])
    return rosenbrock(xp.concat([params["a"], xp.reshape(params["b"], (-1,))]))


def broyden_tridiagonal(x: Any) -> Any:
    """scipy's least_squares example: (3 - x) x + 1 - x[i-1] - 2 x[i+1] (zero outside)."""
    xp = array_namespace(x)
    zero = xp.zeros_like(x[:1])
    left = xp.concat([zero, x[:-1]])
    right = xp.concat([x[1:], zero])
    return (3.0 - x) * x + 1.0 - left - 2.0 * right


def broyden_jacobian(x: np.ndarray) -> sp.csr_array:
    """The closed form: 3 - 2 x on the diagonal, -1 below, -2 above."""
    n = x.size
    return sp.diags_array(
        [np.full(n - 1, -1.0), 3.0 - 2.0 * x, np.full(n - 1, -2.0)], offsets=[-1, 0, 1]
    ).tocsr()


def _x64(a: np.ndarray) -> Any:
    with jax.enable_x64(True):
        return jnp.asarray(a)


SPARSE_JAX = di.AutoSparse(di.AutoJAX(mode="forward"))
rng = np.random.default_rng(0)
N = 10
X = rng.uniform(-1.0, 2.0, N)
P = rng.normal(size=N)

X_JAX32 = jnp.asarray(X.reshape(2, 5), dtype=jnp.float32)
X_TORCH_TREE = {"a": torch.asarray(X[:4]), "b": torch.asarray(X[4:].reshape(2, 3))}
SPARSE_HESSIAN = di.AutoSparse(di.SecondOrder(di.AutoJAX(mode="forward"), di.AutoJAX()))
FD = di.AutoFiniteDiff()

# (id, backend, f, x0 built from X, rtol of first and second derivatives)
OBJECTIVE_CASES = [
    ("finite_diff-numpy-scipy's-rosen", FD, rosen, X, 1e-6, 1e-4),
    ("jax-numpy", di.AutoJAX(), rosenbrock, X, 1e-12, 1e-12),
    ("jax-float32-2d", di.AutoJAX(), rosenbrock_any_shape, X_JAX32, 1e-4, 1e-4),
    ("jax-float64", di.AutoJAX(), rosenbrock, _x64(X), 1e-12, 1e-12),
    ("torch-tree", di.AutoTorch(), rosenbrock_tree, X_TORCH_TREE, 1e-12, 1e-12),
    ("autograd-numpy", di.AutoAutograd(), rosenbrock, X, 1e-12, 1e-12),
    ("finite_diff-strict", FD, rosenbrock, array_api_strict.asarray(X), 1e-6, 1e-4),
    ("sparse-jax-numpy", SPARSE_HESSIAN, rosenbrock, X, 1e-12, 1e-12),
]


@pytest.mark.parametrize(
    ("backend", "f", "x0", "rtol1", "rtol2"),
    [case[1:] for case in OBJECTIVE_CASES],
    ids=[case[0] for case in OBJECTIVE_CASES],
)
def test_objective_matches_scipy_rosenbrock(backend, f, x0, rtol1, rtol2):
    obj = Objective(f, backend, x0)
    np.testing.assert_allclose(obj.x0, X, rtol=1e-6)
    value = obj.fun(X)
    assert type(value) is float
    np.testing.assert_allclose(value, rosen(X), rtol=rtol1)
    grad = obj.jac(X)
    assert grad.dtype == np.float64
    assert grad.shape == (N,)
    np.testing.assert_allclose(grad, rosen_der(X), rtol=rtol1, atol=rtol1)
    hess = obj.hess(X)
    if isinstance(backend, di.AutoSparse):
        assert sp.issparse(hess)
        hess = hess.toarray()
    assert hess.dtype == np.float64
    np.testing.assert_allclose(hess, rosen_hess(X), rtol=rtol2, atol=100 * rtol2)
    hp = obj.hessp(X, P)
    np.testing.assert_allclose(hp, rosen_hess_prod(X, P), rtol=rtol2, atol=100 * rtol2)
    assert obj.nfev == 1  # fun then jac at one point: one value-and-gradient


@pytest.mark.parametrize(
    ("method", "hessian"),
    [
        ("BFGS", "hessp"),
        ("L-BFGS-B", "hessp"),
        ("Newton-CG", "hessp"),
        ("trust-krylov", "hessp"),
        ("trust-constr", "hess"),
    ],
)
def test_minimize_reaches_the_rosenbrock_minimum(method, hessian):
    obj = Objective(
        rosenbrock, di.AutoTorch(), torch.zeros(N, dtype=torch.float64), hessian=hessian
    )
    kwargs = obj.minimize_kwargs(method)
    assert ("hess" in kwargs) == (hessian == "hess" and method not in {"BFGS", "L-BFGS-B"})
    options = {"gtol": 1e-10, "xtol": 1e-12} if method == "trust-constr" else {}
    result = minimize(obj.fun, obj.x0, method=method, options=options, **kwargs)
    assert result.success, result.message
    np.testing.assert_allclose(result.x, np.ones(N), atol=1e-4)
    np.testing.assert_allclose(obj.unflatten(result.x).numpy(), np.ones(N), atol=1e-4)
    # one value-and-gradient per distinct point, however scipy interleaves fun and jac
    assert obj.nfev <= max(result.nfev, getattr(result, "njev", 0))


def test_fun_then_jac_evaluates_f_once_per_point():
    calls = []

    def counted(x):
        calls.append(1)
        return rosenbrock(x)

    obj = Objective(counted, di.AutoAutograd(), np.zeros(N))
    calls.clear()
    result = minimize(obj.fun, obj.x0, method="BFGS", **obj.minimize_kwargs("BFGS"))
    assert result.success
    assert len(calls) == obj.nfev
    assert obj.nfev <= max(result.nfev, result.njev)
    calls.clear()
    value, grad = obj.fun_and_jac(result.x)  # the point scipy saw last: nothing recomputed
    assert calls == []
    np.testing.assert_allclose(grad, rosen_der(result.x), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(value, rosen(result.x), rtol=1e-10)


@pytest.mark.parametrize(
    ("backend", "x0"),
    [
        (di.AutoJAX(), jnp.zeros(N)),  # float32; JAX results reach numpy read-only
        (di.AutoJAX(), np.zeros(N)),
        (di.AutoTorch(), torch.zeros(N, dtype=torch.float64)),  # a view of the torch result
    ],
    ids=["jax-arrays", "jax-numpy", "torch"],
)
def test_gradients_handed_to_scipy_are_writable_and_never_the_kept_one(backend, x0):
    obj = Objective(rosenbrock, backend, x0)
    for get in (obj.jac, lambda x: obj.fun_and_jac(x)[1]):
        grad = get(X)
        assert grad.flags.writeable
        grad[:] = 0.0  # scipy may write into what it gets
        np.testing.assert_allclose(get(X), rosen_der(X), rtol=1e-5, atol=1e-4)
    assert obj.nfev == 1


def test_minimize_with_jac_true_and_autograd():
    obj = Objective(rosenbrock, di.AutoAutograd(), np.zeros(N))
    result = minimize(obj.fun_and_jac, obj.x0, jac=True, method="L-BFGS-B")
    assert result.success
    np.testing.assert_allclose(result.x, np.ones(N), atol=1e-3)


# ------------------------------------------------------------------ least squares, root

LSQ_N = 1000
SPARSE_TORCH = di.AutoSparse(di.AutoTorch(mode="forward"))
LSQ_CASES = [
    ("jax-forward-numpy", SPARSE_JAX, -np.ones(LSQ_N), 1e-8),
    ("torch-forward-torch", SPARSE_TORCH, -torch.ones(LSQ_N, dtype=torch.float64), 1e-8),
    ("jax-forward-jax-float32", SPARSE_JAX, -jnp.ones(LSQ_N, dtype=jnp.float32), 1e-4),
]  # fmt: skip


@pytest.mark.parametrize(
    ("backend", "x0", "tol"), [c[1:] for c in LSQ_CASES], ids=[c[0] for c in LSQ_CASES]
)
def test_least_squares_broyden_tridiagonal(backend, x0, tol):
    residual = Residual(broyden_tridiagonal, backend, x0)
    start = -np.ones(LSQ_N)
    reference_pattern = broyden_jacobian(start) != 0
    assert (residual.jac_sparsity != reference_pattern).nnz == 0
    jac = residual.jac(start)
    assert sp.issparse(jac)
    assert jac.dtype == np.float64
    np.testing.assert_allclose(jac.toarray(), broyden_jacobian(start).toarray(), rtol=tol)

    result = least_squares(residual.fun, residual.x0, jac=residual.jac)
    # scipy's own sparse finite differences on scipy's own example
    reference = least_squares(broyden_tridiagonal, start, jac_sparsity=reference_pattern)
    assert result.success
    assert result.cost < 1e-10 + tol
    np.testing.assert_allclose(result.x, reference.x, rtol=0, atol=1e3 * tol)


def test_root_hybr_and_lm_against_scipy_finite_differences():
    x0 = -torch.ones(50, dtype=torch.float64)
    residual = Residual(broyden_tridiagonal, di.AutoTorch(), x0)
    reference = root(broyden_tridiagonal, -np.ones(50), method="hybr")
    for method in ("hybr", "lm"):
        result = root(residual.fun, residual.x0, jac=residual.jac, method=method)
        assert result.success
        np.testing.assert_allclose(result.x, reference.x, atol=1e-8)
        np.testing.assert_allclose(broyden_tridiagonal(result.x), 0.0, atol=1e-8)


def test_residual_fun_reuses_the_value_computed_with_the_jacobian():
    calls = []

    def counted(x):
        calls.append(1)
        return broyden_tridiagonal(x)

    residual = Residual(counted, di.AutoAutograd(), np.zeros(5))
    x = np.linspace(0.0, 1.0, 5)
    residual.jac(x)
    calls.clear()
    np.testing.assert_allclose(residual.fun(x), broyden_tridiagonal(x), rtol=1e-14)
    assert calls == []


# --------------------------------------------------------------------------- stiff ODE


def brusselator(t: Any, y: Any, alpha: float) -> Any:
    """The 1-D Brusselator of Hairer & Wanner (II, IV.1): u then v, boundaries u=1, v=3."""
    xp = array_namespace(y)
    m = y.shape[0] // 2
    u, v = y[:m], y[m:]
    c = alpha * (m + 1) ** 2
    one = xp.ones_like(y[:1])
    u_pad = xp.concat([one, u, one])
    v_pad = xp.concat([3.0 * one, v, 3.0 * one])
    du = 1.0 + u * u * v - 4.0 * u + c * (u_pad[:-2] - 2.0 * u + u_pad[2:])
    dv = 3.0 * u - u * u * v + c * (v_pad[:-2] - 2.0 * v + v_pad[2:])
    return xp.concat([du, dv])


def brusselator_pattern(m: int) -> sp.csr_array:
    """Hand-written: each half is tridiagonal, plus the diagonal couplings u_i <-> v_i."""
    tri = sp.diags_array([np.ones(m - 1), np.ones(m), np.ones(m - 1)], offsets=[-1, 0, 1])
    eye = sp.eye_array(m)
    return (sp.block_array([[tri, eye], [eye, tri]]) != 0).tocsr()


def test_solve_ivp_bdf_brusselator_against_scipy_sparse_finite_differences():
    m = 500  # n = 1000
    x = (np.arange(1, m + 1)) / (m + 1)
    y0 = np.concatenate([1.0 + np.sin(2 * np.pi * x), np.full(m, 3.0)])
    alpha = 1.0 / 50.0
    jac, pattern = ode_jacobian(brusselator, SPARSE_JAX, y0, di.Constant(alpha))
    assert (pattern != brusselator_pattern(m)).nnz == 0
    span = (0.0, 10.0)
    kwargs = {"method": "BDF", "rtol": 1e-8, "atol": 1e-10, "args": (alpha,)}
    ours = solve_ivp(brusselator, span, y0, jac=jac, **kwargs)
    reference = solve_ivp(brusselator, span, y0, jac_sparsity=brusselator_pattern(m), **kwargs)
    assert ours.success
    assert reference.success
    np.testing.assert_allclose(ours.y[:, -1], reference.y[:, -1], rtol=1e-5, atol=1e-6)
    assert ours.njev >= 1


def test_ode_jacobian_dense_torch_float32():
    y = np.linspace(0.5, 1.5, 6)
    jac, pattern = ode_jacobian(
        brusselator, di.AutoTorch(), torch.asarray(y, dtype=torch.float32), di.Constant(0.1)
    )
    assert pattern is None
    matrix = jac(0.0, y)
    assert matrix.dtype == np.float64
    assert isinstance(matrix, np.ndarray)
    # each column against central differences of the float64 right-hand side
    h = 1e-6
    columns = [
        (brusselator(0.0, y + h * e, 0.1) - brusselator(0.0, y - h * e, 0.1)) / (2 * h)
        for e in np.eye(6)
    ]
    np.testing.assert_allclose(matrix, np.stack(columns, axis=1), rtol=1e-5, atol=1e-5)


# -------------------------------------------------------------------- linear operators

OPERATOR_BACKENDS = [
    ("jax-numpy", di.AutoJAX(), lambda a: a, 1e-10),
    ("torch-float32", di.AutoTorch(), lambda a: torch.asarray(a, dtype=torch.float32), 1e-4),
    ("finite_diff-numpy", di.AutoFiniteDiff(), lambda a: a, 1e-5),
]


@pytest.mark.parametrize(
    ("backend", "convert", "tol"),
    [c[1:] for c in OPERATOR_BACKENDS],
    ids=[c[0] for c in OPERATOR_BACKENDS],
)
def test_hessian_operator_against_rosen_hess_prod(backend, convert, tol):
    H = hessian_operator(rosenbrock, backend, convert(X))
    assert H.shape == (N, N)
    assert H.dtype == np.float64
    np.testing.assert_allclose(H @ P, rosen_hess_prod(X, P), rtol=tol, atol=100 * tol)
    np.testing.assert_allclose(H.T @ P, rosen_hess_prod(X, P), rtol=tol, atol=100 * tol)
    columns = rng.normal(size=(N, 3))
    np.testing.assert_allclose(H @ columns, rosen_hess(X) @ columns, rtol=tol, atol=100 * tol)
    # scipy's dtype probe: an int8 vector, then a column (n, 1)
    probed = LinearOperator((N, N), matvec=H.matvec)
    assert probed.dtype == np.float64
    ones = np.ones(N, dtype=np.int8)
    np.testing.assert_allclose(H.matvec(ones), rosen_hess(X) @ np.ones(N), rtol=tol, atol=1e2 * tol)
    assert H.matvec(P.reshape(N, 1)).shape == (N, 1)


def test_cg_with_the_hessian_operator_at_the_minimum():
    ones = np.ones(N)
    H = hessian_operator(rosenbrock, di.AutoJAX(), ones)  # positive definite there
    b = rng.normal(size=N)
    solution, info = cg(aslinearoperator(H), b, rtol=1e-12, maxiter=1000)
    assert info == 0
    np.testing.assert_allclose(solution, np.linalg.solve(rosen_hess(ones), b), rtol=1e-6)


@pytest.mark.parametrize(
    ("backend", "convert", "tol"),
    [c[1:] for c in OPERATOR_BACKENDS],
    ids=[c[0] for c in OPERATOR_BACKENDS],
)
def test_jacobian_operator_against_the_closed_form(backend, convert, tol):
    n = 8
    x = np.linspace(-1.0, 1.0, n)
    J = jacobian_operator(broyden_tridiagonal, backend, convert(x))
    dense = broyden_jacobian(x).toarray()
    v, w = rng.normal(size=n), rng.normal(size=n)
    np.testing.assert_allclose(J @ v, dense @ v, rtol=tol, atol=tol)
    np.testing.assert_allclose(J.T @ w, dense.T @ w, rtol=tol, atol=tol)
    np.testing.assert_allclose(J.rmatvec(w), dense.T @ w, rtol=tol, atol=tol)
    V = rng.normal(size=(n, 4))
    np.testing.assert_allclose(J @ V, dense @ V, rtol=tol, atol=tol)
    np.testing.assert_allclose(J.H @ V, dense.T @ V, rtol=tol, atol=tol)
    # complex vectors (gmres on a complex system): real and imaginary parts
    np.testing.assert_allclose(J @ (v + 1j * w), dense @ (v + 1j * w), rtol=tol, atol=tol)
    np.testing.assert_allclose(J.matvec(np.ones(n, dtype=np.int8)), dense.sum(axis=1), atol=tol)
    b = rng.normal(size=n)
    solution, info = gmres(J, b, rtol=max(tol, 1e-10), restart=n)
    assert info == 0
    np.testing.assert_allclose(solution, np.linalg.solve(dense, b), rtol=100 * tol, atol=100 * tol)


def test_jacobian_operator_of_a_tree_to_tree_function():
    x = {"a": np.array([1.0, 2.0]), "b": np.array(3.0)}

    def f(p):
        return (p["a"] * p["b"], p["a"].sum() ** 2)

    J = jacobian_operator(f, di.AutoAutograd(), x)
    assert J.shape == (3, 3)
    # leaf order: a (2 entries) then b; outputs: a*b (2) then the square of the sum
    dense = np.array([[3.0, 0.0, 1.0], [0.0, 3.0, 2.0], [6.0, 6.0, 0.0]])
    np.testing.assert_allclose(J @ np.eye(3), dense, rtol=1e-12)
    np.testing.assert_allclose(J.T @ np.eye(3), dense.T, rtol=1e-12)


# ------------------------------------------------------------------------- bad input


def test_bad_input_names_the_adapter():
    with pytest.raises(di.ArgumentTypeError, match=r"Objective.*dtype int64"):
        Objective(rosenbrock, di.AutoFiniteDiff(), np.arange(3))
    with pytest.raises(di.ArgumentTypeError, match=r"Residual.*complex"):
        Residual(broyden_tridiagonal, di.AutoFiniteDiff(), np.ones(3, dtype=complex))
    obj = Objective(rosenbrock, di.AutoFiniteDiff(), np.ones(3))
    with pytest.raises(di.ArgumentValueError, match=r"Objective: p must be a vector of size 3"):
        obj.hessp(np.ones(3), np.ones(4))
    with pytest.raises(di.ArgumentValueError, match="Objective: x must be a vector of size 3"):
        obj.fun(np.ones(2))
    with pytest.raises(di.ArgumentValueError, match="unknown method 'newton'"):
        obj.minimize_kwargs("newton")
    with pytest.raises(di.ArgumentValueError, match='hessian must be "hessp" or "hess"'):
        Objective(rosenbrock, di.AutoFiniteDiff(), np.ones(3), hessian="dense")
    J = jacobian_operator(broyden_tridiagonal, di.AutoFiniteDiff(), np.ones(3))
    with pytest.raises(di.ArgumentValueError, match=r"jacobian_operator: matvec's vector .*\(3,\)"):
        J.matvec(np.ones(4))
    with pytest.raises(di.ArgumentValueError, match=r"jacobian_operator: matmat's matrix"):
        J.matmat(np.ones((2, 2)))
    H = hessian_operator(rosenbrock, di.AutoFiniteDiff(), np.ones(3))
    with pytest.raises(di.ArgumentValueError, match="hessian_operator"):
        H @ np.ones(5)
    with pytest.raises(di.ArgumentTypeError, match=r"ode_jacobian.*dtype int64"):
        ode_jacobian(lambda t, y: y, di.AutoFiniteDiff(), np.arange(3))


def test_importing_the_package_imports_neither_adapter():
    code = (
        "import sys, differentiation_interface; "
        "print(any(m.startswith(('differentiation_interface.scipy', "
        "'differentiation_interface.lineax', 'lineax')) for m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"

"""``AutoSparse(..., output="coo")``: ``di.SparseCOO`` of plain arrays in every namespace,
checked against the dense Jacobians and Hessians of the same engines and closed forms."""

from __future__ import annotations

from typing import Any

import array_api_strict as xps
import numpy as np
import pytest
from array_api_compat import array_namespace

import differentiation_interface as di
from differentiation_interface._array import namespace_of, to_numpy
from tests.helpers import available

X = np.linspace(0.5, 1.5, 7)


def f(x: Any) -> Any:
    xp = array_namespace(x)
    return x[1:] * x[:-1] + xp.sin(x[1:])


def jacobian_of_f(x: np.ndarray) -> np.ndarray:
    n = x.shape[0]
    J = np.zeros((n - 1, n))
    J[np.arange(n - 1), np.arange(n - 1)] = x[1:]
    J[np.arange(n - 1), np.arange(1, n)] = x[:-1] + np.cos(x[1:])
    return J


def _inputs() -> list[Any]:
    out = [pytest.param(X, id="numpy"), pytest.param(xps.asarray(X), id="strict")]
    torch = pytest.importorskip("torch")
    out.append(pytest.param(torch.asarray(X), id="torch"))
    jnp = pytest.importorskip("jax.numpy")
    out.append(pytest.param(jnp.asarray(X.astype(np.float32)), id="jax"))
    return out


@pytest.mark.parametrize("x", _inputs())
@pytest.mark.parametrize(
    "dense",
    [
        available(di.AutoFiniteDiff()),
        available(di.AutoJAX(mode="forward")),
        available(di.AutoTorch()),
    ],
)
def test_jacobian_in_every_namespace(dense: Any, x: Any) -> None:
    J = di.jacobian(f, di.AutoSparse(dense, output="coo"), x)
    assert isinstance(J, di.SparseCOO)
    xp = namespace_of(x)
    for part in (J.data, J.row, J.col):
        assert namespace_of(part) is xp
    assert J.shape == (6, 7)
    assert J.nnz == 12
    assert "nnz=12" in repr(J)
    tol = 1e-5 if "jax" in type(x).__module__ or isinstance(dense, di.AutoFiniteDiff) else 1e-12
    dense_J = to_numpy(J.todense())
    np.testing.assert_allclose(dense_J, jacobian_of_f(X), rtol=tol, atol=tol)
    # the entries themselves, in C order, against the closed form
    rows, cols = to_numpy(J.row), to_numpy(J.col)
    assert np.all(np.diff(rows * 7 + cols) > 0)
    np.testing.assert_allclose(to_numpy(J.data), jacobian_of_f(X)[rows, cols], rtol=tol, atol=tol)


def test_hessian_and_value_and() -> None:
    def g(x: Any) -> Any:
        return np.sum(x[1:] * x[:-1] ** 2)

    backend = di.AutoSparse(di.AutoFiniteDiff(), output="coo")
    value, grad, H = di.value_gradient_and_hessian(g, backend, X)
    np.testing.assert_allclose(value, g(X))
    reference = di.hessian(g, di.AutoFiniteDiff(), X)
    np.testing.assert_allclose(H.todense(), reference, atol=1e-4)
    np.testing.assert_allclose(grad, di.gradient(g, di.AutoFiniteDiff(), X), atol=1e-6)


def test_results_share_no_memory() -> None:
    backend = di.AutoSparse(di.AutoFiniteDiff(), output="coo")
    prep = di.prepare_jacobian(f, backend, X)
    first, second = (di.jacobian(f, backend, X, prep=prep) for _ in range(2))
    first.row[:] = 0
    first.data[:] = 0.0
    np.testing.assert_allclose(second.todense(), jacobian_of_f(X), atol=1e-6)


def test_out_is_refused_with_the_fix() -> None:
    backend = di.AutoSparse(di.AutoFiniteDiff(), output="coo")
    with pytest.raises(di.ArgumentValueError, match="output='dense'"):
        di.jacobian(f, backend, X, out=np.zeros((6, 7)))


def test_a_pytree_that_leaves_jit() -> None:
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    backend = di.AutoSparse(di.AutoJAX(mode="forward"), output="coo")
    x = jnp.asarray(X.astype(np.float32))
    prep = di.prepare_jacobian(f, backend, x)
    J = jax.jit(lambda v: di.jacobian(f, backend, v, prep=prep))(x)
    assert isinstance(J, di.SparseCOO)
    assert J.shape == (6, 7)
    np.testing.assert_allclose(np.asarray(J.todense()), jacobian_of_f(X), rtol=1e-5, atol=1e-5)


def test_scipy_least_squares_takes_it() -> None:
    from scipy.optimize import least_squares

    from differentiation_interface.scipy import Residual

    def residual(x: Any) -> Any:
        return np.concatenate([x[1:] - x[:-1] ** 2, [x[0] - 0.5]])

    backend = di.AutoSparse(di.AutoFiniteDiff(), output="coo")
    res = Residual(residual, backend, np.ones(5))
    result = least_squares(res.fun, res.x0, jac=res.jac)
    np.testing.assert_allclose(result.x, 0.5 ** (2.0 ** np.arange(5)), atol=1e-6)


def test_invalid_output() -> None:
    with pytest.raises(ValueError, match="'sparse', 'dense' or 'coo'"):
        di.AutoSparse(di.AutoFiniteDiff(), output="csc")  # type: ignore[arg-type]

"""Auxiliary outputs (has_aux=True, API section 10) on every engine and first-order operator."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from array_api_compat import array_namespace

import differentiation_interface as di
from differentiation_interface._array import to_numpy

jax = pytest.importorskip("jax")
torch = pytest.importorskip("torch")
pytest.importorskip("autograd")

ENGINES = [
    di.AutoFiniteDiff(),
    di.AutoJAX(),
    di.AutoJAX(mode="forward"),
    di.AutoTorch(),
    di.AutoTorch(mode="forward"),
    di.AutoAutograd(),
    di.SecondOrder(di.AutoJAX(mode="forward"), di.AutoJAX()),
]
X = np.array([0.5, -1.0, 2.0])
CALLS = [0]


def _vector(x: Any) -> Any:
    CALLS[0] += 1
    xp = array_namespace(x)
    y = xp.sin(x) * x[0]
    return y, {"mean": xp.mean(y), "label": "step", "count": 3}


def _scalar(x: Any) -> Any:
    CALLS[0] += 1
    xp = array_namespace(x)
    y = xp.sum(x**3)
    return y, (xp.max(x), None)


def _plain_vector(x: Any) -> Any:
    CALLS[0] += 1
    xp = array_namespace(x)
    return xp.sin(x) * x[0]


def _J(x: Any) -> Any:
    J = np.diag(np.cos(x) * x[0])
    J[:, 0] += np.sin(x)
    return J


def _tol(backend: Any) -> float:
    return 1e-6 if "FiniteDiff" in repr(backend) else 1e-12


def _check_vector_aux(aux: Any, like: Any) -> None:
    assert aux["label"] == "step"
    assert aux["count"] == 3
    assert type(aux["mean"]) is type(like)  # in the caller's namespace
    np.testing.assert_allclose(to_numpy(aux["mean"]), np.mean(np.sin(X) * X[0]), rtol=1e-12)


@pytest.mark.parametrize("backend", ENGINES, ids=repr)
def test_every_first_order_operator_returns_aux(backend: Any) -> None:
    tol = _tol(backend)
    J, aux = di.jacobian(_vector, backend, X, has_aux=True)
    np.testing.assert_allclose(J, _J(X), rtol=tol, atol=tol)
    _check_vector_aux(aux, X)
    (y, aux), _ = di.value_and_jacobian(_vector, backend, X, has_aux=True)
    np.testing.assert_allclose(y, np.sin(X) * X[0], rtol=1e-12)
    _check_vector_aux(aux, X)
    t = (np.array([1.0, 0.0, 2.0]), np.array([0.0, 1.0, -1.0]))
    jt, aux = di.pushforward(_vector, backend, X, t, has_aux=True)
    for tangent, result in zip(t, jt, strict=True):
        np.testing.assert_allclose(result, _J(X) @ tangent, rtol=tol, atol=tol)
    _check_vector_aux(aux, X)
    w = (np.array([1.0, 2.0, 3.0]),)
    (jtw,), aux = di.pullback(_vector, backend, X, w, has_aux=True)
    np.testing.assert_allclose(jtw, _J(X).T @ w[0], rtol=tol, atol=tol)
    _check_vector_aux(aux, X)
    g, (biggest, nothing) = di.gradient(_scalar, backend, X, has_aux=True)
    np.testing.assert_allclose(g, 3 * X**2, rtol=tol, atol=tol)
    assert float(biggest) == 2.0
    assert nothing is None
    (y, _), g = di.value_and_gradient(_scalar, backend, X, has_aux=True)
    assert float(y) == pytest.approx(np.sum(X**3))


@pytest.mark.parametrize("backend", ENGINES, ids=repr)
def test_derivative_with_aux(backend: Any) -> None:
    def f(t: Any) -> Any:
        xp = array_namespace(t)
        return t**2 * xp.asarray(X), {"t": t * 1.0}

    der, aux = di.derivative(f, backend, np.asarray(1.5), has_aux=True)
    np.testing.assert_allclose(der, 3.0 * X, rtol=_tol(backend), atol=1e-9)
    assert float(aux["t"]) == 1.5


@pytest.mark.parametrize("backend", ENGINES[:6], ids=repr)
def test_f_is_evaluated_no_more_often_than_by_the_value_and_variant(backend: Any) -> None:
    """Preparations aside (each test call is the second with the same function), a call with
    aux evaluates f as often as the value-and call without aux."""
    t = (np.ones(3), np.arange(3.0))
    for plain, with_aux, args in [
        (di.value_and_jacobian, di.jacobian, ()),
        (di.value_and_pushforward, di.pushforward, (t,)),
        (di.value_and_pullback, di.pullback, ((np.ones(3),),)),
    ]:
        plain(_plain_vector, backend, X, *args)
        with_aux(_vector, backend, X, *args, has_aux=True)
        CALLS[0] = 0
        plain(_plain_vector, backend, X, *args)
        without = CALLS[0]
        CALLS[0] = 0
        with_aux(_vector, backend, X, *args, has_aux=True)
        assert CALLS[0] <= max(without, 1), (with_aux.__name__, CALLS[0], without)


@pytest.mark.parametrize("namespace", ["torch", "jax"])
def test_aux_is_in_the_callers_namespace_and_detached(namespace: str) -> None:
    if namespace == "torch":
        x = torch.asarray(X, requires_grad=True)
        backend: Any = di.AutoTorch()
    else:
        with jax.enable_x64(True):
            x = jax.numpy.asarray(X)
        backend = di.AutoJAX()
    g, (biggest, _) = di.gradient(_scalar, backend, x, has_aux=True)
    assert type(biggest) is type(x)
    if namespace == "torch":
        assert not biggest.requires_grad
    np.testing.assert_allclose(to_numpy(g), 3 * X**2, rtol=1e-12)


def test_aux_with_pytree_x_and_a_prep() -> None:
    params = {"a": np.array([1.0, 2.0]), "b": np.asarray(0.5)}

    def loss(p: Any) -> Any:
        xp = array_namespace(p["a"])
        y = xp.sum(p["a"] ** 2) * p["b"]
        return y, {"a_norm": xp.sum(p["a"] ** 2)}

    for backend in (di.AutoJAX(), di.AutoTorch(), di.AutoFiniteDiff()):
        prep = di.prepare_gradient(loss, backend, params, has_aux=True)
        g, aux = di.gradient(loss, backend, params, prep=prep, has_aux=True)
        np.testing.assert_allclose(g["a"], 2 * params["a"] * 0.5, rtol=1e-6)
        np.testing.assert_allclose(g["b"], 5.0, rtol=1e-6)
        assert float(aux["a_norm"]) == 5.0
        with pytest.raises(di.PreparationMismatchError, match="has_aux"):
            di.gradient(loss, backend, params, prep=prep)


def test_misuse_is_refused() -> None:
    backend = di.AutoFiniteDiff()
    with pytest.raises(di.FunctionOutputError, match=r"must return a pair \(y, aux\)"):
        di.gradient(lambda x: (x**2).sum(), backend, X, has_aux=True)
    prep = di.prepare_gradient(lambda x: (x**2).sum(), backend, X)
    with pytest.raises(di.PreparationMismatchError, match="has_aux"):
        di.gradient(lambda x: ((x**2).sum(), 0), backend, X, prep=prep, has_aux=True)
    with pytest.raises(di.UnsupportedOperationError, match="two-argument"):
        di.jacobian(lambda y, x: None, backend, X, y=np.zeros(3), has_aux=True)

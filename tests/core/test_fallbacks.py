"""The generic fallbacks: which derivation each operator takes, and their complex algebra.

Values of every operator through the fallbacks are checked in ``test_operators.py``; here
the tests pin down *which* path is taken (the hvp modes, rows versus columns) and the complex
conventions of the real-adjoint formulas.
"""

from __future__ import annotations

import numpy as np
import pytest

import differentiation_interface as di
from differentiation_interface.operators import _first_order as first
from differentiation_interface.operators import _second_order as second
from differentiation_interface.testing import ForwardFromPrimitive, ReverseFromPrimitive

FD = di.AutoFiniteDiff()
F, R = ForwardFromPrimitive(FD), ReverseFromPrimitive(FD)


def quartic(x):  # type: ignore[no-untyped-def]
    return (x**4).sum() + x[0] * x[1]


@pytest.mark.parametrize(
    ("backend", "plan_type"),
    [
        (di.SecondOrder(F, R), second.HVPForwardOverReverse),
        (di.SecondOrder(F, F), second.HVPForwardOverReverse),  # forward over forward
        (di.SecondOrder(R, F), second.HVPReverseOverForward),
        (di.SecondOrder(R, R), second.HVPReverseOverReverse),
        (F, second.HVPForwardOverReverse),
        (R, second.HVPReverseOverReverse),
    ],
    ids=repr,
)
def test_hvp_modes(backend: di.AbstractBackend, plan_type: type) -> None:
    x = np.array([1.0, 2.0, 0.5])
    tangents = (np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, -1.0]))
    prep = di.prepare_hvp(quartic, backend, x, tangents)
    assert type(prep.plan) is plan_type
    H = np.diag(12 * x**2)
    H[0, 1] = H[1, 0] = 1.0
    grad, products = di.gradient_and_hvp(quartic, backend, x, tangents, prep=prep)
    np.testing.assert_allclose(grad, 4 * x**3 + np.array([x[1], x[0], 0.0]), rtol=1e-7)
    for t, hv in zip(tangents, products, strict=True):
        np.testing.assert_allclose(hv, H @ t, rtol=1e-4, atol=1e-4)


def test_hessian_is_batched_hvps() -> None:
    x = np.array([1.0, 2.0, 0.5])
    prep = di.prepare_hessian(quartic, di.SecondOrder(F, R), x)
    assert type(prep.plan) is second.HessianViaHVP
    assert type(prep.plan.hvp) is second.HVPForwardOverReverse
    H = di.hessian(quartic, di.SecondOrder(F, R), x, prep=prep)
    expected = np.diag(12 * x**2)
    expected[0, 1] = expected[1, 0] = 1.0
    np.testing.assert_allclose(H, expected, rtol=1e-4, atol=1e-4)


def test_jacobian_direction_follows_the_engine() -> None:
    x = np.ones(3)
    assert type(di.prepare_jacobian(lambda v: v * 2.0, F, x).plan) is first.JacobianViaPushforward
    assert type(di.prepare_jacobian(lambda v: v * 2.0, R, x).plan) is first.JacobianViaPullback


def test_gradient_and_derivative_fallbacks() -> None:
    assert type(di.prepare_gradient(quartic, R, np.ones(3)).plan) is first.GradientViaPullback
    prep = di.prepare_derivative(np.sin, F, np.asarray(0.0))
    assert type(prep.plan) is first.DerivativeViaPushforward


def test_second_derivative_is_nested() -> None:
    prep = di.prepare_second_derivative(np.sin, di.SecondOrder(F, R), np.asarray(1.0))
    assert type(prep.plan) is second.SecondDerivativeNested
    d2 = di.second_derivative(np.sin, di.SecondOrder(F, R), np.asarray(1.0), prep=prep)
    np.testing.assert_allclose(d2, -np.sin(1.0), rtol=1e-5)


Z = np.array([1.0 + 1.0j, -0.5 + 2.0j])
T = np.array([0.5 - 1.0j, 2.0 + 0.5j])


@pytest.mark.parametrize("backend", [F, R], ids=repr)
def test_complex_gradient_convention_through_fallbacks(backend: di.AbstractBackend) -> None:
    g = di.gradient(lambda v: np.sum(np.abs(v) ** 2), backend, Z)
    np.testing.assert_allclose(g, 2 * Z, rtol=1e-7)


@pytest.mark.parametrize("backend", [F, R], ids=repr)
def test_holomorphic_functions_through_fallbacks(backend: di.AbstractBackend) -> None:
    f = lambda v: v**3  # noqa: E731
    (ty,) = di.pushforward(f, backend, Z, (T,))
    np.testing.assert_allclose(ty, 3 * Z**2 * T, rtol=1e-7)
    (tx,) = di.pullback(f, backend, Z, (T,))
    np.testing.assert_allclose(tx, np.conj(3 * Z**2) * T, rtol=1e-7)
    np.testing.assert_allclose(di.jacobian(f, backend, Z), np.diag(3 * Z**2), rtol=1e-7)


@pytest.mark.parametrize("backend", [F, R], ids=repr)
def test_real_input_complex_output(backend: di.AbstractBackend) -> None:
    # y = exp(i x): dy/dx = i exp(i x); the pullback of w is Re(conj(dy/dx) w).
    x = np.array([0.3, 1.2])
    f = lambda v: np.exp(1j * v)  # noqa: E731
    derivative = 1j * np.exp(1j * x)
    np.testing.assert_allclose(di.jacobian(f, backend, x), np.diag(derivative), rtol=1e-7)
    (ty,) = di.pushforward(f, backend, x, (np.array([1.0, 2.0]),))
    np.testing.assert_allclose(ty, derivative * np.array([1.0, 2.0]), rtol=1e-7)
    w = np.array([1.0 - 1.0j, 0.5j])
    (tx,) = di.pullback(f, backend, x, (w,))
    assert tx.dtype == np.float64
    np.testing.assert_allclose(tx, np.real(np.conj(derivative) * w), rtol=1e-7)

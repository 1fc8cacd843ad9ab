"""The finite-difference engine: accuracy, steps, evaluation counts, batching, complex."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from array_api_compat import array_namespace

import differentiation_interface as di

FD = di.AutoFiniteDiff()


class Calls:
    """Wrap ``f`` and count its calls and the points it saw (stacked calls count all rows)."""

    def __init__(self, f: Any, x_ndim: int) -> None:
        self.f, self.x_ndim = f, x_ndim
        self.calls = 0
        self.points = 0

    def __call__(self, x: Any, *args: Any) -> Any:
        self.calls += 1
        self.points += x.shape[0] if x.ndim > self.x_ndim else 1
        return self.f(x, *args)

    def reset(self) -> None:
        self.calls = self.points = 0


def exp_sum(x: Any) -> Any:
    xp = array_namespace(x)
    return xp.sum(xp.exp(x))


# Documented accuracy, relative to the largest derivative: eps**(2/3) for central differences
# (3.7e-11 in float64, 2.4e-5 in float32) and eps**(1/2) for one-sided ones (1.5e-8, 3.5e-4).
# Measured on this function: 3.9e-11, 2.4e-5, 1.4e-8 and 5.9e-4; bounds allow a factor 10.
@pytest.mark.parametrize(
    ("backend", "dtype", "max_error"),
    [
        (di.AutoFiniteDiff(), np.float64, 3.7e-10),
        (di.AutoFiniteDiff(method="forward"), np.float64, 1.5e-7),
        (di.AutoFiniteDiff(method="backward"), np.float64, 1.5e-7),
        (di.AutoFiniteDiff(), np.float32, 2.4e-4),
        (di.AutoFiniteDiff(method="forward"), np.float32, 3.5e-3),
    ],
)
def test_documented_accuracy(backend: di.AutoFiniteDiff, dtype: Any, max_error: float) -> None:
    x = np.linspace(-1.0, 2.0, 7, dtype=dtype)
    g = di.gradient(exp_sum, backend, x)
    error = np.max(np.abs(g - np.exp(x))) / np.max(np.exp(x))
    assert error < max_error


def test_second_order_stencils_reach_sqrt_eps() -> None:
    x = np.linspace(-1.0, 2.0, 5)
    H = di.hessian(exp_sum, FD, x)
    np.testing.assert_allclose(H, np.diag(np.exp(x)), rtol=1e-6, atol=1e-6)
    assert np.array_equal(H, H.T)  # each pair is evaluated once: exactly symmetric
    d2 = di.second_derivative(np.exp, FD, np.asarray(1.0))
    assert abs(float(d2) - np.e) / np.e < 1e-6


def test_step_is_relative_and_can_be_chosen() -> None:
    x = np.array([1.0])
    coarse = di.gradient(exp_sum, di.AutoFiniteDiff(method="forward", step=1e-2), x)
    # forward difference with h = 1e-2: error e * h / 2 = 1.36e-2 (relative 5e-3)
    assert abs(float(coarse[0]) - np.e * (np.expm1(1e-2) / 1e-2)) < 1e-10
    big = np.array([1e6])
    g = di.gradient(lambda v: (v**2).sum(), di.AutoFiniteDiff(), big)
    np.testing.assert_allclose(g, 2e6, rtol=1e-9)  # the step scales with |x|


@pytest.mark.parametrize(("method", "points"), [("central", 20), ("forward", 11), ("backward", 11)])
def test_gradient_evaluation_count(method: str, points: int) -> None:
    f = Calls(lambda x: (np.sin(x) * x).sum(), x_ndim=1)  # sums everything: not batchable
    backend = di.AutoFiniteDiff(method=method)
    prep = di.prepare_gradient(f, backend, np.zeros(10))
    f.reset()
    di.gradient(f, backend, np.ones(10), prep=prep)
    assert f.calls == points
    f.reset()
    di.value_and_gradient(f, backend, np.ones(10), prep=prep)
    assert f.calls == (21 if method == "central" else 11)


def test_batchable_functions_are_evaluated_in_one_stacked_call() -> None:
    # Elementwise, so f(stack of points) == stack of f(point): batchable.
    f = Calls(lambda x: np.sin(x) * x, x_ndim=1)
    prep = di.prepare_jacobian(f, FD, np.zeros(10))
    f.reset()
    J = di.jacobian(f, FD, np.linspace(0.0, 1.0, 10), prep=prep)
    x = np.linspace(0.0, 1.0, 10)
    np.testing.assert_allclose(J, np.diag(np.sin(x) + x * np.cos(x)), atol=1e-9)
    assert f.calls == 1
    assert f.points == 20


def test_reduction_over_the_last_axis_is_batchable() -> None:
    f = Calls(lambda x: np.sum(np.sin(x) ** 2, axis=-1), x_ndim=1)
    prep = di.prepare_gradient(f, FD, np.zeros(6))
    f.reset()
    g = di.gradient(f, FD, np.linspace(0.0, 1.0, 6), prep=prep)
    np.testing.assert_allclose(g, np.sin(2 * np.linspace(0.0, 1.0, 6)), atol=1e-9)
    assert f.calls == 1


@pytest.mark.parametrize(
    "f",
    [
        lambda x: x * x[0],  # couples the stacked rows: x[0] is a row when stacked
        lambda x: x * np.sum(x),  # sums over every row
        lambda x: x[::-1] * 2.0,  # reverses the rows
        lambda x: np.stack([x[0] * x[1], x[1]]),  # indexes the leading axis
    ],
    ids=["row-coupling", "total-sum", "reversal", "leading-index"],
)
def test_functions_that_mix_stacked_points_are_not_batched(f: Any) -> None:
    x = np.array([0.3, 0.7])
    counted = Calls(f, x_ndim=1)
    J = di.jacobian(counted, FD, x)
    eps = 1e-6
    reference = np.stack([(f(x + eps * e) - f(x - eps * e)) / (2 * eps) for e in np.eye(2)], axis=1)
    np.testing.assert_allclose(J, reference, rtol=1e-6, atol=1e-8)


def test_functions_with_a_cache_are_never_batched() -> None:
    def f(x: Any, buffer: Any) -> Any:
        buffer[...] = x**2
        return buffer.sum()

    g = di.gradient(f, FD, np.ones(3), di.Cache(np.zeros(3)))
    np.testing.assert_allclose(g, 2.0, rtol=1e-8)


def test_complex_gradient_convention() -> None:
    # f(z) = sum |z|^2 = sum(x^2 + y^2): df/dRe + i df/dIm = 2x + 2iy = 2z
    z = np.array([1.0 + 1.0j, -0.5 + 2.0j])
    g = di.gradient(lambda v: np.sum(np.abs(v) ** 2), FD, z)
    np.testing.assert_allclose(g, 2 * z, rtol=1e-8)
    # f(z) = Re(z (2 - i)) = 2x + y: gradient 2 + 1i
    g = di.gradient(lambda v: np.sum((v * (2 - 1j)).real), FD, z)
    np.testing.assert_allclose(g, [2 + 1j, 2 + 1j], rtol=1e-8)


def test_complex_holomorphic_pushforward_pullback_jacobian() -> None:
    z = np.array([1.0 + 1.0j, -0.5 + 2.0j])
    f = lambda v: v**2  # noqa: E731
    t = np.array([0.5 - 1.0j, 2.0 + 0.0j])
    (ty,) = di.pushforward(f, FD, z, (t,))
    np.testing.assert_allclose(ty, 2 * z * t, rtol=1e-8)
    (tx,) = di.pullback(f, FD, z, (t,))
    np.testing.assert_allclose(tx, np.conj(2 * z) * t, rtol=1e-8)  # J^H w
    np.testing.assert_allclose(di.jacobian(f, FD, z), np.diag(2 * z), rtol=1e-8)
    np.testing.assert_allclose(di.derivative(np.exp, FD, np.asarray(1j)), np.exp(1j), rtol=1e-8)


def test_complex_hvp_is_the_derivative_of_the_gradient() -> None:
    # f = sum |z|^2 has gradient 2z, so H t = 2t for any complex t.
    z = np.array([1.0 + 1.0j, -0.5 + 2.0j])
    t = np.array([0.5 - 1.0j, 2.0 + 0.5j])
    (hv,) = di.hvp(lambda v: np.sum(np.abs(v) ** 2), FD, z, (t,))
    np.testing.assert_allclose(hv, 2 * t, rtol=1e-6)


def test_complex64_stays_complex64() -> None:
    z = np.array([1.0 + 1.0j, 2.0 - 1.0j], dtype=np.complex64)
    g = di.gradient(lambda v: np.sum(np.abs(v) ** 2), FD, z)
    assert g.dtype == np.complex64
    np.testing.assert_allclose(g, 2 * z, rtol=1e-2)


def test_empty_inputs() -> None:
    x = np.zeros(0)
    assert di.gradient(lambda v: np.sum(v) + 1.0, FD, x).shape == (0,)
    assert di.jacobian(lambda v: v * 2.0, FD, x).shape == (0, 0)
    assert di.jacobian(lambda v: np.ones(2) + np.sum(v), FD, x).shape == (2, 0)
    assert di.hessian(lambda v: np.sum(v) + 1.0, FD, x).shape == (0, 0)
    (ty,) = di.pushforward(lambda v: np.ones(2) + np.sum(v), FD, x, (x,))
    np.testing.assert_array_equal(ty, np.zeros(2))


def test_dask_stays_lazy_and_correct() -> None:
    import dask.array as da

    x = da.from_array(np.linspace(0.0, 1.0, 6), chunks=3)
    g = di.gradient(exp_sum, FD, x)
    assert isinstance(g, da.Array)
    np.testing.assert_allclose(g.compute(), np.exp(np.linspace(0.0, 1.0, 6)), rtol=1e-9)


def test_large_gradients_are_chunked() -> None:
    # 3000 coordinates: the stacked points (6000 x 3000) exceed the stacking budget, so the
    # evaluation runs in several chunks; the result must not depend on that.
    x = np.linspace(0.0, 1.0, 3000)
    g = di.gradient(lambda v: np.sum(np.sin(v), axis=-1), FD, x)
    np.testing.assert_allclose(g, np.cos(x), atol=1e-8)


def test_stacking_budget_follows_free_device_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Host arrays keep the fixed budget; on a CUDA device (its free memory faked here) a
    batch may take an eighth of it, never less than the host budget, and a batchable f is
    then evaluated in fewer, larger chunks with the same derivative."""
    import array_api_strict as xps

    from differentiation_interface._array import MAX_STACK_ELEMENTS, _seeds, stack_elements

    for like in (np.ones(3), xps.ones(3)):
        assert stack_elements(like) == MAX_STACK_ELEMENTS
    x = np.linspace(0.0, 1.0, 3000)

    def f(v: Any) -> Any:
        return array_namespace(v).sum(v**3, axis=-1)  # batchable: sums the last axis

    host = di.prepare_gradient(f, di.AutoFiniteDiff(), x)
    monkeypatch.setattr(_seeds, "_free_device_bytes", lambda like: 8 * 2**30)  # 8 GiB free
    assert stack_elements(x) == 8 * 2**30 // (8 * 8)
    device = di.prepare_gradient(f, di.AutoFiniteDiff(), x)
    chunks = [len(p.plan.basis.starts) for p in (host, device)]
    assert chunks[0] > 1  # the host budget splits the 6000 points
    assert chunks[1] == 1  # one stacked call of f on the device
    for prep in (host, device):
        g = di.gradient(f, di.AutoFiniteDiff(), x, prep=prep)
        np.testing.assert_allclose(g, 3 * x**2, rtol=1e-6, atol=1e-8)
    monkeypatch.setattr(_seeds, "_free_device_bytes", lambda like: 2**20)  # 1 MiB free
    assert stack_elements(x) == MAX_STACK_ELEMENTS  # never less than in host memory

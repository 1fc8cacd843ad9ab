"""Every operator in every variant against closed forms, on every core namespace and device.

The variants (plain, value-and, out=, unprepared, prepared here / elsewhere / reused,
same-point) are exercised by ``check_scenario``; the references are closed forms written in
``testing.scenarios``.
"""

from __future__ import annotations

import array_api_strict as xps
import numpy as np
import pytest

import differentiation_interface as di
from differentiation_interface.testing import (
    ForwardFromPrimitive,
    ReverseFromPrimitive,
    check_scenario,
    default_scenarios,
)
from tests.helpers import TARGETS, Target

FD = di.AutoFiniteDiff()
BACKENDS = [
    FD,
    di.AutoFiniteDiff(method="forward"),
    di.AutoFiniteDiff(method="backward"),
    di.SecondOrder(FD, FD),
]
# Backends exposing one primitive of FD: every other operator goes through the fallbacks,
# and their compositions reach each Hessian-vector-product mode.
FALLBACKS = [
    ForwardFromPrimitive(FD),
    ReverseFromPrimitive(FD),
    di.SecondOrder(ForwardFromPrimitive(FD), ReverseFromPrimitive(FD)),
    di.SecondOrder(ReverseFromPrimitive(FD), ForwardFromPrimitive(FD)),
    di.SecondOrder(ReverseFromPrimitive(FD), ReverseFromPrimitive(FD)),
]
SCENARIOS = default_scenarios()


def _scenario_for(target: Target, index: int):  # type: ignore[no-untyped-def]
    dtype = np.float64 if target.float64 else np.float32
    return default_scenarios(dtype=dtype)[index].to_namespace(target.xp, target.device)


@pytest.mark.parametrize("backend", BACKENDS, ids=repr)
@pytest.mark.parametrize("index", range(len(SCENARIOS)), ids=[s.name for s in SCENARIOS])
def test_finite_differences(target: Target, backend: di.AbstractBackend, index: int) -> None:
    check_scenario(backend, _scenario_for(target, index))


@pytest.mark.parametrize("backend", FALLBACKS, ids=repr)
@pytest.mark.parametrize("index", range(len(SCENARIOS)), ids=[s.name for s in SCENARIOS])
@pytest.mark.parametrize("target", [TARGETS[0], TARGETS[2]], ids=lambda t: t.name)
def test_generic_fallbacks(target: Target, backend: di.AbstractBackend, index: int) -> None:
    check_scenario(backend, _scenario_for(target, index))


@pytest.mark.parametrize("index", range(len(SCENARIOS)), ids=[s.name for s in SCENARIOS])
def test_dask_runs_natively(index: int) -> None:
    import array_api_compat.dask.array as dxp

    scenario = SCENARIOS[index].to_namespace(dxp, "cpu")
    check_scenario(FD, scenario, out=False)


def test_zero_dimensional_results_are_arrays() -> None:
    y, _ = di.value_and_gradient(lambda x: (x**2).sum(), FD, np.ones(3))
    der = di.derivative(lambda t: t**2, FD, np.asarray(1.0))
    d2 = di.second_derivative(lambda t: t**3, FD, np.asarray(1.0))
    g = di.gradient(lambda t: t**3, FD, np.asarray(1.0))
    for result in (y, der, d2, g):
        assert type(result) is np.ndarray
        assert result.ndim == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtypes_are_preserved(dtype: type) -> None:
    x = np.linspace(0.1, 1.0, 4, dtype=dtype)
    f = lambda v: (v**3).sum()  # noqa: E731
    assert di.gradient(f, FD, x).dtype == dtype
    assert di.hessian(f, FD, x).dtype == dtype
    assert di.jacobian(lambda v: v**2, FD, x).dtype == dtype
    (hv,) = di.hvp(f, FD, x, (x,))
    assert hv.dtype == dtype


def test_jacobian_of_mixed_dtypes_has_the_result_type() -> None:
    x = np.ones(3, dtype=np.float32)
    J = di.jacobian(lambda v: v.astype(np.float64) * 2.0, FD, x)
    assert J.dtype == np.float64
    np.testing.assert_allclose(J, 2.0 * np.eye(3), rtol=1e-3)


def test_jacobian_is_c_ordered() -> None:
    # y[i, j] = x[j, i] * (i + 1): a permutation the flattening convention must respect.
    x = np.arange(6.0).reshape(2, 3)
    J = di.jacobian(lambda v: v.T * np.array([[1.0], [2.0], [3.0]]), FD, x)
    expected = np.zeros((6, 6))
    for i in range(3):
        for j in range(2):
            expected[i * 2 + j, j * 3 + i] = i + 1
    np.testing.assert_allclose(J, expected, atol=1e-9)


def test_strict_no_float64_device_computes_in_float32() -> None:
    x = xps.asarray(np.linspace(0.0, 1.0, 5, dtype=np.float32), device=xps.Device("no_float64"))
    H = di.hessian(lambda v: xps.sum(xps.sin(v)), FD, x)
    assert H.dtype == xps.float32
    assert H.device == xps.Device("no_float64")

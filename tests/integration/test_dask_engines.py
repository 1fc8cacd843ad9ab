"""Dask arrays with engines that are not dask-native (API section 12): a prepared call
computes x once (each tangent once) and returns a dask array with the right values."""

from __future__ import annotations

import numpy as np
import pytest

import differentiation_interface as di

da = pytest.importorskip("dask.array")
from tests.dask_computes import Computes  # noqa: E402


@pytest.mark.parametrize("backend", [di.AutoJAX(), di.AutoTorch(), di.AutoAutograd()], ids=repr)
def test_prepared_calls_compute_inputs_once(backend: object) -> None:
    pytest.importorskip(
        {"AutoJAX": "jax", "AutoTorch": "torch"}.get(type(backend).__name__, "autograd")
    )
    xn = np.linspace(0.1, 1.0, 8)
    x, t = da.from_array(xn, chunks=4), da.from_array(np.cos(np.arange(8.0)), chunks=4)

    def f(z):
        return (z**3).sum()

    prep_g = di.prepare_gradient(f, backend, x)
    prep_h = di.prepare_hvp(f, backend, x, (t,))
    with Computes() as c:
        g = di.gradient(f, backend, x, prep=prep_g)
    assert c.count == 1  # x, once
    with Computes() as c:
        (h,) = di.hvp(f, backend, x, (t,), prep=prep_h)
    assert c.count == 2  # x and the tangent, once each
    assert isinstance(g, da.Array)
    assert isinstance(h, da.Array)
    np.testing.assert_allclose(g.compute(), 3 * xn**2, rtol=1e-6)
    np.testing.assert_allclose(h.compute(), 6 * xn * np.cos(np.arange(8.0)), rtol=1e-6)

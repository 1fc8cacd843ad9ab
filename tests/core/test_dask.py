"""Dask arrays with finite differences (API section 12): lazy results chunked like x, graphs
whose size does not depend on x.size, f evaluated in batches (one task per chunk of x)."""

from __future__ import annotations

import numpy as np
import pytest

import differentiation_interface as di

da = pytest.importorskip("dask.array")
from tests.dask_computes import Computes  # noqa: E402

FD = di.AutoFiniteDiff()


def cubes(x):  # not batchable: sums every axis
    return (x**3).sum()


def tasks(a) -> int:
    return len(a.__dask_graph__())


def test_gradient_chunked_like_x_and_lazy() -> None:
    xn = np.linspace(0.1, 1.0, 200)
    x = da.from_array(xn, chunks=50)
    with Computes() as c:
        g = di.gradient(cubes, FD, x)
        value, g2 = di.value_and_gradient(cubes, FD, x)
    assert c.count == 0  # unprepared calls compute nothing either
    assert isinstance(g, da.Array)
    assert g.chunks == x.chunks == ((50, 50, 50, 50),)
    assert g2.chunks == x.chunks
    np.testing.assert_allclose(g.compute(), 3 * xn**2, rtol=1e-8)
    np.testing.assert_allclose(float(value.compute()), np.sum(xn**3))


def test_two_dimensional_x_and_jacobian() -> None:
    xn = np.linspace(0.1, 1.0, 12).reshape(4, 3)
    x = da.from_array(xn, chunks=(2, 3))
    g = di.gradient(cubes, FD, x)
    assert g.chunks == x.chunks
    np.testing.assert_allclose(g.compute(), 3 * xn**2, rtol=1e-8)
    v = da.from_array(np.linspace(0.1, 1.0, 6), chunks=3)
    jac = di.jacobian(lambda z: z[:3] * z[3:], FD, v)
    vn = v.compute()
    expected = np.hstack([np.diag(vn[3:]), np.diag(vn[:3])])
    np.testing.assert_allclose(jac.compute(), expected, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("operator", ["pushforward", "hvp", "derivative", "gradient"])
def test_graph_size_does_not_grow_with_x(operator: str) -> None:
    sizes = []
    for n in (100, 10_000):
        xn = np.linspace(0.1, 1.0, n)
        x = da.from_array(xn, chunks=n // 4)
        tn = np.cos(np.arange(n))
        t = da.from_array(tn, chunks=n // 4)
        with Computes() as c:
            if operator == "pushforward":
                (r,) = di.pushforward(lambda z: z**2, FD, x, (t,))
                expected = 2 * xn * tn
            elif operator == "hvp":
                (r,) = di.hvp(cubes, FD, x, (t,))
                expected = 6 * xn * tn
            elif operator == "gradient":
                r = di.gradient(cubes, FD, x)
                expected = 3 * xn**2
            else:  # a scalar x, an output of x.size
                s = da.from_array(np.array(0.5))
                r = di.derivative(lambda a, n=n: a**2 * da.ones(n, chunks=n // 4), FD, s)
                expected = np.full(n, 1.0)
        assert c.count == 0
        sizes.append(tasks(r))
        if operator != "derivative":
            assert r.chunks == x.chunks
        # sum(x**3) over 10_000 entries: rounding of f limits the second-order stencil
        tol = 1e-4 if n > 100 else 1e-6
        np.testing.assert_allclose(r.compute(), expected, rtol=tol, atol=tol)
    assert sizes[0] == sizes[1], sizes


def test_f_is_evaluated_in_batches_one_task_per_chunk() -> None:
    calls = []

    def f(x):
        calls.append(type(x).__module__.partition(".")[0])
        return (x**3).sum()

    x = da.from_array(np.linspace(0.1, 1.0, 40), chunks=10)
    prep = di.prepare_gradient(f, FD, x)
    calls.clear()
    with Computes() as c:
        g = di.gradient(f, FD, x, prep=prep)
    assert c.count == 0  # the call builds a graph; f has not run
    assert calls == []
    assert tasks(g) < 20  # 4 stencil tasks, x and the final rechunk: not 80 evaluations
    g.compute()
    assert calls.count("numpy") == 80  # central differences, inside the 4 tasks


def test_f_that_needs_dask_fails_clearly_when_computed() -> None:
    x = da.from_array(np.linspace(0.1, 1.0, 8), chunks=4)
    g = di.gradient(lambda z: z.rechunk(2).sum(), FD, x)  # numpy arrays have no .rechunk
    with pytest.raises(di.FunctionOutputError, match="Array API"):
        g.compute()

"""GPU paths (issue 18): results stay on the caller's device, equal to CPU references, with
no host round trip where the engine lets the test see it. Each test needs a CUDA device for
its library and skips cleanly without one (CI has none; ``benchmarks/gpu_session.sh`` runs
them on a GPU machine)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from array_api_compat import array_namespace

import differentiation_interface as di
from differentiation_interface._array import cuda_device, to_numpy
from tests.helpers import prepared

pytestmark = pytest.mark.cuda

X = np.linspace(-1.0, 1.5, 50)


def rosenbrock(x: Any) -> Any:
    xp = array_namespace(x)
    return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def tridiagonal(x: Any) -> Any:
    xp = array_namespace(x)
    zero = xp.zeros_like(x[:1])
    return xp.sin(x) + xp.concat([zero, x[:-1]]) * x - 0.5 * xp.concat([x[1:], zero])


def _rosen_der(x: np.ndarray) -> np.ndarray:
    from scipy.optimize import rosen_der

    return rosen_der(x)


def _rosen_hess(x: np.ndarray) -> np.ndarray:
    from scipy.optimize import rosen_hess

    return rosen_hess(x)


def _needs(library: str) -> Any:
    device = cuda_device(library)
    if device is None:
        pytest.skip(f"needs a CUDA device visible to {library}")
    return device


def test_jax_gpu_gradient_and_hessian_stay_on_the_device() -> None:
    jax = pytest.importorskip("jax")
    device = _needs("jax")
    with jax.enable_x64(True):
        x = jax.device_put(jax.numpy.asarray(X), device)
        backend = di.AutoJAX()
        prep = di.prepare_gradient(rosenbrock, backend, x)
        with jax.transfer_guard_device_to_host("disallow"):  # no host round trip
            g = di.gradient(rosenbrock, backend, x, prep=prep)
            jax.block_until_ready(g)
        assert g.devices() == {device}
        np.testing.assert_allclose(np.asarray(g), _rosen_der(X), rtol=1e-10)
        h = di.hessian(rosenbrock, backend, x)
        assert h.devices() == {device}
        np.testing.assert_allclose(np.asarray(h), _rosen_hess(X), rtol=1e-10)


def _jax_calls(x: Any) -> dict[str, tuple[str, Any, Any, tuple[Any, ...]]]:
    """``{name: (operator, f, backend, extra arguments)}`` of JAX GPU callers."""
    forward, fd = di.AutoJAX(mode="forward"), di.AutoFiniteDiff()
    return {
        "hvp": ("hvp", rosenbrock, di.AutoJAX(), ((x * 0.5 + 1.0,),)),
        "jacobian": ("jacobian", tridiagonal, di.AutoJAX(), ()),
        "sparse jacobian": ("jacobian", tridiagonal, di.AutoSparse(forward), ()),
        "sparse jacobian, coo": ("jacobian", tridiagonal, di.AutoSparse(forward, output="coo"), ()),
        "finite-difference gradient": ("gradient", rosenbrock, fd, ()),
        "finite-difference jacobian": ("jacobian", tridiagonal, fd, ()),
    }


def _reference(name: str) -> np.ndarray:
    """Closed forms at ``X``: scipy's Rosenbrock derivatives, the tridiagonal Jacobian."""
    if name == "hvp":
        return _rosen_hess(X) @ (X * 0.5 + 1.0)
    if name == "finite-difference gradient":
        return _rosen_der(X)
    jac = np.diag(np.cos(X) + np.concatenate([[0.0], X[:-1]]))
    jac += np.diag(X[1:], k=-1) - 0.5 * np.eye(len(X), k=1)
    return jac


@pytest.mark.parametrize(
    "name",
    [
        "hvp",
        "jacobian",
        "sparse jacobian",
        "sparse jacobian, coo",
        "finite-difference gradient",
        "finite-difference jacobian",
    ],
)
def test_jax_gpu_prepared_calls_copy_nothing_to_the_host(name: str) -> None:
    jax = pytest.importorskip("jax")
    device = _needs("jax")
    with jax.enable_x64(True):
        x = jax.device_put(jax.numpy.asarray(X), device)
        operator, f, backend, extra = _jax_calls(x)[name]
        call = prepared(operator, f, backend, x, *extra)
        with jax.transfer_guard_device_to_host("disallow"):
            result = call()
            jax.block_until_ready(result)
        dense = result.todense() if hasattr(result, "todense") else result
        got = np.asarray(dense[0] if isinstance(dense, tuple) else dense)
    rtol = 1e-5 if isinstance(backend, di.AutoFiniteDiff) else 1e-10
    np.testing.assert_allclose(got, _reference(name), rtol=rtol, atol=rtol)
    assert {d.platform for d in jax.tree.leaves(result)[0].devices()} == {device.platform}


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_torch_cuda_gradient_hvp_and_hessian(mode: str) -> None:
    torch = pytest.importorskip("torch")
    device = _needs("torch")
    backend = di.AutoTorch(mode=mode)
    x = torch.asarray(X, device=device)
    t = torch.ones_like(x)
    g = di.gradient(rosenbrock, backend, x, prep=di.prepare_gradient(rosenbrock, backend, x))
    (hv,) = di.hvp(rosenbrock, backend, x, (t,))
    h = di.hessian(rosenbrock, backend, x)
    for result in (g, hv, h):
        assert result.device == x.device
    np.testing.assert_allclose(g.cpu().numpy(), _rosen_der(X), rtol=1e-10)
    np.testing.assert_allclose(hv.cpu().numpy(), _rosen_hess(X).sum(axis=1), rtol=1e-10)
    np.testing.assert_allclose(h.cpu().numpy(), _rosen_hess(X), rtol=1e-10)


@pytest.mark.parametrize("engine", ["jax", "torch", "finite_diff"])
def test_cupy_callers_through_every_engine(engine: str) -> None:
    cp = pytest.importorskip("cupy")
    _needs("cupy")
    backend = {
        "jax": di.AutoJAX(),
        "torch": di.AutoTorch(),
        "finite_diff": di.AutoFiniteDiff(),
    }[engine]
    x = cp.asarray(X)
    prep = di.prepare_gradient(rosenbrock, backend, x)
    g = di.gradient(rosenbrock, backend, x, prep=prep)
    assert isinstance(g, cp.ndarray)
    assert g.device == x.device
    rtol = 1e-5 if engine == "finite_diff" else 1e-10
    np.testing.assert_allclose(cp.asnumpy(g), _rosen_der(X), rtol=rtol, atol=rtol)


def _cuda_x(caller: str) -> Any:
    """``X`` on the CUDA device of ``"cupy"`` or ``"torch"`` (skips without one)."""
    if caller == "cupy":
        cp = pytest.importorskip("cupy")
        _needs("cupy")
        return cp.asarray(X)
    torch = pytest.importorskip("torch")
    return torch.asarray(X, device=_needs("torch"))


@pytest.mark.parametrize("caller", ["cupy", "torch"])
def test_sparse_jacobians_of_cuda_callers_are_sparse_and_right(caller: str) -> None:
    x = _cuda_x(caller)
    sparse = di.jacobian(tridiagonal, di.AutoSparse(di.AutoFiniteDiff()), x)
    dense = to_numpy(di.jacobian(tridiagonal, di.AutoFiniteDiff(), x))
    matrix = sparse.toarray() if hasattr(sparse, "toarray") else sparse.to_dense()
    assert type(matrix).__module__.split(".")[0] in ("cupy", "torch")  # on the device
    np.testing.assert_allclose(to_numpy(matrix), dense, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("caller", ["cupy", "torch"])
def test_point_by_point_differences_of_a_view_on_the_device(caller: str) -> None:
    """``v[1:]`` slices the stacked axis, so finite differences evaluate it point by point
    (a coordinate sweep of one buffer); each result is a view of that buffer and must be
    copied before the buffer changes. The Jacobian is ``[0 | I]``; the value must not be
    a view of ``x`` either."""
    x = _cuda_x(caller)
    fd = di.AutoFiniteDiff()
    jac = di.jacobian(lambda v: v[1:], fd, x)
    np.testing.assert_allclose(to_numpy(jac), np.eye(len(X))[1:], atol=1e-8)
    y, _ = di.value_and_jacobian(lambda v: v, fd, x)
    y[0] = 7.0
    assert float(x[0]) == X[0]  # y is not x's memory

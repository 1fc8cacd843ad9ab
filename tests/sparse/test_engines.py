"""AutoSparse over the AD engines: JAX, PyTorch and HIPS autograd as dense backends."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

import differentiation_interface as di
from differentiation_interface.testing.sparse_scenarios import SparseScenario, sparse_scenarios
from tests.helpers import available

SCENARIOS = sparse_scenarios()


DENSE = [
    available(di.AutoJAX(mode="forward")),
    available(di.AutoJAX()),
    available(di.AutoTorch(mode="forward")),
    available(di.AutoTorch()),
    available(di.AutoAutograd()),
]


def _to_dense(matrix: Any) -> np.ndarray:
    if isinstance(matrix, sp.sparray):
        return matrix.toarray()
    if type(matrix).__name__ == "BCOO":
        return np.asarray(matrix.todense())
    return matrix.to_dense().detach().cpu().numpy()


def _compare(s: SparseScenario, backend: Any, x: Any, *, atol: float) -> Any:
    sparse = di.AutoSparse(backend)
    if s.operator == "jacobian":
        prep = di.prepare_jacobian(s.f, sparse, x)
        result = di.jacobian(s.f, sparse, x, prep=prep)
        dense = di.jacobian(s.f, backend, x)
        reference = s.res1
    else:
        prep = di.prepare_hessian(s.f, sparse, x)
        result = di.hessian(s.f, sparse, x, prep=prep)
        dense = di.hessian(s.f, backend, x)
        reference = s.res2
    got = _to_dense(result)
    scale = float(np.abs(reference).max())
    np.testing.assert_allclose(got, np.asarray(dense), atol=atol * scale)
    np.testing.assert_allclose(got, reference, atol=atol * scale)
    return prep, result


@pytest.mark.parametrize("backend", DENSE)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_numpy_inputs_give_scipy_matrices(backend: Any, scenario: SparseScenario) -> None:
    prep, result = _compare(scenario, backend, scenario.x, atol=1e-12)
    assert isinstance(result, sp.csr_array)
    assert result.dtype == np.float64
    assert (
        prep.partition == ("column" if backend.mode == "forward" else "row")
        if scenario.operator == "jacobian"
        else True
    )


@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_torch_tensors_give_torch_sparse_csr(mode: str, scenario: SparseScenario) -> None:
    torch = pytest.importorskip("torch")
    x = torch.from_numpy(scenario.x.copy())
    _, result = _compare(scenario, di.AutoTorch(mode=mode), x, atol=1e-12)
    assert result.layout == torch.sparse_csr
    assert result.dtype == torch.float64
    assert result.device == x.device
    assert tuple(result.shape) == scenario.pattern.shape


@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_jax_arrays_give_bcoo_from_one_compiled_program(
    mode: str, scenario: SparseScenario
) -> None:
    pytest.importorskip("jax")
    import jax.numpy as jnp
    from jax.experimental import sparse as jsparse

    x = jnp.asarray(scenario.x.astype(np.float32))
    prep, result = _compare(scenario, di.AutoJAX(mode=mode), x, atol=2e-5)
    assert isinstance(result, jsparse.BCOO)
    assert result.dtype == jnp.float32
    assert prep.plan.fused is not None


def test_jax_value_variants_and_finite_differences_fuse_too() -> None:
    pytest.importorskip("jax")
    import jax.numpy as jnp

    s = SCENARIOS[5]
    x = jnp.asarray(s.x.astype(np.float32))
    value, grad, hess = di.value_gradient_and_hessian(s.f, di.AutoSparse(di.AutoJAX()), x)
    np.testing.assert_allclose(float(value), float(s.f(s.x)), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(grad), s.res1, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(np.asarray(hess.todense()), s.res2, atol=1e-3)
    j = SCENARIOS[3]
    xj = jnp.asarray(j.x.astype(np.float32))
    backend = di.AutoSparse(di.AutoFiniteDiff())
    prep = di.prepare_jacobian(j.f, backend, xj)
    assert prep.plan.fused is not None
    y, jac = di.value_and_jacobian(j.f, backend, xj, prep=prep)
    np.testing.assert_allclose(np.asarray(jac.todense()), j.res1, atol=2e-2)
    np.testing.assert_allclose(np.asarray(y), j.f(j.x), rtol=1e-5)


def test_jax_dense_output() -> None:
    pytest.importorskip("jax")
    import jax.numpy as jnp

    s = SCENARIOS[0]
    x = jnp.asarray(s.x.astype(np.float32))
    jac = di.jacobian(s.f, di.AutoSparse(di.AutoJAX(mode="forward"), output="dense"), x)
    assert isinstance(jac, type(x))
    assert jac.shape == (12, 12)
    np.testing.assert_allclose(np.asarray(jac), s.res1, atol=1e-5)


def test_torch_dense_backend_with_jax_arrays_is_not_fused() -> None:
    pytest.importorskip("jax")
    pytest.importorskip("torch")
    import jax.numpy as jnp

    s = SCENARIOS[0]
    x = jnp.asarray(s.x.astype(np.float32))
    prep, result = _compare(s, di.AutoTorch(mode="forward"), x, atol=2e-5)
    assert prep.plan.fused is None
    assert type(result).__name__ == "BCOO"

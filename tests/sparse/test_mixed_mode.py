"""``di.MixedMode``: bidirectional coloring of sparse Jacobians, and the selector used alone.

References are closed forms (the arrowhead, ``M * cos(x)``) and the sparse scenarios'
own; the coloring is checked against one-sided colorings of the same patterns.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from array_api_compat import array_namespace

import differentiation_interface as di
from differentiation_interface.sparse._coloring import bicoloring
from differentiation_interface.sparse._coloring.bicoloring import mixed_seeds
from differentiation_interface.testing.sparse_scenarios import SparseScenario, sparse_scenarios
from tests.helpers import available

FD = di.MixedMode(di.AutoFiniteDiff(), di.AutoFiniteDiff())


MIXED = [
    available(FD),
    available(di.MixedMode(di.AutoJAX(mode="forward"), di.AutoJAX())),
    available(di.MixedMode(di.AutoTorch(mode="forward"), di.AutoTorch())),
    available(di.MixedMode(di.AutoFiniteDiff(), di.AutoAutograd())),
]


def arrow(x: Any) -> Any:
    """A dense first row (``sum(x**2)``) and first column (``x_0 x_i``), plus the diagonal."""
    xp = array_namespace(x)
    return xp.concat([xp.reshape(xp.sum(x**2), (1,)), x[1:] * x[0] + x[1:] ** 3])


def arrow_jacobian(x: np.ndarray) -> np.ndarray:
    n = x.shape[0]
    J = np.zeros((n, n))
    J[0] = 2 * x
    J[1:, 0] = x[1:]
    J[np.arange(1, n), np.arange(1, n)] = x[0] + 3 * x[1:] ** 2
    return J


def _to_dense(matrix: Any) -> np.ndarray:
    if isinstance(matrix, sp.sparray):
        return matrix.toarray()
    if type(matrix).__name__ == "BCOO":
        return np.asarray(matrix.todense())
    if hasattr(matrix, "to_dense"):
        return matrix.to_dense().detach().cpu().numpy()
    return np.asarray(matrix)


def _in_namespace(x: np.ndarray, backend: Any) -> Any:
    name = type(backend.forward).__name__
    if name == "AutoJAX":
        import jax.numpy as jnp

        return jnp.asarray(x.astype(np.float32))
    if name == "AutoTorch":
        import torch

        return torch.asarray(x)
    return x


def test_arrowhead_needs_three_colors_where_one_side_needs_n() -> None:
    n = 10_000
    x = np.linspace(0.5, 1.5, n)
    prep = di.prepare_jacobian(arrow, di.AutoSparse(FD), x)
    assert (prep.forward_colors, prep.reverse_colors, prep.ncolors) == (2, 1, 3)
    assert prep.partition == "mixed"
    one_sided = di.prepare_jacobian(arrow, di.AutoSparse(di.AutoFiniteDiff()), x[:200])
    assert one_sided.ncolors == 200  # a dense row: every column its own color
    J = di.jacobian(arrow, di.AutoSparse(FD), x, prep=prep)
    reference = sp.csr_array(arrow_jacobian(x[:300]))
    np.testing.assert_allclose(J[:300, :300].toarray(), reference.toarray(), atol=1e-5)


@pytest.mark.parametrize("backend", MIXED)
def test_arrowhead_in_every_namespace(backend: Any) -> None:
    xn = np.linspace(0.5, 1.5, 40)
    x = _in_namespace(xn, backend)
    sparse = di.AutoSparse(backend)
    prep = di.prepare_jacobian(arrow, sparse, x)
    assert prep.ncolors == 3
    y, J = di.value_and_jacobian(arrow, sparse, x, prep=prep)
    tol = 1e-5 if "JAX" in repr(backend) else 1e-6
    np.testing.assert_allclose(_to_dense(J), arrow_jacobian(xn), rtol=tol, atol=tol)
    np.testing.assert_allclose(np.asarray(y), np.asarray(arrow(xn)), rtol=tol)


@pytest.mark.parametrize("scenario", sparse_scenarios(), ids=lambda s: s.name)
def test_every_sparse_scenario(scenario: SparseScenario) -> None:
    sparse = di.AutoSparse(FD)
    if scenario.operator == "hessian":  # the reverse side's own second order
        got = di.hessian(scenario.f, sparse, scenario.x).toarray()
        scale = float(np.abs(scenario.res2).max())
        np.testing.assert_allclose(got, scenario.res2, atol=1e-4 * scale)
        return
    prep = di.prepare_jacobian(scenario.f, sparse, scenario.x)
    one_sided = di.prepare_jacobian(scenario.f, di.AutoSparse(di.AutoFiniteDiff()), scenario.x)
    assert prep.ncolors <= one_sided.ncolors  # the one-sided split is among those tried
    got = di.jacobian(scenario.f, sparse, scenario.x, prep=prep).toarray()
    np.testing.assert_allclose(got, scenario.res1, atol=1e-6 * float(np.abs(scenario.res1).max()))


@pytest.mark.parametrize("seed", range(40))
def test_random_patterns_against_the_closed_form(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m, n = (int(v) for v in rng.integers(1, 25, 2))
    pattern = sp.random_array((m, n), density=float(rng.uniform(0.05, 0.6)), rng=rng) != 0
    if seed % 2:  # dense lines, where bicoloring pays off
        pattern = pattern.tolil()
        pattern[int(rng.integers(m)), :] = True
        pattern[:, int(rng.integers(n))] = True
    M = sp.csr_array(pattern, dtype=np.float64).toarray() * rng.uniform(0.5, 2.0, (m, n))

    def f(x: Any) -> Any:
        return M @ np.sin(x)

    x = rng.uniform(-1.0, 1.0, n)
    backend = di.AutoSparse(FD, sparsity_detector=di.KnownJacobianSparsity(pattern))
    J = di.jacobian(f, backend, x).toarray()
    np.testing.assert_allclose(J, M * np.cos(x), atol=1e-6)


def test_the_decompression_index_reads_every_nonzero_alone() -> None:
    """The coloring layer alone: compressed products of a random J, gathered."""
    rng = np.random.default_rng(7)
    for _ in range(50):
        m, n = (int(v) for v in rng.integers(1, 30, 2))
        pattern = sp.csr_array(sp.random_array((m, n), density=0.3, rng=rng) != 0)
        split = bicoloring(pattern, ("largest_first",), seed=0)
        J = sp.csr_array(pattern, dtype=np.float64)
        J.data = rng.normal(size=J.nnz)
        forward = (J @ mixed_seeds(split.column_colors, split.forward_colors).T).T
        reverse = (J.T @ mixed_seeds(split.row_colors, split.reverse_colors).T).T
        compressed = np.concatenate([np.ravel(forward), np.ravel(reverse)])
        np.testing.assert_array_equal(compressed[split.index], J.data)


def test_used_alone_each_operator_goes_to_its_side() -> None:
    backend = di.MixedMode(di.AutoFiniteDiff(), di.AutoFiniteDiff(method="forward"))
    x = np.array([0.3, 0.7, 1.1])

    def f(v: Any) -> Any:
        return np.sin(v) * v

    fprime = np.sin(x) + x * np.cos(x)
    (pushed,) = di.pushforward(f, backend, x, (np.ones(3),))
    np.testing.assert_allclose(pushed, fprime, atol=1e-8)
    (pulled,) = di.pullback(f, backend, x, (np.ones(3),))
    np.testing.assert_allclose(pulled, fprime, atol=1e-6)
    np.testing.assert_allclose(di.jacobian(f, backend, x), np.diag(fprime), atol=1e-6)
    np.testing.assert_allclose(di.gradient(lambda v: np.sum(v**3), backend, x), 3 * x**2, atol=1e-5)
    np.testing.assert_allclose(
        di.hessian(lambda v: np.sum(v**3), backend, x), np.diag(6 * x), atol=1e-3
    )


def test_selector() -> None:
    backend = di.MixedMode(di.AutoJAX(mode="forward"), di.AutoJAX())
    assert repr(backend) == "MixedMode(AutoJAX(mode='forward'), AutoJAX())"
    assert backend == di.MixedMode(di.AutoJAX(mode="forward"), di.AutoJAX())
    assert hash(backend) == hash(di.MixedMode(di.AutoJAX(mode="forward"), di.AutoJAX()))
    assert di.check_inplace(FD)
    assert not di.check_inplace(backend)
    assert di.check_available(FD)
    with pytest.raises(TypeError, match="MixedMode` takes backend selectors"):
        di.MixedMode(di.AutoFiniteDiff(), "jax")  # type: ignore[arg-type]


def test_complex_jacobians_are_refused_with_the_fix() -> None:
    with pytest.raises(di.UnsupportedOperationError, match="one-sided dense backend"):
        di.prepare_jacobian(lambda z: z * 2.0, di.AutoSparse(FD), np.ones(3, dtype=complex))

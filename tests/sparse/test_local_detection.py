"""``di.TracerLocalSparsityDetector``: the pattern at one point, at least as sparse as the
global one and never missing a nonzero of the Jacobian there (checked against closed forms
and against the dense Jacobian's nonzeros)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from array_api_compat import array_namespace

import differentiation_interface as di

LOCAL = di.TracerLocalSparsityDetector()
GLOBAL = di.TracerSparsityDetector()


def _banded(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    A = np.zeros((n, n))
    for k in (-1, 0, 1):
        A += np.diag(rng.uniform(0.5, 1.5, n - abs(k)) * rng.choice([-1, 1], n - abs(k)), k)
    return A


def _nonzeros(J: np.ndarray) -> Any:
    return sp.csr_array(J != 0)


def _contains(big: Any, small: Any) -> bool:
    """Every entry of ``small`` is in ``big`` (both boolean patterns)."""
    return bool(((small.astype(int) - small.multiply(big).astype(int)) != 0).nnz == 0)


@pytest.mark.parametrize("seed", range(5))
def test_relu_layer_keeps_only_the_active_rows(seed: int) -> None:
    n = 30
    A = _banded(n, seed)

    def relu(x: Any) -> Any:
        xp = array_namespace(x)
        return xp.maximum(A @ x, 0.0)

    x = np.random.default_rng(100 + seed).normal(size=n)
    active = A @ x > 0
    local = di.jacobian_sparsity(relu, x, LOCAL)
    global_ = di.jacobian_sparsity(relu, x, GLOBAL)
    closed_form = active[:, None] * A  # d relu(Ax) = diag(Ax > 0) A
    np.testing.assert_array_equal(local.toarray(), closed_form != 0)
    assert _contains(global_, local)
    assert local.nnz < global_.nnz  # strictly sparser: some units are inactive at x


def test_where_keeps_the_branch_taken() -> None:
    def f(x: Any) -> Any:
        xp = array_namespace(x)
        return xp.where(x > 0, x**2, xp.sin(xp.flip(x)))

    x = np.array([1.0, -2.0, 3.0, -4.0, 0.5])
    n = x.shape[0]
    expected = np.zeros((n, n), dtype=bool)
    for i in range(n):
        expected[i, i if x[i] > 0 else n - 1 - i] = True
    np.testing.assert_array_equal(di.jacobian_sparsity(f, x, LOCAL).toarray(), expected)
    global_ = di.jacobian_sparsity(f, x, GLOBAL).toarray()
    assert global_[0, n - 1]  # both branches globally
    assert global_[0, 0]


@pytest.mark.parametrize(
    ("name", "f", "kept"),
    [
        ("clip", lambda x: array_namespace(x).clip(x, -1.0, 1.0), lambda x: np.abs(x) < 1),
        ("minimum", lambda x: array_namespace(x).minimum(x, 0.5), lambda x: x < 0.5),
        ("abs", lambda x: array_namespace(x).abs(x), lambda x: np.ones_like(x, dtype=bool)),
        ("relu*x", lambda x: array_namespace(x).maximum(x, 0.0) * x, lambda x: x > 0),
    ],
)
def test_piecewise_functions(name: str, f: Any, kept: Any) -> None:
    x = np.array([-2.0, -0.5, 0.25, 0.75, 3.0])
    local = di.jacobian_sparsity(f, x, LOCAL).toarray()
    np.testing.assert_array_equal(local, np.diag(kept(x)), err_msg=name)
    # never missing a nonzero of the Jacobian at x (central differences, away from kinks)
    J = di.jacobian(f, di.AutoFiniteDiff(), x)
    assert _contains(sp.csr_array(local), _nonzeros(np.where(np.abs(J) > 1e-8, J, 0.0)))


def test_control_flow_follows_the_branch_taken_where_global_detection_refuses() -> None:
    def f(x: Any) -> Any:
        if x[0] > 0:
            return x * 2.0
        return x[::-1] * 2.0

    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(
        di.jacobian_sparsity(f, x, LOCAL).toarray(), np.eye(3, dtype=bool)
    )
    np.testing.assert_array_equal(
        di.jacobian_sparsity(f, -x, LOCAL).toarray(), np.eye(3, dtype=bool)[::-1]
    )
    with pytest.raises(di.UnsupportedOperationError, match="Control flow on values"):
        di.jacobian_sparsity(f, x, GLOBAL)


def test_autosparse_detects_again_at_every_unprepared_point() -> None:
    A = _banded(12, 3)

    def relu(x: Any) -> Any:
        xp = array_namespace(x)
        return xp.maximum(A @ x, 0.0)

    backend = di.AutoSparse(di.AutoFiniteDiff(), sparsity_detector=LOCAL)
    rng = np.random.default_rng(9)
    for _ in range(4):  # different active sets: a reused pattern would miss nonzeros
        x = rng.normal(size=12)
        J = di.jacobian(relu, backend, x).toarray()
        np.testing.assert_allclose(J, (A @ x > 0)[:, None] * A, atol=1e-6)


def test_a_constant_context_is_taken_at_its_values() -> None:
    def f(x: Any, mask: Any) -> Any:
        xp = array_namespace(x)
        return xp.where(mask > 0, x, 0.0)

    x, mask = np.ones(4), np.array([1.0, 0.0, 1.0, 0.0])
    local = di.jacobian_sparsity(f, x, LOCAL, di.Constant(mask)).toarray()
    np.testing.assert_array_equal(local, np.diag(mask > 0))
    assert di.jacobian_sparsity(f, x, GLOBAL, di.Constant(mask)).nnz == 4


def test_hessian_pattern_is_no_denser_than_the_global_one() -> None:
    def f(x: Any) -> Any:
        xp = array_namespace(x)
        return xp.sum(xp.where(x > 0, x**3, x)) + xp.sum(x[1:] * x[:-1] ** 2)

    x = np.array([1.0, -1.0, 2.0, -2.0])
    local = di.hessian_sparsity(f, x, LOCAL)
    global_ = di.hessian_sparsity(f, x, GLOBAL)
    assert _contains(global_, local)
    H = di.hessian(f, di.AutoFiniteDiff(), x)
    assert _contains(local, _nonzeros(np.where(np.abs(H) > 1e-4, H, 0.0)))


def test_refused_inside_a_callers_jit_with_the_fix() -> None:
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")

    def f(x: Any) -> Any:
        return jnp.maximum(x, 0.0)

    backend = di.AutoSparse(di.AutoJAX(mode="forward"), sparsity_detector=LOCAL)
    with pytest.raises(di.UnsupportedOperationError, match="prepare outside the transformation"):
        jax.jit(lambda v: di.jacobian(f, backend, v).todense())(jnp.ones(3))


def test_composite_backends_over_a_local_detector_detect_again_too() -> None:
    """First-order operators of SecondOrder(outer, inner) are inner's: its sparse
    Jacobian's local pattern must not be reused at another point either."""
    A = _banded(10, 4)

    def relu(x: Any) -> Any:
        xp = array_namespace(x)
        return xp.maximum(A @ x, 0.0)

    sparse = di.AutoSparse(di.AutoFiniteDiff(), sparsity_detector=LOCAL)
    backend = di.SecondOrder(di.AutoFiniteDiff(), sparse)
    rng = np.random.default_rng(5)
    for _ in range(4):  # a reused local pattern would miss the newly active units
        x = rng.normal(size=10)
        J = di.jacobian(relu, backend, x).toarray()
        np.testing.assert_allclose(J, (A @ x > 0)[:, None] * A, atol=1e-6)

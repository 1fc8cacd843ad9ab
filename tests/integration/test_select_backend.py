"""``select_backend`` on functions where the right answer is known."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import differentiation_interface as di
from differentiation_interface.testing import installed_backends, select_backend

torch = pytest.importorskip("torch")


def test_torch_tensors_and_a_torch_only_function_select_torch() -> None:
    # softplus exists only in torch: JAX and autograd call it on their own tracers and fail,
    # finite differences evaluate it on tensors (correct, slow), torch differentiates it.
    def f(x: Any) -> Any:
        return torch.nn.functional.softplus(x).sum()

    x = torch.linspace(-1.0, 1.0, 300, dtype=torch.float64)
    best, table = select_backend(f, x, "gradient", progress=False, rounds=1, min_time=1e-3)
    status = {repr(c.backend): c.status for c in table}
    assert status["AutoFiniteDiff()"] == "ok"
    assert status["AutoTorch()"] == "ok"
    assert all(
        status[repr(b)] in ("failed", "unsupported")
        for b in installed_backends()
        if isinstance(b, (di.AutoJAX, di.AutoAutograd))
    )
    assert isinstance(best, di.AutoTorch)
    # The selected backend is right: d/dx softplus(x) = sigmoid(x).
    np.testing.assert_allclose(
        di.gradient(f, best, x).numpy(), 1 / (1 + np.exp(-x.numpy())), rtol=1e-12
    )


def _tridiagonal(x: Any) -> Any:
    from array_api_compat import array_namespace

    xp = array_namespace(x)
    zero = xp.zeros(1, dtype=x.dtype)
    padded = xp.concat([zero, x, zero])
    return padded[:-2] - 2.0 * x + padded[2:] + x**2


def test_a_large_sparse_jacobian_selects_a_sparse_backend() -> None:
    x = np.linspace(0.0, 1.0, 2000)
    fd, jax_forward = di.AutoFiniteDiff(), di.AutoJAX(mode="forward")
    candidates = [fd, jax_forward, di.AutoSparse(fd), di.AutoSparse(jax_forward)]
    best, table = select_backend(
        _tridiagonal, x, "jacobian", candidates, progress=False, rounds=1, min_time=1e-3
    )
    assert [c.status for c in table] == ["ok"] * 4
    assert isinstance(best, di.AutoSparse)
    # Closed form: 1 off the diagonal, 2x - 2 on it.
    J = di.jacobian(_tridiagonal, best, x)
    dense = J.toarray()
    np.testing.assert_allclose(np.diag(dense), 2 * x - 2, atol=1e-6)
    np.testing.assert_allclose(np.diag(dense, 1), 1.0, atol=1e-6)
    assert J.nnz == 3 * 2000 - 2


def test_a_wrong_candidate_is_not_selected_and_disagreement_raises() -> None:
    def f(x: Any) -> Any:
        from array_api_compat import array_namespace

        xp = array_namespace(x)
        return xp.sum(xp.exp(x))

    x = np.linspace(0.0, 1.0, 5)
    coarse = di.AutoFiniteDiff(method="forward", step=0.5)
    best, table = select_backend(
        f, x, "gradient", [coarse, di.AutoJAX(), di.AutoAutograd()], progress=False
    )
    assert [c.status for c in table] == ["wrong", "ok", "ok"]
    assert best != coarse
    with pytest.raises(AssertionError, match=r"no two agree"):
        select_backend(
            f, x, "gradient", [coarse, di.AutoJAX()], progress=False, rounds=1, min_time=1e-3
        )
    with pytest.raises(AssertionError, match=r"no candidate ran"):
        select_backend(
            lambda x: "not an array",
            x,
            "gradient",
            [di.AutoFiniteDiff()],
            progress=False,
            rounds=1,
            min_time=1e-3,
        )

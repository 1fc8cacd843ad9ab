"""What the documentation and the error messages claim, measured."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest

import differentiation_interface as di
from differentiation_interface.backends import _registry


def test_a_missing_sparse_extra_names_the_public_selector(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def without_scipy(name: str, *args: Any) -> Any:
        return None if name == "scipy" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without_scipy)
    backend = di.AutoSparse(di.AutoFiniteDiff(step=0.125))  # a selector no test has built
    with pytest.raises(di.BackendUnavailableError) as caught:
        _registry.engine_for(backend)
    message = str(caught.value)
    assert message.startswith("AutoSparse needs the 'scipy' package, which is not installed.")
    assert 'pip install "differentiation-interface[sparse]"' in message
    assert "_SciPy" not in message


def test_second_order_of_two_finite_differences_is_the_fused_stencil() -> None:
    # docs/explanation/finite-differences.md: same numbers as AutoFiniteDiff(), 1.4e-8 and
    # 1.1e-8 relative on sum(exp(x)) at five points of [0, 1] (not the 1e-5 of nesting).
    def f(x: Any) -> Any:
        return np.sum(np.exp(x))

    x = np.linspace(0.0, 1.0, 5)
    exact = np.diag(np.exp(x))
    fd = di.AutoFiniteDiff()
    nested = di.SecondOrder(fd, fd)
    h_fd, h_nested = di.hessian(f, fd, x), di.hessian(f, nested, x)
    np.testing.assert_array_equal(h_fd, h_nested)
    error = np.max(np.abs(h_nested - exact)) / np.max(np.abs(exact))
    assert 1e-9 < error < 2e-8
    (hv,) = di.hvp(f, nested, x, (np.ones(5),))
    assert np.max(np.abs(hv - np.exp(x))) / np.e < 2e-8

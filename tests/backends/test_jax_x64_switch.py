"""Entering JAX's 64-bit mode for a call, without the context manager.

Float64 numpy inputs are computed in 64 bits even when the caller's thread is not in 64-bit
mode: the engine switches the thread's mode for the call (``X64_ENTER`` / ``X64_RESTORE`` of
``differentiation_interface._array._precision``) and must leave it as it was, after a result,
a mismatch or an error. Values are closed forms.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from array_api_compat import array_namespace

jax = pytest.importorskip("jax")

import differentiation_interface as di  # noqa: E402
from differentiation_interface._array import _precision, x64_switch  # noqa: E402

REVERSE = di.AutoJAX()


def cube_sum(x: Any) -> Any:
    xp = array_namespace(x)
    return xp.sum(x**3)


def test_the_switch_is_available_on_this_jax() -> None:
    # The JAX of CI has the state methods; without them the engine uses the context.
    assert x64_switch() is jax.enable_x64  # resolved once, the same object ever after
    assert _precision.X64 is jax.enable_x64
    assert _precision.X64_ENTER is not None
    assert _precision.X64_RESTORE is not None


def test_prepared_numpy_call_outside_64_bit_mode_takes_the_express_tier(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    x = np.linspace(0.1, 1.3, 7)
    prep = di.prepare_gradient(cube_sum, REVERSE, x)

    def no_plan_run(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the prepared call left the express tier")

    monkeypatch.setattr(prep.plan, "run", no_plan_run)
    assert not jax.enable_x64.value
    g = di.gradient(cube_sum, REVERSE, x + 1.0, prep=prep)
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, 3 * (x + 1.0) ** 2, rtol=1e-15)  # float32 would miss this
    assert not jax.enable_x64.value  # the thread's mode is restored


def test_mode_is_restored_after_a_mismatch_and_inside_a_scope() -> None:
    x = np.linspace(0.1, 1.3, 7)
    prep = di.prepare_gradient(cube_sum, REVERSE, x)
    with pytest.raises(di.PreparationMismatchError):
        di.gradient(cube_sum, REVERSE, np.ones(8), prep=prep)  # the C++ check refuses it
    assert not jax.enable_x64.value
    with jax.enable_x64(True):  # a caller already in 64-bit mode stays there
        np.testing.assert_allclose(
            di.gradient(cube_sum, REVERSE, x, prep=prep), 3 * x**2, rtol=1e-15
        )
        assert jax.enable_x64.value
    assert not jax.enable_x64.value


@pytest.mark.parametrize("available", [True, False], ids=["state-methods", "context"])
def test_unprepared_and_tangent_calls_outside_64_bit_mode(
    available: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not available:  # a JAX without the state methods: the context manager instead
        x64_switch()  # resolve first: resolving later would overwrite the patch
        monkeypatch.setattr(_precision, "X64_ENTER", None)
        monkeypatch.setattr(_precision, "X64_RESTORE", None)
    x = np.linspace(0.1, 1.3, 7)
    t = np.arange(1.0, 8.0)
    (hv,) = di.hvp(cube_sum, REVERSE, x, (t,))
    np.testing.assert_allclose(hv, 6 * x * t, rtol=1e-15)
    prep = di.prepare_gradient(cube_sum, REVERSE, x)
    np.testing.assert_allclose(di.gradient(cube_sum, REVERSE, x, prep=prep), 3 * x**2, rtol=1e-15)
    assert not jax.enable_x64.value

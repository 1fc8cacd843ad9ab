"""Entering JAX's 64-bit mode for a call, without the context manager.

Float64 numpy inputs are computed in 64 bits even when the caller's thread is not in 64-bit
mode: the engine switches the thread's mode for the call (``X64_ENTER`` / ``X64_RESTORE``)
and must leave it as it was, after a result, a mismatch or an error. Values are closed forms.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from array_api_compat import array_namespace

jax = pytest.importorskip("jax")

import differentiation_interface as di  # noqa: E402
from differentiation_interface.backends import _jax_io, _jax_trace  # noqa: E402

REVERSE = di.AutoJAX()


def cube_sum(x: Any) -> Any:
    xp = array_namespace(x)
    return xp.sum(x**3)


def test_the_switch_is_available_on_this_jax() -> None:
    # The JAX of CI has the state methods; without them the engine uses the context.
    assert _jax_io.X64_ENTER is not None
    assert _jax_io.X64_RESTORE is not None


def test_prepared_numpy_call_outside_64_bit_mode_takes_the_shortcut(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    x = np.linspace(0.1, 1.3, 7)
    prep = di.prepare_gradient(cube_sum, REVERSE, x)

    def no_plan_run(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the prepared call left the shortcut")

    monkeypatch.setattr(prep.plan, "run", no_plan_run)
    assert not _jax_io.X64.value
    g = di.gradient(cube_sum, REVERSE, x + 1.0, prep=prep)
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, 3 * (x + 1.0) ** 2, rtol=1e-15)  # float32 would miss this
    assert not _jax_io.X64.value  # the thread's mode is restored


def test_mode_is_restored_after_a_mismatch_and_inside_a_scope() -> None:
    x = np.linspace(0.1, 1.3, 7)
    prep = di.prepare_gradient(cube_sum, REVERSE, x)
    with pytest.raises(di.PreparationMismatchError):
        di.gradient(cube_sum, REVERSE, np.ones(8), prep=prep)  # the C++ check refuses it
    assert not _jax_io.X64.value
    with jax.enable_x64(True):  # a caller already in 64-bit mode stays there
        np.testing.assert_allclose(
            di.gradient(cube_sum, REVERSE, x, prep=prep), 3 * x**2, rtol=1e-15
        )
        assert _jax_io.X64.value
    assert not _jax_io.X64.value


@pytest.mark.parametrize("available", [True, False], ids=["state-methods", "context"])
def test_unprepared_and_tangent_calls_outside_64_bit_mode(
    available: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not available:  # a JAX without the state methods: the context manager instead
        for module in (_jax_io, _jax_trace):
            monkeypatch.setattr(module, "X64_ENTER", None)
            monkeypatch.setattr(module, "X64_RESTORE", None)
    x = np.linspace(0.1, 1.3, 7)
    t = np.arange(1.0, 8.0)
    (hv,) = di.hvp(cube_sum, REVERSE, x, (t,))
    np.testing.assert_allclose(hv, 6 * x * t, rtol=1e-15)
    prep = di.prepare_gradient(cube_sum, REVERSE, x)
    np.testing.assert_allclose(di.gradient(cube_sum, REVERSE, x, prep=prep), 3 * x**2, rtol=1e-15)
    assert not _jax_io.X64.value

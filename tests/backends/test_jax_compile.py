"""XLA compiler options of the JAX engine (``AutoJAX(compiler_options=...)``).

By default CPU programs are compiled with XLA's classic loop emitters
(``backends.jax.trace.CPU_DEFAULTS``). These tests check that the options reach ``jax.jit`` (a spy),
that XLA really receives them (it refuses an unknown one), that a JAX refusing the defaults
falls back to no options, and that a plan compiled with options still runs inside a
caller's ``jax.jit`` (JAX refuses options on nested jits). Values are closed forms.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from array_api_compat import array_namespace

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

import differentiation_interface as di  # noqa: E402
from differentiation_interface._array import to_numpy  # noqa: E402
from differentiation_interface.backends.jax import trace as jax_trace  # noqa: E402

REVERSE = di.AutoJAX()
FORWARD = di.AutoJAX(mode="forward")


def sum_sin_sq(x: Any) -> Any:
    xp = array_namespace(x)
    return xp.sum(xp.sin(x) ** 2)


def close(got: Any, want: Any, rtol: float = 1e-6) -> None:
    np.testing.assert_allclose(np.asarray(to_numpy(got)), np.asarray(want), rtol=rtol, atol=1e-6)


@pytest.fixture
def jit_options(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The ``compiler_options`` of every ``jax.jit`` the engine builds (None: not given)."""
    seen: list[Any] = []
    real = jax.jit

    def spy(fun: Any, **settings: Any) -> Any:
        seen.append(settings.get("compiler_options"))
        return real(fun, **settings)

    monkeypatch.setattr(jax, "jit", spy)
    return seen


@pytest.mark.parametrize("backend", [REVERSE, FORWARD], ids=["reverse", "forward"])
def test_cpu_programs_get_the_default_options(backend: Any, jit_options: list[Any]) -> None:
    x = np.linspace(0.1, 1.3, 5)
    prep = di.prepare_gradient(sum_sin_sq, backend, x)
    assert jit_options[0] == {"xla_cpu_use_fusion_emitters": False}
    close(di.gradient(sum_sin_sq, backend, x + 1.0, prep=prep), np.sin(2 * (x + 1.0)))


def test_a_jax_input_on_cpu_gets_the_default_options(jit_options: list[Any]) -> None:
    x = jnp.linspace(0.1, 1.3, 5)
    close(di.hessian(sum_sin_sq, REVERSE, x), np.diag(2 * np.cos(2 * np.asarray(x))))
    assert jax_trace.CPU_DEFAULTS in jit_options


def test_empty_options_mean_jax_defaults(jit_options: list[Any]) -> None:
    backend = di.AutoJAX(compiler_options={})
    x = np.linspace(0.1, 1.3, 5)
    close(di.gradient(sum_sin_sq, backend, x), np.sin(2 * x))
    assert jit_options
    assert all(options is None for options in jit_options)


def test_chosen_options_are_used_as_given(jit_options: list[Any]) -> None:
    chosen = {"xla_cpu_enable_fast_math": False}
    backend = di.AutoJAX(compiler_options=chosen)
    x = np.linspace(0.1, 1.3, 5)
    close(di.gradient(sum_sin_sq, backend, x), np.sin(2 * x))
    assert jit_options[0] == chosen


def test_xla_receives_the_options() -> None:
    backend = di.AutoJAX(compiler_options={"xla_no_such_option_here": True})
    with pytest.raises(jax.errors.JaxRuntimeError, match="xla_no_such_option_here"):
        di.gradient(sum_sin_sq, backend, np.linspace(0.1, 1.3, 5))


def test_refused_defaults_fall_back_to_none(monkeypatch: pytest.MonkeyPatch) -> None:
    """A JAX whose XLA lacks the default option: preparation retries without options."""
    monkeypatch.setattr(jax_trace, "CPU_DEFAULTS", {"xla_no_such_option_here": True})
    monkeypatch.setattr(jax_trace, "_defaults_usable", True)
    x = np.linspace(0.1, 1.3, 5)
    prep = di.prepare_gradient(sum_sin_sq, REVERSE, x)
    assert not jax_trace._defaults_usable  # remembered: later preparations skip them
    close(di.gradient(sum_sin_sq, REVERSE, x, prep=prep), np.sin(2 * x))
    assert jax_trace.compiler_options(None, x) is None


def test_a_jit_without_compiler_options_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """A JAX older than ``jax.jit(compiler_options=...)`` (the oldest supported one)."""
    real = jax.jit

    def old_jit(fun: Any, **settings: Any) -> Any:
        if "compiler_options" in settings:
            raise TypeError("jit() got an unexpected keyword argument 'compiler_options'")
        return real(fun, **settings)

    monkeypatch.setattr(jax, "jit", old_jit)
    monkeypatch.setattr(jax_trace, "_defaults_usable", True)
    x = np.linspace(0.1, 1.3, 5)
    close(di.gradient(sum_sin_sq, di.AutoJAX(mode="forward"), x), np.sin(2 * x))
    assert not jax_trace._defaults_usable


# --- a plan compiled with options, called inside a caller's jit (options refused there) ------


def test_prepared_gradient_inside_a_callers_jit() -> None:
    x = jnp.linspace(0.1, 1.3, 5)
    prep = di.prepare_gradient(sum_sin_sq, REVERSE, x, strict=False)
    got = jax.jit(lambda x: di.gradient(sum_sin_sq, REVERSE, x, prep=prep))(x + 1.0)
    close(got, np.sin(2 * (np.asarray(x) + 1.0)))


@pytest.mark.parametrize("same_point", [False, True], ids=["any-point", "same-point"])
def test_prepared_pushforward_of_traced_tangents(same_point: bool) -> None:
    x = jnp.linspace(0.1, 1.3, 5)
    prepare = di.prepare_pushforward_same_point if same_point else di.prepare_pushforward
    prep = prepare(sum_sin_sq, REVERSE, x, (x,), strict=False)

    def push(t: Any) -> Any:
        return di.pushforward(sum_sin_sq, REVERSE, x, (t,), prep=prep)[0]

    t = jnp.arange(1.0, 6.0)
    close(jax.jit(push)(t), np.sum(np.sin(2 * np.asarray(x)) * np.asarray(t)))


def test_prepared_same_point_hvp_of_traced_tangents() -> None:
    x = jnp.linspace(0.1, 1.3, 5)
    prep = di.prepare_hvp_same_point(sum_sin_sq, REVERSE, x, (x,), strict=False)
    t = jnp.arange(1.0, 6.0)
    got = jax.jit(lambda t: di.hvp(sum_sin_sq, REVERSE, x, (t,), prep=prep)[0])(t)
    close(got, 2 * np.cos(2 * np.asarray(x)) * np.asarray(t))


def test_reverse_jacobians_keep_jax_defaults(jit_options: list[Any]) -> None:
    """The one plan that measured slower with the CPU defaults opts out of them."""
    x = np.linspace(0.1, 1.3, 5)
    close(di.jacobian(lambda v: v**2, REVERSE, x), np.diag(2 * x))
    assert jit_options[0] is None
    jit_options.clear()
    close(di.jacobian(lambda v: v**2, FORWARD, x), np.diag(2 * x))
    assert jit_options[0] == jax_trace.CPU_DEFAULTS
    jit_options.clear()
    chosen = {"xla_cpu_enable_fast_math": False}  # options the caller names apply everywhere
    close(di.jacobian(lambda v: v**2, di.AutoJAX(compiler_options=chosen), x), np.diag(2 * x))
    assert jit_options[0] == chosen

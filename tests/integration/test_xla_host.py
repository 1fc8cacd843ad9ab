"""DifferentiateWith's host call under jax.jit on the CPU: this library's own XLA FFI handler.

Checked against closed forms (f(x) = sin(x) * x, loss = sum(f^2), loss' = 2 f f') and
against what JAX's own emitter does: the route taken, errors, read-only inputs, lifetime
of the callbacks while a call is in flight, empty and sharded arrays.
"""

from __future__ import annotations

import gc
import time

import numpy as np
import pytest

import differentiation_interface as di

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
torch = pytest.importorskip("torch")

from differentiation_interface.compose import _xla_host  # noqa: E402

X = np.array([0.5, 1.0, 2.0, 3.0], dtype=np.float32)
TARGET = "differentiation_interface_host_call"


def grad_loss(x):
    f = np.sin(x) * x
    return 2 * f * (np.sin(x) + x * np.cos(x))


def torch_f(x):
    return torch.sin(x) * x


def loss_of(g):
    return lambda v: jnp.sum(g(v) ** 2)


def test_under_jit_the_host_call_is_the_librarys_ffi_handler():
    g = di.DifferentiateWith(torch_f, di.AutoTorch())
    grad = jax.jit(jax.grad(loss_of(g)))
    text = grad.lower(jnp.asarray(X)).as_text()
    assert TARGET in text
    assert "python_cpu_callback" not in text
    np.testing.assert_allclose(grad(jnp.asarray(X)), grad_loss(X), rtol=1e-5)


def test_where_xla_refuses_the_handler_jaxs_emitter_does_the_work(monkeypatch):
    monkeypatch.setattr(_xla_host, "_registered", [False])
    g = di.DifferentiateWith(torch_f, di.AutoTorch())
    grad = jax.jit(jax.grad(loss_of(g)))
    text = grad.lower(jnp.asarray(X)).as_text()
    assert TARGET not in text
    assert "python_cpu_callback" in text
    np.testing.assert_allclose(grad(jnp.asarray(X)), grad_loss(X), rtol=1e-5)


def test_a_call_in_flight_keeps_its_callback_when_its_jitted_function_is_dropped():
    def slow(x):
        time.sleep(0.05)  # the call is still running when the caller drops its function
        return torch.sin(x) * x

    g = di.DifferentiateWith(slow, di.AutoTorch())
    x = jnp.asarray(X)
    if len(jax.devices("cpu")) >= 2:  # sharded: the call returns before it has run
        from jax.sharding import NamedSharding
        from jax.sharding import PartitionSpec as P

        x = jax.device_put(x, NamedSharding(jax.make_mesh((2,), ("d",)), P("d")))
    before = len(_xla_host._sites)
    out = jax.jit(jax.grad(loss_of(g)))(x)  # the jitted function: a temporary
    gc.collect()
    np.testing.assert_allclose(np.asarray(out), grad_loss(X), rtol=1e-5)
    del out
    jax.clear_caches()
    gc.collect()
    assert len(_xla_host._sites) <= before  # nothing kept once the program is gone


def test_an_error_in_f_reaches_the_caller_with_its_type_and_message():
    calls = []

    def fails_later(x):
        calls.append(1)
        if len(calls) > 1:  # the first call (learning the output's shape) succeeds
            msg = "boom from f"
            raise ValueError(msg)
        return torch.sin(x) * x

    g = di.DifferentiateWith(fails_later, di.AutoTorch())
    with pytest.raises(Exception, match="ValueError: boom from f"):
        jax.block_until_ready(jax.jit(jax.grad(loss_of(g)))(jnp.asarray(X)))


def test_a_numpy_f_writing_into_its_argument_gets_an_error_and_changes_nothing():
    def writes(x):
        x *= 0.0
        return x

    g = di.DifferentiateWith(writes, di.AutoFiniteDiff())
    x = jnp.asarray(X)
    with pytest.raises(Exception, match="read-only"):
        jax.block_until_ready(jax.jit(g)(x))
    np.testing.assert_array_equal(np.asarray(x), X)


def test_empty_arrays():
    g = di.DifferentiateWith(torch_f, di.AutoTorch())
    empty = jnp.zeros((0,), dtype=jnp.float32)
    assert jax.jit(g)(empty).shape == (0,)
    assert jax.jit(jax.grad(loss_of(g)))(empty).shape == (0,)


def test_a_sharded_argument():
    if len(jax.devices("cpu")) < 2:
        pytest.skip("needs XLA_FLAGS=--xla_force_host_platform_device_count=2")
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    mesh = jax.make_mesh((2,), ("d",))
    g = di.DifferentiateWith(torch_f, di.AutoTorch())
    x = jax.device_put(jnp.asarray(X), NamedSharding(mesh, P("d")))
    np.testing.assert_allclose(jax.jit(jax.grad(loss_of(g)))(x), grad_loss(X), rtol=1e-5)


def test_float64_and_integer_outputs_cross_as_they_are():
    g = di.DifferentiateWith(lambda x: torch.sin(x) * x, di.AutoTorch())
    with jax.enable_x64(True):
        x = jnp.asarray(X, dtype=jnp.float64)
        out = jax.jit(jax.grad(loss_of(g)))(x)
        assert out.dtype == jnp.float64
        np.testing.assert_allclose(out, grad_loss(X.astype(np.float64)), rtol=1e-12)


@pytest.mark.parametrize(
    "value_dependent",
    [
        # traced on zeros: the whole x; run on positive x: one element (would broadcast)
        lambda x: x[:1] * 1.0 if bool(x.sum() > 0) else x * 1.0,
        # traced on zeros: empty; run: every element (an empty result buffer)
        lambda x: x[x > 0] * 1.0,
    ],
)
def test_an_output_shape_other_than_the_traced_one_raises_instead_of_broadcasting(
    value_dependent,
):
    g = di.DifferentiateWith(value_dependent, di.AutoTorch())
    with pytest.raises(Exception, match=r"FunctionOutputError.*float32\[\d\] where its traced"):
        jax.block_until_ready(jax.jit(g)(jnp.asarray(X)))

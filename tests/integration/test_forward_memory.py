"""Basis sweeps hold ``O(n * chunk)`` memory, never the ``n x n`` basis.

Forward-mode gradients and Jacobians push every basis vector of ``x`` (reverse-mode
Jacobians pull every basis vector of ``f(x)``). Chunks of at most ``MAX_STACK_ELEMENTS``
seeds are built one at a time: for JAX inside the compiled program (its temporary buffers
are read from XLA's own memory analysis), for finite differences on the caller's arrays
(numpy's allocations are traced by ``tracemalloc``). Values are checked against closed forms,
at small sizes with a tiny chunk budget so that the chunked code runs.
"""

from __future__ import annotations

import tracemalloc
from typing import Any

import numpy as np
import pytest
from array_api_compat import array_namespace

import differentiation_interface as di
from differentiation_interface._array import _seeds

jax = pytest.importorskip("jax")
jnp = jax.numpy

MB = 1e6
FORWARD = di.AutoJAX(mode="forward")


def sum_sin_sq(x: Any) -> Any:
    return jnp.sum(jnp.sin(x) ** 2)  # gradient sin(2x), Hessian diag(2 cos(2x))


def temp_bytes(prep: Any, x: Any) -> int:
    """Bytes of temporaries XLA allocates for the prepared program (outputs excluded)."""
    analysis = prep.plan.plain.lower(x).compile().memory_analysis()
    assert analysis is not None, "XLA gave no memory analysis on this platform"
    return int(analysis.temp_size_in_bytes)


def test_jax_forward_gradient_at_n_20000() -> None:
    n = 20_000  # the basis alone would be n * n * 8 bytes = 3.2 GB
    with jax.enable_x64(True):
        x = jnp.linspace(0.1, 2.0, n)
        prep = di.prepare_gradient(sum_sin_sq, FORWARD, x)
        assert temp_bytes(prep, x) < 300 * MB
        g = di.gradient(sum_sin_sq, FORWARD, x, prep=prep)
        np.testing.assert_allclose(np.asarray(g), np.sin(2 * np.asarray(x)), atol=1e-12)


def test_jax_forward_jacobian_at_n_20000() -> None:
    n = 20_000

    def f(x: Any) -> Any:  # Jacobian rows: cos(x[:3]) on the diagonal part, plus sin(x[:3])
        return jnp.sin(x[:3]) * jnp.sum(x)

    with jax.enable_x64(True):
        x = jnp.linspace(0.1, 2.0, n)
        prep = di.prepare_jacobian(f, FORWARD, x)
        assert temp_bytes(prep, x) < 300 * MB
        J = np.asarray(di.jacobian(f, FORWARD, x, prep=prep))
        xn = np.asarray(x)
        expected = np.outer(np.sin(xn[:3]), np.ones(n))
        expected[np.arange(3), np.arange(3)] += np.cos(xn[:3]) * xn.sum()
        np.testing.assert_allclose(J, expected, rtol=1e-12)


def test_jax_reverse_jacobian_of_a_long_output() -> None:
    m = 21_000  # the basis of f(x) would be m * m * 8 bytes = 3.5 GB

    def f(x: Any) -> Any:
        return jnp.reshape(jnp.outer(jnp.sin(x), jnp.arange(1.0, m // 3 + 1.0)), (-1,))

    with jax.enable_x64(True):
        x = jnp.asarray([0.3, 1.1, -0.7])
        prep = di.prepare_jacobian(f, di.AutoJAX(), x)
        assert temp_bytes(prep, x) < 300 * MB
        J = np.asarray(di.jacobian(f, di.AutoJAX(), x, prep=prep))
        scale = np.arange(1.0, m // 3 + 1.0)
        expected = np.zeros((m, 3))
        for i in range(3):
            expected[i * (m // 3) : (i + 1) * (m // 3), i] = np.cos(np.asarray(x)[i]) * scale
        np.testing.assert_allclose(J, expected, rtol=1e-12)


# --- the chunked programs compute the right values ---------------------------------------


@pytest.fixture
def tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stacking budget of 40 elements: 7 inputs go in chunks of 5 seeds."""
    monkeypatch.setattr(_seeds, "MAX_STACK_ELEMENTS", 40)


def chunked(prep: Any, x: Any) -> bool:
    """Whether the prepared program loops over chunks (XLA ``while``), not one ``vmap``."""
    return "while" in prep.plan.plain.lower(x).as_text()


@pytest.mark.usefixtures("tiny_chunks")
def test_chunked_jax_values_against_closed_forms() -> None:
    with jax.enable_x64(True):
        x = jnp.linspace(0.1, 2.0, 7)
        xn = np.asarray(x)
        prep = di.prepare_gradient(sum_sin_sq, FORWARD, x)
        assert chunked(prep, x)
        np.testing.assert_allclose(di.gradient(sum_sin_sq, FORWARD, x, prep=prep), np.sin(2 * xn))

        def f(v: Any) -> Any:
            return jnp.sin(v) * v[0]

        expected = np.diag(np.cos(xn) * xn[0])
        expected[:, 0] += np.sin(xn)
        for backend in (FORWARD, di.AutoJAX()):
            prep = di.prepare_jacobian(f, backend, x)
            assert chunked(prep, x)
            np.testing.assert_allclose(di.jacobian(f, backend, x, prep=prep), expected)

        def fc(v: Any) -> Any:  # complex output of a real input: two seeds per row
            return jnp.exp(1j * v) * v[0]

        expected_c = np.diag(1j * np.exp(1j * xn) * xn[0])
        expected_c[:, 0] += np.exp(1j * xn)
        for backend in (FORWARD, di.AutoJAX()):
            np.testing.assert_allclose(di.jacobian(fc, backend, x), expected_c, atol=1e-15)

        hessian = np.diag(2 * np.cos(2 * xn))
        prep = di.prepare_hessian(sum_sin_sq, FORWARD, x)
        assert chunked(prep, x)
        np.testing.assert_allclose(di.hessian(sum_sin_sq, FORWARD, x, prep=prep), hessian)


@pytest.mark.usefixtures("tiny_chunks")
def test_chunked_complex_forward_gradient() -> None:
    with jax.enable_x64(True):
        z = jnp.linspace(0.1, 2.0, 7) + 1j * jnp.cos(jnp.arange(7.0))

        def norm_sq(v: Any) -> Any:
            return jnp.sum(jnp.abs(v) ** 2)

        prep = di.prepare_gradient(norm_sq, FORWARD, z)
        assert chunked(prep, z)  # 14 seeds: e_k, then 1j e_k
        g = di.gradient(norm_sq, FORWARD, z, prep=prep)
        np.testing.assert_allclose(g, 2 * np.asarray(z), rtol=1e-14)  # df/dRe + 1j df/dIm


# --- finite differences -------------------------------------------------------------------


@pytest.mark.parametrize("batchable", [True, False], ids=["stacked", "one-point"])
def test_finite_difference_gradient_memory(batchable: bool) -> None:
    n = 8000  # n * n * 8 bytes = 512 MB

    def f(x: np.ndarray) -> Any:
        return np.sum(np.sin(x) ** 2, axis=-1) if batchable else np.sum(np.sin(x) ** 2)

    x = np.linspace(0.1, 2.0, n)
    tracemalloc.start()
    try:
        g = di.gradient(f, di.AutoFiniteDiff(), x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200 * MB  # a handful of 32 MB chunks of stacked points
    np.testing.assert_allclose(g, np.sin(2 * x), atol=1e-6)


# --- on a device with free memory, the whole basis in one batch --------------------------------


@pytest.mark.usefixtures("tiny_chunks")
def test_a_device_budget_takes_the_whole_basis_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 18: on a GPU a dense Jacobian or Hessian pushes its whole basis in one batched
    call where it fits (as ``jax.jacrev`` does), not in host-sized chunks. The free memory of
    ``x``'s device is faked (64 KiB: a budget of 1024 float64 elements against the host's 40),
    and every engine's plan must follow it: one chunk, the right values."""
    torch = pytest.importorskip("torch")
    from differentiation_interface.backends._registry import engine_for
    from differentiation_interface.backends.torch import first as torch_first
    from differentiation_interface.operators._first_order import _BasisSweep

    def f(v: Any) -> Any:
        return v * v[0]

    xn = np.linspace(0.1, 2.0, 7)
    expected = np.diag(np.full(7, xn[0]))
    expected[:, 0] += xn
    hessian = np.diag(2 * np.cos(2 * xn))

    def plans() -> dict[str, Any]:
        xj = jnp.asarray(xn)
        return {
            "jax jacobian": (di.prepare_jacobian(f, FORWARD, xj), xj),
            "jax hessian": (di.prepare_hessian(sum_sin_sq, FORWARD, xj), xj),
            "torch": torch_first.Basis((7,), torch.float64, torch.asarray(xn)),
            # the generic fallbacks' sweep (engines without a Jacobian of their own)
            "sweep": _BasisSweep(engine_for(di.AutoFiniteDiff()), xn, complex_=False),
        }

    def sum_sin_sq_any(v: Any) -> Any:
        xp = array_namespace(v)
        return xp.sum(xp.sin(v) ** 2)

    with jax.enable_x64(True):  # the JAX programs are float64 ones
        host = plans()
        assert chunked(*host["jax jacobian"])
        assert chunked(*host["jax hessian"])
        monkeypatch.setattr(_seeds, "_free_device_bytes", lambda like: 2**16)
        device = plans()
        assert not chunked(*device["jax jacobian"])
        assert not chunked(*device["jax hessian"])
        prep, xj = device["jax jacobian"]
        np.testing.assert_allclose(di.jacobian(f, FORWARD, xj, prep=prep), expected)
        prep, xj = device["jax hessian"]
        np.testing.assert_allclose(di.hessian(sum_sin_sq, FORWARD, xj, prep=prep), hessian)
    assert host["torch"].nchunks > 1
    assert host["sweep"].nchunks > 1
    assert device["torch"].nchunks == 1
    assert device["sweep"].nchunks == 1
    for backend in (di.AutoTorch(), di.AutoTorch(mode="forward"), di.AutoFiniteDiff()):
        np.testing.assert_allclose(di.jacobian(f, backend, xn), expected, rtol=1e-6)
        h = di.hessian(sum_sin_sq_any, backend, xn)
        np.testing.assert_allclose(h, hessian, rtol=1e-4, atol=1e-6)

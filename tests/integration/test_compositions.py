"""Second order across engines: every composition either works or refuses clearly.

An outer engine hands the inner one its own arrays (tensors on the tape, JAX tracers,
autograd boxes). Finite differences and an engine over itself run natively inside any
engine; an engine that would have to convert another engine's traced arrays (and so drop
their derivatives) refuses with UnsupportedOperationError instead of returning zeros.
"""

from __future__ import annotations

import numpy as np
import pytest

import differentiation_interface as di
from differentiation_interface.operators._table import SECOND_ORDER
from differentiation_interface.testing import default_scenarios, test_differentiation

FD = di.AutoFiniteDiff()
JAX, JAX_F = di.AutoJAX(), di.AutoJAX(mode="forward")
TORCH, TORCH_F = di.AutoTorch(), di.AutoTorch(mode="forward")
AG = di.AutoAutograd()
SECOND = [s for s in default_scenarios() if s.operator in SECOND_ORDER]

WORKING = [
    (FD, JAX), (JAX_F, JAX), (JAX, JAX), (JAX_F, FD),
    (FD, TORCH), (TORCH, FD), (TORCH_F, TORCH), (TORCH, TORCH_F),
    (FD, AG), (AG, AG), (AG, FD),
    # two different AD engines: outer's second order of f bridged to inner (compose/)
    (TORCH, JAX), (JAX, TORCH), (JAX_F, AG), (TORCH, AG), (AG, TORCH), (AG, JAX),
]  # fmt: skip


@pytest.mark.parametrize(("outer", "inner"), WORKING, ids=repr)
def test_compositions_that_work(outer: di.AbstractBackend, inner: di.AbstractBackend) -> None:
    backend = di.SecondOrder(outer, inner)
    assert test_differentiation(backend, SECOND, out=False) == len(SECOND)


def test_same_engine_pairs_use_the_native_second_order() -> None:
    prep = di.prepare_hvp(
        lambda x: (x**3).sum(), di.SecondOrder(JAX_F, JAX), np.ones(3), (np.ones(3),)
    )
    assert type(prep.plan).__module__.startswith("differentiation_interface.backends.jax.")


def test_engines_accept_each_others_plain_arrays() -> None:
    import jax.numpy as jnp
    import torch

    x = np.linspace(0.5, 1.5, 4)
    for array in (torch.asarray(x), jnp.asarray(x, dtype=jnp.float32)):
        for backend in (JAX, TORCH, AG):
            g = di.gradient(lambda v: (v**2).sum(), backend, array)
            assert type(g) is type(array) or isinstance(g, type(array))
            np.testing.assert_allclose(np.asarray(g), 2 * np.asarray(array), rtol=1e-6)
